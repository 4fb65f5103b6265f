package dev.runnel.transport.http.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.TopicDescription;
import dev.runnel.broker.PartitionOffsets;
import dev.runnel.broker.TopicConfig;
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

  /** A topic config from JSON; exact numbers outside 64-bit integers are refused here, the rest by TopicConfig. */
  static TopicConfig config(JsonObject json) {
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
    try {
      return TopicConfig.fromJson(longs);
    } catch (IllegalArgumentException e) {
      throw new BrokerException(BrokerError.INVALID_CONFIG, e.getMessage());
    }
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
