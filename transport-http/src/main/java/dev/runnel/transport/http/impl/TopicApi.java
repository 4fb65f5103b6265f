package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.auth.ApiKey;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

import java.util.ArrayList;

/**
 * The topics resource: list, create, describe, delete (DESIGN.md section 7), and its administration: a config patch,
 * partition growth, statistics. JSON mapping in {@link TopicCodec}.
 */
final class TopicApi {

  private final Broker broker;

  TopicApi(Broker broker) {
    this.broker = broker;
  }

  void list(RoutingContext ctx) {
    Answers.answer(ctx, broker.listTopics(), 200, topics -> {
      JsonArray list = new JsonArray(new ArrayList<>(topics.size()));
      ApiKey key = Access.key(ctx);
      topics.stream().filter(t -> key.sees(t.name())).forEach(t -> list.add(TopicCodec.topic(t)));
      return new JsonObject().put("topics", list);
    });
  }

  void create(RoutingContext ctx) {
    String name = ctx.pathParam("topic");
    TopicCodec.CreateRequest create = TopicCodec.createRequest(ctx.body().buffer());
    broker.createTopic(name, create.partitions(), create.config()).onComplete(ar -> {
      try {
        if (ar.failed()) {
          ctx.fail(BrokerException.from(ar.cause()));
          return;
        }
        if (ar.result().created()) {
          ctx.response().putHeader(HttpHeaders.LOCATION, "/topics/" + name);
        }
        Answers.json(ctx, ar.result().created() ? 201 : 200, TopicCodec.topic(ar.result().topic()));
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    });
  }

  void describe(RoutingContext ctx) {
    Answers.answer(ctx, broker.describeTopic(ctx.pathParam("topic")), 200, TopicCodec::topic);
  }

  void delete(RoutingContext ctx) {
    Answers.noContent(ctx, broker.deleteTopic(ctx.pathParam("topic")));
  }

  /**
   * {@code PATCH /topics/{topic}}: a JSON merge patch (RFC 7396) of the topic's config: the keys given change, null
   * resets one to its default, {@code retryPolicy} merges key by key. Answers the topic as {@code GET} does.
   */
  void update(RoutingContext ctx) {
    Buffer body = ctx.body().buffer();
    if (!(StrictJson.parse(body == null ? Buffer.buffer() : body) instanceof JsonObject patch)) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "the body must be a JSON object: the config keys to "
          + "change, e.g. {\"retentionMs\":86400000}");
    }
    Answers.answer(ctx, broker.updateTopicConfig(ctx.pathParam("topic"), TopicCodec.patch(patch)), 200,
        TopicCodec::topic);
  }

  /** {@code POST /topics/{topic}/partitions} {@code {"count":n}}: grows the topic to n partitions (never shrinks). */
  void grow(RoutingContext ctx) {
    Buffer body = ctx.body().buffer();
    if (!(StrictJson.parse(body == null ? Buffer.buffer() : body) instanceof JsonObject request)) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "the body must be a JSON object {\"count\":n}");
    }
    if (!(request.getValue("count") instanceof Integer count)) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, request.getValue("count") == null
          ? "'count' is missing: the partition count to grow to" : "'count' must be an integer (the new partition "
          + "count), not " + RecordCodec.render(request.getValue("count")));
    }
    Answers.answer(ctx, broker.growPartitions(ctx.pathParam("topic"), count), 200, TopicCodec::topic);
  }

  void stats(RoutingContext ctx) {
    Answers.answer(ctx, broker.topicStats(ctx.pathParam("topic")), 200, TopicCodec::stats);
  }

}
