package dev.runnel.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Promise;
import io.vertx.core.VertxOptions;
import java.io.IOException;
import java.net.ServerSocket;
import java.util.ArrayList;
import io.vertx.core.net.SelfSignedCertificate;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Three real Hazelcast members in this JVM, on loopback ports of their own. */
class ClusterNodeTest {
  private final List<ClusterNode> started = new ArrayList<>();

  @AfterEach
  void stopAll() throws Exception {
    for (ClusterNode node : started) {
      node.close().await(30, TimeUnit.SECONDS);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);  // generous: a loaded 2-core box
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("waited for %s", what).isLessThan(deadline);
      Thread.sleep(50);
    }
  }

  @Test
  void membersSeeEachOtherByNodeNameAndALeaverGoesFromEveryView() throws Exception {
    List<Integer> ports = List.of(freePort(), freePort(), freePort());
    List<String> members = ports.stream().map(p -> "127.0.0.1:" + p).toList();
    List<List<String>> viewsSeenByA = new CopyOnWriteArrayList<>();
    List<Boolean> onEventLoop = new CopyOnWriteArrayList<>();
    for (int i = 0; i < 3; i++) {
      ClusterOptions options = new ClusterOptions().setNodeName("node-" + (char) ('a' + i)).setHost("127.0.0.1")
          .setPort(ports.get(i)).setMembers(members).setCard(Map.of("http", "127.0.0.1:" + (8080 + i)));
      ClusterNode node = ClusterNode.start(options, new VertxOptions()).await(60, TimeUnit.SECONDS);
      started.add(node);
      if (i == 0) {
        node.onViewChange(v -> {
          onEventLoop.add(io.vertx.core.Context.isOnEventLoopThread());
          viewsSeenByA.add(v.nodes());
        });
      }
      assertThat(node.view().contains(node.nodeName())).as("a started node sees itself").isTrue();
    }
    for (ClusterNode node : started) {
      await(node.nodeName() + " to see three", () -> node.view().size() == 3);
      assertThat(node.view().nodes()).containsExactly("node-a", "node-b", "node-c");  // oldest first
      assertThat(node.view().members()).extracting(m -> m.card().get("http"))
          .as("every member's card, as it joined with it").containsExactly("127.0.0.1:8080", "127.0.0.1:8081",
              "127.0.0.1:8082");
    }

    // The event bus is clustered: a message sent on node-c reaches a consumer on node-a.
    Promise<String> received = Promise.promise();
    started.get(0).vertx().eventBus().<String>consumer("test.hello", m -> received.tryComplete(m.body()))
        .completion().await(30, TimeUnit.SECONDS);
    await("node-c to know node-a's consumer", () -> {
      started.get(2).vertx().eventBus().send("test.hello", "from c");
      return received.future().isComplete();
    });
    assertThat(received.future().result()).isEqualTo("from c");

    ClusterNode leaving = started.remove(1);
    leaving.close().await(30, TimeUnit.SECONDS);
    for (ClusterNode node : started) {
      await(node.nodeName() + " to see node-b go", () -> node.view().size() == 2);
      assertThat(node.view().nodes()).containsExactly("node-a", "node-c");
    }
    assertThat(viewsSeenByA).last().isEqualTo(List.of("node-a", "node-c"));
    assertThat(viewsSeenByA).contains(List.of("node-a", "node-b", "node-c"));
    assertThat(onEventLoop).as("listeners run on the node's context, not Hazelcast's threads").containsOnly(true);
  }

  @Test
  void theEventBusSpeaksMutualTlsOnlyWithPeersItTrusts() throws Exception {
    SelfSignedCertificate shared = SelfSignedCertificate.create("127.0.0.1");
    SelfSignedCertificate stranger = SelfSignedCertificate.create("127.0.0.1");
    try {
      List<Integer> ports = List.of(freePort(), freePort(), freePort());
      List<String> members = ports.stream().map(p -> "127.0.0.1:" + p).toList();
      for (int i = 0; i < 3; i++) {
        SelfSignedCertificate own = i < 2 ? shared : stranger;  // node-c trusts only itself, and is trusted by nobody
        ClusterOptions options = new ClusterOptions().setNodeName("tls-" + (char) ('a' + i)).setHost("127.0.0.1")
            .setPort(ports.get(i)).setMembers(members)
            .setTls(own.certificatePath(), own.privateKeyPath(), null);
        started.add(ClusterNode.start(options, new VertxOptions()).await(60, TimeUnit.SECONDS));
      }
      for (ClusterNode node : started) {
        await(node.nodeName() + " to see three", () -> node.view().size() == 3);  // Hazelcast's membership: no TLS
      }
      List<String> received = new CopyOnWriteArrayList<>();
      started.get(0).vertx().eventBus().<String>consumer("test.tls", m -> received.add(m.body()))
          .completion().await(30, TimeUnit.SECONDS);
      await("a message from the trusted node-b", () -> {
        started.get(1).vertx().eventBus().send("test.tls", "from b");
        return received.contains("from b");
      });
      for (int i = 0; i < 10; i++) {
        started.get(2).vertx().eventBus().send("test.tls", "from c");
        Thread.sleep(100);
      }
      await("node-b's message sent after node-c's", () -> {
        started.get(1).vertx().eventBus().send("test.tls", "after");
        return received.contains("after");
      });
      Thread.sleep(500);
      assertThat(received).as("nothing from the node whose certificate is not trusted").doesNotContain("from c");
    } finally {
      shared.delete();
      stranger.delete();
    }
  }
}
