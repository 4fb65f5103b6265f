package dev.runnel.transport.amqp;

import dev.runnel.broker.BrokerOptions;
import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.transport.http.HttpTransport;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.Vertx;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;

/**
 * A broker with its AMQP transport and its HTTP transport (both on 127.0.0.1, free ports) over the shared test
 * Postgres. With a manual clock the broker's timers run only when a test ticks; with none, on real time.
 */
final class AmqpNode implements AutoCloseable {

  private static final AtomicInteger NAMES = new AtomicInteger();

  final Vertx vertx = Vertx.vertx();
  final LogStore store;
  final LocalBroker broker;
  final AmqpTransport amqp;
  final HttpTransport http;
  final ManualClock clock;

  AmqpNode(TestPostgres pg, ManualClock clock, UnaryOperator<AmqpTransportOptions> options) {
    this.clock = clock;
    BrokerOptions brokerOptions = new BrokerOptions().setRandomSeed(7L);
    if (clock != null) {
      brokerOptions.setClock(clock).setTickMs(0);
    }
    store = LogStore.open(vertx, clock != null ? pg.options().setClock(clock) : pg.options()).await();
    broker = new LocalBroker(vertx, store, brokerOptions);
    AmqpTransportOptions amqpOptions = new AmqpTransportOptions().setHost("127.0.0.1").setPort(0).setInstances(2)
        .setShutdownGraceMs(2_000);
    if (clock != null) {
      amqpOptions.setClock(clock);
    }
    amqp = AmqpTransport.create(vertx, options.apply(amqpOptions));
    amqp.start(broker).await();
    http = HttpTransport.create(vertx, new HttpTransportOptions().setHost("127.0.0.1").setPort(0).setInstances(1)
        .setShutdownGraceMs(500));
    http.start(broker).await();
  }

  AmqpNode(TestPostgres pg) {
    this(pg, null, o -> o);
  }

  String amqpUri() {
    return "amqp://127.0.0.1:" + amqp.actualPort();
  }

  String httpBase() {
    return "http://127.0.0.1:" + http.actualPort();
  }

  /** A new topic with a unique name. */
  String topic(int partitions) {
    return topic(partitions, TopicConfig.DEFAULT);
  }

  String topic(int partitions, TopicConfig config) {
    String name = "t" + NAMES.incrementAndGet() + "-" + ProcessHandle.current().pid();
    broker.createTopic(name, partitions, config).await();
    return name;
  }

  static String unique(String prefix) {
    return prefix + NAMES.incrementAndGet();
  }

  @Override
  public void close() {
    amqp.stop().await();
    http.stop().await();
    broker.close();
    store.close().await();
    vertx.close().await();
  }
}
