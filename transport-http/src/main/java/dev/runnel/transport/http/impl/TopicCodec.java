package dev.runnel.transport.http.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.TopicDescription;
import dev.runnel.broker.PartitionOffsets;
import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.TopicStats;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Map;

/** A topic's JSON: its description out, its config in. */
final class TopicCodec {

  private TopicCodec() {
  }

  /** A topic to create: its partitions (default 1) and config (default {@link TopicConfig#DEFAULT}). */
  record CreateRequest(int partitions, TopicConfig config) {
  }

  /** {@code {"partitions":n,"config":{...}}}, each optional, and so is the body. */
  static CreateRequest createRequest(io.vertx.core.buffer.Buffer body) {
    int partitions = 1;
    TopicConfig config = TopicConfig.DEFAULT;
    if (body != null && body.length() > 0) {
      if (!(StrictJson.parse(body) instanceof JsonObject request)) {
        throw new BrokerException(BrokerError.INVALID_REQUEST,
            "the body must be a JSON object {\"partitions\":n,\"config\":{...}}");
      }
      Object p = request.getValue("partitions");
      if (p != null) {
        if (!(p instanceof Integer n)) {
          throw new BrokerException(BrokerError.INVALID_REQUEST, "'partitions' must be a positive integer, not " + p);
        }
        partitions = n;
      }
      Object c = request.getValue("config");
      if (c != null) {
        if (!(c instanceof JsonObject object)) {
          throw new BrokerException(BrokerError.INVALID_CONFIG, "'config' must be an object");
        }
        config = config(object);
      }
    }
    return new CreateRequest(partitions, config);
  }

  /** A topic config from JSON; exact numbers outside 64-bit integers are refused here, the rest by TopicConfig. */
  static TopicConfig config(JsonObject json) {
    try {
      return TopicConfig.fromJson(longs(json));
    } catch (IllegalArgumentException e) {
      throw new BrokerException(BrokerError.INVALID_CONFIG, e.getMessage());
    }
  }

  /**
   * A config patch with plain Java numbers: top-level exact numbers as longs (or refused), a retry policy's as
   * {@link GroupApi#retryPolicy} reads them; nulls stay (they reset a key). Unknown keys are the broker's to refuse.
   */
  static JsonObject patch(JsonObject json) {
    JsonObject out = longs(json);
    if (out.getValue("retryPolicy") instanceof JsonObject policy) {
      JsonObject numbers = new JsonObject();
      for (Map.Entry<String, Object> e : policy) {
        if (e.getValue() == null) {
          numbers.putNull(e.getKey());
        } else {
          numbers.mergeIn(GroupCodec.retryPolicy(new JsonObject().put(e.getKey(), e.getValue())));
        }
      }
      out.put("retryPolicy", numbers);
    }
    return out;
  }

  private static JsonObject longs(JsonObject json) {
    JsonObject longs = new JsonObject();
    for (Map.Entry<String, Object> e : json) {
      Object v = e.getValue();
      if (v instanceof BigInteger || v instanceof BigDecimal) {
        try {
          v = (v instanceof BigInteger i ? new BigDecimal(i) : (BigDecimal) v).longValueExact();
        } catch (ArithmeticException ex) {
          throw new BrokerException(BrokerError.INVALID_CONFIG, "topic config '" + e.getKey()
              + "' must be an integer within 64 bits");
        }
      }
      longs.put(e.getKey(), v);
    }
    return longs;
  }

  static JsonObject stats(TopicStats s) {
    JsonArray partitions = new JsonArray(new ArrayList<>(s.partitions().size()));
    for (TopicStats.Partition p : s.partitions()) {
      partitions.add(new JsonObject()
          .put("partition", p.partition())
          .put("logStartOffset", p.logStartOffset())
          .put("highWatermark", p.highWatermark())
          .put("records", p.records())
          .put("bytes", p.bytes())
          .put("segments", p.segments())
          .put("oldestTimestamp", p.oldestTimestamp())
          .put("newestTimestamp", p.newestTimestamp()));
    }
    return new JsonObject()
        .put("topic", s.topic())
        .put("records", s.records())
        .put("bytes", s.bytes())
        .put("diskBytes", s.diskBytes())
        .put("segments", s.segments())
        .put("oldestTimestamp", s.oldestTimestamp())
        .put("newestTimestamp", s.newestTimestamp())
        .put("partitions", partitions);
  }

  static JsonObject topic(TopicDescription t) {
    JsonArray partitions = new JsonArray(new ArrayList<>(t.partitions().size()));
    for (PartitionOffsets p : t.partitions()) {
      partitions.add(new JsonObject()
          .put("partition", p.partition())
          .put("logStartOffset", p.logStartOffset())
          .put("highWatermark", p.highWatermark()));
    }
    return new JsonObject()
        .put("name", t.name())
        .put("partitions", partitions)
        .put("config", t.config().toJson());
  }
}
