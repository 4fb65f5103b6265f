package dev.runnel.load.driver;

import java.util.List;
import java.util.concurrent.CompletionStage;

/** One system under test (Runnel over HTTP or AMQP, Kafka), reached through its public protocol only. */
public interface Driver extends AutoCloseable {

  /**
   * The Vert.x of a driver on Vert.x: one event loop per core, not Vert.x's two. The tool shares the cores with what it
   * measures, and fewer loops wake fewer threads: single-record produce measured 1.1-1.3x higher (docs/benchmarks.md,
   * session 18).
   */
  static io.vertx.core.Vertx newVertx() {
    return io.vertx.core.Vertx.vertx(new io.vertx.core.VertxOptions()
        .setEventLoopPoolSize(Runtime.getRuntime().availableProcessors()));
  }

  /** Uses the topic as it is when it exists, else creates it with {@code partitions}; answers its partition count. */
  CompletionStage<Integer> prepareTopic(String topic, int partitions);

  /** A new producer of the topic; the harness uses each producer from one thread at a time. */
  ProducerClient producer(String topic);

  /** A new member of {@code group} on the topic; once started it hands every record it receives to the sink and
   *  acknowledges it after the sink returned. */
  ConsumerClient consumer(String topic, String group, GroupMode mode, RecordSink sink);

  /**
   * Whether the system stores the key each record is sent with. False when it stores them unkeyed (webhook
   * deliveries: the node partitions them by their delivery id); the harness then sends no key and the verifier
   * checks no per-key order for them (loss and duplicates are still checked, by identity).
   */
  default boolean keepsKeys() {
    return true;
  }

  /**
   * Whether the acknowledgements name where each record was stored. False for AMQP, whose {@code accepted} names no
   * position: the producers answer {@link Ack#UNPLACED} and the verifier places each record where the groups
   * received it (loss is then an acknowledged identity a group never received).
   */
  default boolean acksNamePositions() {
    return true;
  }

  /** The {@code type} field every JSON value carries first, or null for none (a webhook payload names its event). */
  default String eventType() {
    return null;
  }

  /** What the driver saw that the run's report should say (e.g. deliveries it had to retry); called after the run. */
  default List<String> notes() {
    return List.of();
  }

  @Override
  void close();
}
