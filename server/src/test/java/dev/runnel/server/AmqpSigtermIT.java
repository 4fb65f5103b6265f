package dev.runnel.server;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import com.fasterxml.jackson.databind.JsonNode;
import jakarta.jms.Connection;
import jakarta.jms.DeliveryMode;
import jakarta.jms.JMSException;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.MessageProducer;
import jakarta.jms.Queue;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import org.apache.qpid.jms.JmsConnection;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.apache.qpid.jms.JmsConnectionListener;
import org.apache.qpid.jms.message.JmsInboundMessageDispatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * SIGTERM under AMQP produce and consume load, with Qpid JMS clients on {@code failover:} URLs (DESIGN.md section 7,
 * "On SIGTERM"): producers (half on a link to {@code topics/<t>}, half through the anonymous relay) send persistent
 * messages, each send returning once the node settled it; consumers in CLIENT_ACKNOWLEDGE take them from
 * {@code topics/<t>/groups/<g>}; the node is stopped by SIGTERM mid-run and started again on the same ports, every
 * connection fails over to it and the load goes on; then everything is drained. Checked: every identity (producer and
 * sequence, the value) a producer saw accepted is in the topic, read over HTTP, and was consumed by the group, whose
 * lag ends at zero; every connection open at the SIGTERM received a close frame with {@code amqp:connection:forced}
 * (seen in the client's frame trace) and was restored by failover.
 *
 * <p>Settled before its commit: a clean stop lets every queued write commit, so a transport that settled
 * {@code accepted} on receipt would lose nothing here. So one message in {@value #OVERSIZED_EVERY} is over the topic's
 * {@code maxRecordBytes}, which only the broker refuses, at the commit: it must come back rejected
 * ({@code amqp:link:message-size-exceeded}) and never be stored; settled on receipt it would be accepted and missing.
 * The node's log of both runs is kept in server/target/amqp-sigterm-node.log.
 */
class AmqpSigtermIT {

  private static final int PRODUCERS = 4;
  private static final int CONSUMERS = 3;
  private static final int PARTITIONS = 4;
  private static final String TOPIC = "amqp-shutdown";
  private static final String GROUP = "drainers";
  private static final int MAX_RECORD_BYTES = 4096;
  /** Every so many messages one is too large for the topic: the broker refuses it, so it must come back rejected. */
  private static final int OVERSIZED_EVERY = 25;
  private static final String FORCED = "amqp:connection:forced";
  /** Each consumer's credit: what its link may have outstanding, and so what a SIGTERM may bring again. */
  private static final int PREFETCH = 10;

  @TempDir
  Path tmp;

  @Test
  @Timeout(value = 100, unit = TimeUnit.SECONDS)
  void sigtermUnderAmqpLoadLosesNothingAcceptedAndFailoverCarriesOn() throws Exception {
    long began = System.nanoTime();
    FrameLog frames = FrameLog.attach();
    List<Connection> connections = new ArrayList<>();
    List<Thread> threads = new ArrayList<>();
    AtomicBoolean stopProducers = new AtomicBoolean();
    AtomicBoolean stopConsumers = new AtomicBoolean();
    long hardDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(85);
    NodeProcess ran = null;
    try (NodeProcess node = new NodeProcess(tmp.resolve("data")).keepPorts()) {
      ran = node;
      node.start();
      assertThat(node.send("PUT", "/topics/" + TOPIC, "{\"partitions\":" + PARTITIONS + ",\"config\":{\"maxRecordBytes\":"
          + MAX_RECORD_BYTES + "}}").statusCode()).isEqualTo(201);
      int httpPort = node.port();
      int amqpPort = node.amqpPort();
      // Reconnect every 100 ms for up to 60 s; every request bounded; frames traced (FrameLog) without payloads.
      JmsConnectionFactory factory = new JmsConnectionFactory("failover:(amqp://127.0.0.1:" + amqpPort
          + "?amqp.idleTimeout=20000&amqp.traceFrames=true&amqp.traceFramesPayloadLimit=0)"
          + "?failover.maxReconnectAttempts=600&failover.initialReconnectDelay=0&failover.reconnectDelay=100"
          + "&failover.useReconnectBackOff=false&failover.warnAfterReconnectAttempts=0"
          + "&jms.prefetchPolicy.all=" + PREFETCH + "&jms.sendTimeout=60000&jms.requestTimeout=60000"
          + "&jms.closeTimeout=5000&jms.connectTimeout=5000");
      AtomicInteger interrupted = new AtomicInteger();
      AtomicInteger restored = new AtomicInteger();
      JmsConnectionListener failover = new FailoverCounter(interrupted, restored);

      Set<String> attempted = ConcurrentHashMap.newKeySet();
      Set<String> acknowledged = ConcurrentHashMap.newKeySet();
      Set<String> oversizedAccepted = ConcurrentHashMap.newKeySet();
      Set<String> oversizedRefused = ConcurrentHashMap.newKeySet();
      Map<String, AtomicInteger> sendFailures = new ConcurrentHashMap<>();  // of messages within the limit, by kind
      AtomicInteger acceptedAtSigterm = new AtomicInteger(-1);
      for (int p = 0; p < PRODUCERS; p++) {
        int id = p;
        boolean relay = p % 2 == 1;  // half through the anonymous relay (each message names its topic in 'to')
        Connection c = factory.createConnection();
        ((JmsConnection) c).addConnectionListener(failover);
        connections.add(c);
        c.start();
        Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue topic = session.createQueue("topics/" + TOPIC);
        MessageProducer producer = session.createProducer(relay ? null : topic);
        producer.setDeliveryMode(DeliveryMode.PERSISTENT);  // a synchronous send: it returns once settled
        threads.add(started("producer-" + p, () -> {
          for (int seq = 0; seq < 1_000_000 && !stopProducers.get() && System.nanoTime() < hardDeadline; seq++) {
            String identity = "p" + id + "-" + seq;
            boolean oversized = seq % OVERSIZED_EVERY == OVERSIZED_EVERY - 1;
            attempted.add(identity);
            try {
              TextMessage m = session.createTextMessage(oversized ? identity + "#" + "x".repeat(2 * MAX_RECORD_BYTES)
                  : identity);
              m.setStringProperty("JMSXGroupID", "p" + id + "-k" + seq % 16);  // the record's key
              if (relay) {
                producer.send(topic, m);
              } else {
                producer.send(m);
              }
              (oversized ? oversizedAccepted : acknowledged).add(identity);
            } catch (JMSException e) {
              if (oversized && String.valueOf(e.getMessage()).contains("amqp:link:message-size-exceeded")) {
                oversizedRefused.add(identity);
              } else {
                sendFailures.computeIfAbsent(e.getClass().getSimpleName() + ": " + e.getMessage(),
                    k -> new AtomicInteger()).incrementAndGet();
              }
            }
          }
        }));
      }

      Map<String, AtomicInteger> consumed = new ConcurrentHashMap<>();  // identity -> times received
      Map<String, AtomicInteger> consumeFailures = new ConcurrentHashMap<>();
      AtomicInteger redelivered = new AtomicInteger();
      for (int k = 0; k < CONSUMERS; k++) {
        Connection c = factory.createConnection();
        ((JmsConnection) c).addConnectionListener(failover);
        connections.add(c);
        c.start();
        Session session = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + TOPIC + "/groups/" + GROUP));
        threads.add(started("consumer-" + k, () -> {
          while (!stopConsumers.get() && System.nanoTime() < hardDeadline) {
            try {
              Message m = consumer.receive(200);
              if (m == null) {
                continue;
              }
              consumed.computeIfAbsent(((TextMessage) m).getText(), x -> new AtomicInteger()).incrementAndGet();
              if (m.getJMSRedelivered()) {
                redelivered.incrementAndGet();
              }
              m.acknowledge();
            } catch (JMSException e) {
              consumeFailures.computeIfAbsent(e.getClass().getSimpleName() + ": " + e.getMessage(),
                  x -> new AtomicInteger()).incrementAndGet();
            }
          }
        }));
      }

      int exit;
      long sigtermAt;
      long restartedAt;
      int acceptedAfterRestart;
      try {
        await("1,000 messages accepted and 300 consumed before the SIGTERM", 30,
            () -> acknowledged.size() >= 1_000 && consumed.size() >= 300);
        acceptedAtSigterm.set(acknowledged.size());
        sigtermAt = System.nanoTime();
        exit = node.terminate();
        long down = System.nanoTime();
        node.start();
        restartedAt = System.nanoTime();
        System.out.printf("AmqpSigtermIT: the node stopped %d ms after the SIGTERM and was ready again %d ms later%n",
            TimeUnit.NANOSECONDS.toMillis(down - sigtermAt), TimeUnit.NANOSECONDS.toMillis(restartedAt - down));
        assertThat(node.port()).isEqualTo(httpPort);
        assertThat(node.amqpPort()).isEqualTo(amqpPort);
        int before = acknowledged.size();
        await("every connection restored by failover, and 1,000 more messages accepted", 30,
            () -> restored.get() >= connections.size() && acknowledged.size() >= before + 1_000);
        acceptedAfterRestart = acknowledged.size() - before;
      } finally {
        stopProducers.set(true);
        for (Thread t : threads.subList(0, PRODUCERS)) {
          t.join(TimeUnit.SECONDS.toMillis(10));
        }
      }
      for (Thread t : threads.subList(0, PRODUCERS)) {
        assertThat(t.isAlive()).as("%s stopped", t.getName()).isFalse();
      }

      // Drain: the group takes everything stored.
      Map<String, Integer> stored = new HashMap<>();  // identity -> times stored
      List<String> gaps = new ArrayList<>();
      for (int p = 0; p < PARTITIONS; p++) {
        List<JsonNode> records = node.readAll(TOPIC, p);
        for (int i = 0; i < records.size(); i++) {
          if (records.get(i).get("offset").asLong() != i) {
            gaps.add("partition " + p + " offset " + records.get(i).get("offset") + " at index " + i);
          }
          stored.merge(value(records.get(i)), 1, Integer::sum);
        }
      }
      boolean drained;
      try {
        drained = within(30, () -> consumed.keySet().containsAll(stored.keySet()) && lag(node) == 0);
      } finally {
        stopConsumers.set(true);
        for (Thread t : threads.subList(PRODUCERS, threads.size())) {
          t.join(TimeUnit.SECONDS.toMillis(5));
        }
      }

      Set<String> lost = new TreeSet<>(acknowledged);
      lost.removeAll(stored.keySet());
      Set<String> notConsumed = new TreeSet<>(acknowledged);
      notConsumed.removeAll(consumed.keySet());
      Set<String> phantoms = new TreeSet<>(stored.keySet());
      phantoms.removeAll(attempted);
      long duplicates = stored.values().stream().filter(n -> n > 1).count();
      long consumedMoreThanOnce = consumed.values().stream().filter(n -> n.get() > 1).count();
      Set<String> openAtSigterm = frames.seenBefore(sigtermAt);
      Map<String, String> closedWith = new TreeMap<>();  // transport -> the close it received
      openAtSigterm.forEach(t -> closedWith.put(t, String.valueOf(frames.close(t))));
      long forced = closedWith.values().stream().filter(c -> c.contains(FORCED)).count();
      System.out.printf("AmqpSigtermIT: %d accepted (%d before the SIGTERM, %d after the restart), %d distinct stored "
              + "(%d more than once), %d oversized refused, %d consumed (%d more than once, %d marked redelivered), "
              + "send failures %s, consume failures %s, %d of the %d connections open at the SIGTERM received a close "
              + "with %s (%s), %d interrupted, %d restored; %d ms in all%n",
          acknowledged.size(), acceptedAtSigterm.get(), acceptedAfterRestart, stored.size(), duplicates,
          oversizedRefused.size(), consumed.size(), consumedMoreThanOnce, redelivered.get(), sendFailures,
          consumeFailures, forced, openAtSigterm.size(), FORCED, new TreeSet<>(closedWith.values().stream()
              .map(c -> c.replaceFirst("^\\[[^]]*] ", "")).toList()), interrupted.get(),
          restored.get(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began));

      assertThat(drained).as("within 30 s the group consumed everything stored and its lag is zero").isTrue();
      assertThat(exit).as("exit status after SIGTERM").isIn(0, 143);
      assertThat(node.log()).contains("Runnel node stopped");
      assertThat(gaps).as("gapless offsets").isEmpty();
      assertThat(lost).as("accepted messages missing from the topic, e.g. %s", GroupCrashIT.first(lost)).isEmpty();
      assertThat(oversizedAccepted).as("messages over maxRecordBytes settled accepted (settled before the broker "
          + "took them?)").isEmpty();
      assertThat(stored.keySet()).as("oversized messages stored").noneMatch(v -> v.contains("#"));
      assertThat(oversizedRefused).as("oversized messages refused with amqp:link:message-size-exceeded").isNotEmpty();
      assertThat(phantoms).as("stored values no producer sent").isEmpty();
      assertThat(notConsumed).as("accepted messages the group never got, e.g. %s", GroupCrashIT.first(notConsumed))
          .isEmpty();
      assertThat(lag(node)).as("the group's lag after the drain").isZero();
      assertThat(openAtSigterm).as("TCP connections open at the SIGTERM").hasSize(connections.size());
      assertThat(closedWith).as("the close frame each connection open at the SIGTERM received").allSatisfy(
          (transport, close) -> assertThat(close).contains(FORCED));
      // Once each: a connection that failed for another reason (e.g. a protocol error) would fail over again.
      assertThat(restored.get()).as("connections restored by failover").isEqualTo(connections.size());
      // Only what was outstanding at the SIGTERM (released to come again), or stored twice, is consumed twice.
      assertThat(consumedMoreThanOnce).as("messages consumed more than once")
          .isLessThanOrEqualTo(CONSUMERS * PREFETCH + duplicates);
      assertThat(acceptedAfterRestart).as("messages accepted after the restart").isPositive();
      assertThat(sendFailures).as("sends within the limit that failed (failover should carry them over)").isEmpty();
    } finally {
      stopProducers.set(true);
      stopConsumers.set(true);
      for (Connection c : connections) {
        try {
          c.close();
        } catch (JMSException ignored) {
          // the node may be gone already
        }
      }
      frames.detach();
      if (ran != null) {
        keepLog(ran);
      }
    }
  }

  /** The node's log (both runs), kept in server/target for a look after the run. */
  private static void keepLog(NodeProcess node) {
    try {
      Files.writeString(Path.of("target", "amqp-sigterm-node.log"), node.log());
    } catch (Exception e) {
      System.out.println("AmqpSigtermIT: could not keep the node's log: " + e);
    }
  }

  /** A record's value as text: an AMQP text message's body reads back as utf8 (older nodes: base64). */
  private static String value(JsonNode record) {
    String value = record.get("value").asText();
    return switch (record.path("valueEncoding").asText()) {
      case "base64" -> new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8);
      case "json" -> record.get("value").toString();
      default -> value;
    };
  }

  /** The group's lag in records, summed over the topic's partitions. */
  private static long lag(NodeProcess node) throws Exception {
    var r = node.get("/groups/" + GROUP);
    if (r.statusCode() != 200) {
      return Long.MAX_VALUE;
    }
    long lag = 0;
    for (JsonNode p : NodeProcess.JSON.readTree(r.body()).get("partitions")) {
      lag += p.get("lag").get("records").asLong();
    }
    return lag;
  }

  private interface Condition {
    boolean holds() throws Exception;
  }

  private static void await(String what, int seconds, Condition condition) throws Exception {
    if (!within(seconds, condition)) {
      throw new AssertionError("not within " + seconds + " s: " + what);
    }
  }

  private static boolean within(int seconds, Condition condition) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.holds()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(100);
    }
    return true;
  }

  private static Thread started(String name, Runnable body) {
    Thread t = new Thread(body, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** Counts the failover events of every connection. */
  private record FailoverCounter(AtomicInteger interrupted, AtomicInteger restored) implements JmsConnectionListener {
    @Override
    public void onConnectionEstablished(URI remoteURI) {
    }

    @Override
    public void onConnectionFailure(Throwable error) {
    }

    @Override
    public void onConnectionInterrupted(URI remoteURI) {
      interrupted.incrementAndGet();
    }

    @Override
    public void onConnectionRestored(URI remoteURI) {
      restored.incrementAndGet();
    }

    @Override
    public void onInboundMessage(JmsInboundMessageDispatch envelope) {
    }

    @Override
    public void onSessionClosed(jakarta.jms.Session session, Throwable cause) {
    }

    @Override
    public void onConsumerClosed(jakarta.jms.MessageConsumer consumer, Throwable cause) {
    }

    @Override
    public void onProducerClosed(jakarta.jms.MessageProducer producer, Throwable cause) {
    }
  }

  /**
   * What the clients received, frame by frame: Qpid JMS traces the frames of a connection ({@code amqp.traceFrames})
   * at trace level on the logger {@code org.apache.qpid.jms.provider.amqp.FRAMES}, as {@code [<transport>:<channel>]
   * RECV: <frame>}, one transport per TCP connection. Kept: when each transport was first seen, and the close frames
   * it received ({@code Close{error=Error{condition=amqp:connection:forced, ...}}}). The logger's lines go nowhere
   * else.
   */
  private static final class FrameLog extends AppenderBase<ILoggingEvent> {
    private static final String LOGGER = "org.apache.qpid.jms.provider.amqp.FRAMES";
    private final Map<String, Long> firstSeen = new ConcurrentHashMap<>();
    private final Map<String, String> closes = new ConcurrentHashMap<>();
    private Logger logger;
    private Level level;
    private boolean additive;
    private Logger failover;
    private Level failoverLevel;

    static FrameLog attach() {
      FrameLog log = new FrameLog();
      log.logger = (Logger) LoggerFactory.getLogger(LOGGER);
      log.level = log.logger.getLevel();
      log.additive = log.logger.isAdditive();
      log.setContext(log.logger.getLoggerContext());
      log.start();
      log.logger.addAppender(log);
      log.logger.setAdditive(false);
      log.logger.setLevel(Level.TRACE);
      // Failover logs each reconnection attempt at info: every 100 ms per connection while the node is down.
      log.failover = (Logger) LoggerFactory.getLogger("org.apache.qpid.jms.provider.failover.FailoverProvider");
      log.failoverLevel = log.failover.getLevel();
      log.failover.setLevel(Level.WARN);
      return log;
    }

    @Override
    protected void append(ILoggingEvent event) {
      String message = event.getFormattedMessage();
      int colon = message.indexOf(':');
      if (!message.startsWith("[") || colon < 0) {
        return;
      }
      String transport = message.substring(1, colon);
      firstSeen.putIfAbsent(transport, System.nanoTime());
      if (message.contains("RECV: Close{")) {
        closes.merge(transport, message, (a, b) -> a + " / " + b);
      }
    }

    /** The transports (TCP connections) that carried frames before {@code nanoTime}. */
    Set<String> seenBefore(long nanoTime) {
      Set<String> out = new TreeSet<>();
      firstSeen.forEach((t, at) -> {
        if (at < nanoTime) {
          out.add(t);
        }
      });
      return out;
    }

    /** The close frame a transport received, or null. */
    String close(String transport) {
      return closes.get(transport);
    }

    void detach() {
      logger.detachAppender(this);
      logger.setLevel(level);
      logger.setAdditive(additive);
      failover.setLevel(failoverLevel);
      stop();
    }
  }

}
