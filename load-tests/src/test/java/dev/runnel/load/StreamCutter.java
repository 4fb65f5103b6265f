package dev.runnel.load;

import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP relay in front of a node that tells the connections of SSE streams ({@code GET .../events}, the first request
 * on a connection) from the others, records their request heads, and cuts them when the test says so, leaving the
 * others (joins, acks, produce requests) alone. It also counts the fetch requests it relays.
 */
final class StreamCutter implements AutoCloseable {

  private record Pair(NetSocket client, NetSocket node) {
  }

  private final Vertx vertx = Vertx.vertx();
  private final NetServer server;
  /** The request head of each SSE stream opened through the relay, in order. */
  final List<String> streamRequests = new CopyOnWriteArrayList<>();
  final AtomicInteger fetches = new AtomicInteger();
  private final List<Pair> streams = new CopyOnWriteArrayList<>();

  StreamCutter(String nodeUrl) throws Exception {
    java.net.URI node = java.net.URI.create(nodeUrl);
    NetClient client = vertx.createNetClient();
    server = vertx.createNetServer().connectHandler(in -> {
      in.pause();
      client.connect(node.getPort(), node.getHost()).onComplete(ar -> {
        if (ar.failed()) {
          in.close();
          return;
        }
        NetSocket out = ar.result();
        StringBuilder head = new StringBuilder();
        boolean[] classified = {false};
        in.handler(b -> {
          String text = b.toString(StandardCharsets.ISO_8859_1);
          if (text.contains("/fetch HTTP/1.1")) {
            fetches.incrementAndGet();
          }
          if (!classified[0]) {
            head.append(text);
            int end = head.indexOf("\r\n\r\n");
            if (end >= 0 || head.length() > 16_384) {
              classified[0] = true;
              String h = end >= 0 ? head.substring(0, end) : head.toString();
              String requestLine = h.lines().findFirst().orElse("");
              if (requestLine.startsWith("GET ") && requestLine.contains("/events")) {
                streamRequests.add(h);
                streams.add(new Pair(in, out));
              }
            }
          }
          out.write(b);
        });
        out.handler(in::write);
        in.closeHandler(v -> out.close());
        out.closeHandler(v -> in.close());
        in.resume();
      });
    }).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
  }

  String url() {
    return "http://127.0.0.1:" + server.actualPort();
  }

  /** Closes every SSE stream's connection open now; answers how many. */
  int cutStreams() {
    int n = 0;
    for (Pair p : streams) {
      streams.remove(p);
      p.client().close();
      p.node().close();
      n++;
    }
    return n;
  }

  /** The value of {@code header} in a request head, or null. */
  static String header(String head, String header) {
    for (String line : head.split("\r\n")) {
      int colon = line.indexOf(':');
      if (colon > 0 && line.substring(0, colon).trim().toLowerCase(Locale.ROOT).equals(header.toLowerCase(Locale.ROOT))) {
        return line.substring(colon + 1).trim();
      }
    }
    return null;
  }

  @Override
  public void close() throws Exception {
    vertx.close().await(10, TimeUnit.SECONDS);
  }
}
