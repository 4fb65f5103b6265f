package dev.runnel.broker.impl;

import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;

import java.util.function.Consumer;

/**
 * Topic notices in a cluster: a node that changed a topic's config, grew it or deleted it publishes the topic's name
 * on {@code runnel.topics} once the change is stored, and every other node reads the topic again from Postgres (the
 * notice carries no metadata: Postgres stays the only authority, and a late notice reads the latest). Any context may
 * publish; the handler runs on the context that subscribed.
 */
final class TopicNotices {

  static final String ADDRESS = "runnel.topics";

  private final Vertx vertx;
  private final String self;

  TopicNotices(Vertx vertx, String self) {
    this.vertx = vertx;
    this.self = self;
  }

  void publish(String topic) {
    vertx.eventBus().publish(ADDRESS, topic, new DeliveryOptions().addHeader(Forwarder.FROM, self));
  }

  /** Calls {@code onChange} with the name of each topic another node changed. */
  void subscribe(Consumer<String> onChange) {
    vertx.eventBus().<String>consumer(ADDRESS, message -> {
      if (!self.equals(message.headers().get(Forwarder.FROM))) {
        onChange.accept(message.body());
      }
    });
  }
}
