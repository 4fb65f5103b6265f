package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.TopicNames;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The consumer-group routes' JSON (DESIGN.md section 7): requests into the broker's types, with the bounds and the
 * error codes of the contract, and the broker's answers into the pinned shapes. {@link GroupApi}'s handlers only call
 * this and the broker.
 */
final class GroupCodec {

  static final int DEFAULT_FETCH_RECORDS = 100;
  static final int MAX_FETCH_RECORDS = 10_000;
  static final int DEFAULT_FETCH_BYTES = 1024 * 1024;
  static final int MAX_FETCH_BYTES = 16 * 1024 * 1024;
  static final long MAX_WAIT_MS = 30_000;
  static final long MIN_SESSION_TIMEOUT_MS = 1_000;
  static final long MAX_SESSION_TIMEOUT_MS = 3_600_000;
  static final int DEFAULT_DEAD_LETTERS = 100;
  static final int MAX_DEAD_LETTERS = 1_000;

  private static final Set<String> GROUP_CONFIG_KEYS = Set.of("retryPolicy", "deadLetterTopic");
  private static final Set<String> INTEGER_RETRY_KEYS = Set.of("maxRetries", "initialDelayMs", "maxDelayMs");
  private static final Set<String> DECIMAL_RETRY_KEYS = Set.of("backoffMultiplier", "jitter");

  private GroupCodec() {
  }

  /** The body as a JSON object; an absent body is {@code {}} unless {@code required}. */
  static JsonObject object(Buffer body, boolean required, String shape) {
    if ((body == null || body.length() == 0) && !required) {
      return new JsonObject();
    }
    if (!(StrictJson.parse(body == null ? Buffer.buffer() : body) instanceof JsonObject object)) {
      throw invalid("the body must be a JSON object " + shape);
    }
    return object;
  }

  /** {@code {"topics":[...],"mode","sessionTimeoutMs","leaseMs","startFrom"}}; a topic named twice counts once. */
  static JoinRequest joinRequest(JsonObject body) {
    Object t = body.getValue("topics");
    if (!(t instanceof JsonArray array) || array.isEmpty()) {
      throw invalid(t == null ? "'topics' is missing: name at least one topic" : "'topics' must be a non-empty array of topic names");
    }
    Set<String> topics = new LinkedHashSet<>();
    for (Object o : array) {
      if (!(o instanceof String s)) {
        throw invalid("'topics' must contain topic names (strings), not " + RecordCodec.render(o));
      }
      TopicNames.check(s);
      topics.add(s);
    }
    GroupMode mode = switch (string(body, "mode", "partitioned")) {
      case "partitioned" -> GroupMode.PARTITIONED;
      case "shared" -> GroupMode.SHARED;
      default -> throw invalid("'mode' must be \"partitioned\" or \"shared\", not " + RecordCodec.render(body.getValue("mode")));
    };
    long sessionTimeoutMs = integer(body, "sessionTimeoutMs", JoinRequest.DEFAULT_SESSION_TIMEOUT_MS,
        MIN_SESSION_TIMEOUT_MS, MAX_SESSION_TIMEOUT_MS);
    long leaseMs = Math.min(JoinRequest.MAX_LEASE_MS,
        integer(body, "leaseMs", JoinRequest.DEFAULT_LEASE_MS, 1, Long.MAX_VALUE));
    boolean startAtLatest = switch (string(body, "startFrom", "earliest")) {
      case "earliest" -> false;
      case "latest" -> true;
      default -> throw invalid("'startFrom' must be \"earliest\" or \"latest\", not " + RecordCodec.render(body.getValue("startFrom")));
    };
    return new JoinRequest(List.copyOf(topics), mode, sessionTimeoutMs, leaseMs, startAtLatest);
  }

  static JsonObject membership(Membership m) {
    return new JsonObject()
        .put("memberId", m.memberId())
        .put("generation", m.generation())
        .put("assignment", assignment(m.assignment()));
  }

  /** A fetch's bounds. */
  record FetchRequest(int maxRecords, int maxBytes, long maxWaitMs) {
  }

  /** {@code {"maxRecords","maxBytes","maxWaitMs"}}, each optional. */
  static FetchRequest fetchRequest(JsonObject body) {
    return new FetchRequest((int) integer(body, "maxRecords", DEFAULT_FETCH_RECORDS, 1, MAX_FETCH_RECORDS),
        (int) integer(body, "maxBytes", DEFAULT_FETCH_BYTES, 1, MAX_FETCH_BYTES),
        integer(body, "maxWaitMs", 0, 0, MAX_WAIT_MS));
  }

  /** {@code {"ack":[t],"nack":[{"token","delayMs","error"}],"reject":[{"token","error"}],"extend":[{"token","leaseMs"}]}}. */
  static Outcomes outcomes(JsonObject body) {
    List<String> acks = new ArrayList<>();
    for (Object o : list(body, "ack")) {
      if (!(o instanceof String token)) {
        throw invalid("'ack' must be an array of tokens (strings), not contain " + RecordCodec.render(o));
      }
      acks.add(token);
    }
    List<Outcomes.Nack> nacks = new ArrayList<>();
    for (Object o : list(body, "nack")) {
      JsonObject n = item("nack", o);
      Long delayMs = n.getValue("delayMs") == null ? null : integer(n, "delayMs", 0, 0, Long.MAX_VALUE, "nack");
      nacks.add(new Outcomes.Nack(token("nack", n), delayMs, optionalString(n, "error", "nack")));
    }
    List<Outcomes.Reject> rejects = new ArrayList<>();
    for (Object o : list(body, "reject")) {
      JsonObject r = item("reject", o);
      rejects.add(new Outcomes.Reject(token("reject", r), optionalString(r, "error", "reject")));
    }
    List<Outcomes.Extend> extensions = new ArrayList<>();
    for (Object o : list(body, "extend")) {
      JsonObject x = item("extend", o);
      Long leaseMs = x.getValue("leaseMs") == null ? null
          : Math.min(JoinRequest.MAX_LEASE_MS, integer(x, "leaseMs", 0, 1, Long.MAX_VALUE, "extend"));
      extensions.add(new Outcomes.Extend(token("extend", x), leaseMs));
    }
    return new Outcomes(acks, nacks, rejects, extensions);
  }

  static JsonObject outcomeResults(List<OutcomeResult> results) {
    JsonArray out = new JsonArray(new ArrayList<>(results.size()));
    for (OutcomeResult r : results) {
      out.add(new JsonObject().put("token", r.token()).put("status", r.status().name()));
    }
    return new JsonObject().put("results", out);
  }

  /** Where a seek moves: some partitions ({@code partitions}), or every one ({@code every}); one of them is null. */
  record SeekRequest(List<SeekPosition> partitions, SeekPosition every) {
  }

  /** {@code {"partitions":[{"partition":n,"to":...}]}} or {@code {"to":...}}; a partition listed twice is refused. */
  static SeekRequest seekRequest(JsonObject body) {
    Object p = body.getValue("partitions");
    Object all = body.getValue("to");
    if (p != null && all != null) {
      throw invalid("give 'partitions' (each with its own 'to') or 'to' (every partition), not both");
    }
    if (all != null) {
      return new SeekRequest(null, position(0, all));
    }
    if (!(p instanceof JsonArray array) || array.isEmpty()) {
      throw invalid("'partitions' must be a non-empty array of {\"partition\":n,\"to\":...} (or give 'to' for every "
          + "partition)");
    }
    List<SeekPosition> positions = new ArrayList<>(array.size());
    Set<Integer> seen = new HashSet<>();
    for (Object o : array) {
      if (!(o instanceof JsonObject item)) {
        throw invalid("each item of 'partitions' must be an object {\"partition\":n,\"to\":...}, not " + RecordCodec.render(o));
      }
      if (item.getValue("partition") == null) {
        throw invalid("each item of 'partitions' needs a 'partition'");
      }
      // A partition the topic does not have is the broker's to refuse (PARTITION_OUT_OF_RANGE).
      int partition = (int) integer(item, "partition", 0, Integer.MIN_VALUE, Integer.MAX_VALUE, "partitions");
      if (!seen.add(partition)) {
        throw invalid("partition " + partition + " appears more than once");
      }
      positions.add(position(partition, item.getValue("to")));
    }
    return new SeekRequest(positions, null);
  }

  /** {@code {"retryPolicy":{...},"deadLetterTopic":"..."}}: the config the broker is given; unknown keys refused. */
  static GroupConfig groupConfig(JsonObject body) {
    JsonObject config = new JsonObject();
    for (Map.Entry<String, Object> e : body) {
      if (!GROUP_CONFIG_KEYS.contains(e.getKey())) {
        throw invalidConfig("unknown group config key '" + e.getKey() + "' (known: retryPolicy, deadLetterTopic)");
      }
    }
    Object policy = body.getValue("retryPolicy");
    if (policy != null) {
      if (!(policy instanceof JsonObject object)) {
        throw invalidConfig("'retryPolicy' must be an object");
      }
      config.put("retryPolicy", retryPolicy(object));
    }
    Object dlq = body.getValue("deadLetterTopic");
    if (dlq != null) {
      if (!(dlq instanceof String pattern)) {
        throw invalidConfig("'deadLetterTopic' must be a string");
      }
      // The real name depends on the topic and the group; a pattern that is invalid even with a one-character topic
      // name can never be right.
      if (!TopicNames.isValid(pattern.replace("{topic}", "t").replace("{group}", "g"))) {
        throw invalidConfig("'deadLetterTopic' must give a topic name ([A-Za-z0-9._-]{1,249}) once {topic} and {group}"
            + " are replaced, not \"" + pattern + "\"");
      }
      config.put("deadLetterTopic", pattern);
    }
    try {
      return GroupConfig.fromJson(config);
    } catch (IllegalArgumentException e) {
      throw invalidConfig(e.getMessage());  // a retry policy the broker refuses (an unknown key)
    }
  }

  /** What a redrive sends back, and where. */
  record RedriveRequest(String topic, boolean toGroup, Integer partition, List<Long> offsets) {
  }

  /** {@code {"topic","to":"group"|"topic","partition":n?,"offsets":[...]?}}. */
  static RedriveRequest redriveRequest(JsonObject body) {
    Object t = body.getValue("topic");
    if (!(t instanceof String topic)) {
      throw invalid(t == null ? "'topic' is missing" : "'topic' must be a topic name (a string)");
    }
    TopicNames.check(topic);
    Object to = body.getValue("to");
    boolean toGroup;
    if ("group".equals(to)) {
      toGroup = true;
    } else if ("topic".equals(to)) {
      toGroup = false;
    } else {
      throw invalid("'to' must be \"group\" (this group only) or \"topic\" (the original topic, every group), not "
          + RecordCodec.render(to));
    }
    Object p = body.getValue("partition");
    if (p != null && (!(p instanceof Integer) || (Integer) p < 0)) {
      throw invalid("'partition' must be a partition number (an integer of 0 or more), not " + RecordCodec.render(p));
    }
    List<Long> offsets = null;
    Object o = body.getValue("offsets");
    if (o != null) {
      if (!(o instanceof JsonArray array)) {
        throw invalid("'offsets' must be an array of offsets");
      }
      offsets = new ArrayList<>(array.size());
      for (Object item : array) {
        if (!(item instanceof Integer || item instanceof Long) || ((Number) item).longValue() < 0) {
          throw invalid("'offsets' must contain offsets (integers of 0 or more), not " + RecordCodec.render(item));
        }
        offsets.add(((Number) item).longValue());
      }
    }
    return new RedriveRequest(topic, toGroup, (Integer) p, offsets);
  }

  /** Offsets given as query values, each repeated or comma-separated; null when none is given. */
  static List<Long> offsets(List<String> values) {
    List<Long> offsets = null;
    for (String list : values) {
      if (offsets == null) {
        offsets = new ArrayList<>();
      }
      for (String value : list.split(",", -1)) {
        long offset;
        try {
          offset = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
          throw invalid("'offset' must be offsets (integers of 0 or more, repeated or comma-separated), not '" + value
              + "'");
        }
        if (offset < 0) {
          throw invalid("'offset' must be 0 or more, not " + offset);
        }
        offsets.add(offset);
      }
    }
    return offsets;
  }

  /** A required topic name from the query. */
  static String topicParam(String topic) {
    if (topic == null) {
      throw invalid("query parameter 'topic' is required");
    }
    TopicNames.check(topic);
    return topic;
  }

  // ---- answers
  /** Deliveries: each its lease fields, then the record's fields as the read API renders them. */
  static Buffer deliveries(List<Delivery> deliveries) {
    long sizeHint = 32;
    for (Delivery d : deliveries) {
      sizeHint += sizeHint(d);
    }
    return JsonOutput.render(sizeHint, out -> {
      JsonGenerator g = out.g;
      g.writeStartObject();
      g.writeArrayFieldStart("deliveries");
      for (Delivery d : deliveries) {
        write(out, d);
      }
      g.writeEndArray();
      g.writeEndObject();
    });
  }

  /** One delivery, as an element of a fetch answer renders it (an SSE event's data). */
  static Buffer delivery(Delivery d) {
    return JsonOutput.render(sizeHint(d), out -> write(out, d));
  }

  private static long sizeHint(Delivery d) {
    return 200 + RecordCodec.sizeHint(d.record());
  }

  private static void write(JsonOutput out, Delivery d) throws java.io.IOException {
    JsonGenerator g = out.g;
    g.writeStartObject();
    g.writeStringField("token", d.token());
    g.writeStringField("topic", d.topic());
    g.writeNumberField("partition", d.partition());
    g.writeNumberField("offset", d.offset());
    g.writeNumberField("attempt", d.attempt());
    g.writeNumberField("leaseExpiresAt", d.leaseExpiresAt());
    RecordCodec.fields(out, d.record(), d.partition(), false);
    g.writeEndObject();
  }

  private static JsonArray list(JsonObject body, String name) {
    Object v = body.getValue(name);
    if (v == null) {
      return new JsonArray();
    }
    if (!(v instanceof JsonArray array)) {
      throw invalid("'" + name + "' must be an array");
    }
    return array;
  }

  private static JsonObject item(String list, Object o) {
    if (!(o instanceof JsonObject object)) {
      throw invalid("each item of '" + list + "' must be an object with a 'token', not " + RecordCodec.render(o));
    }
    return object;
  }

  private static String token(String list, JsonObject item) {
    Object t = item.getValue("token");
    if (!(t instanceof String s)) {
      throw invalid("each item of '" + list + "' needs a 'token' (a string)");
    }
    return s;
  }

  static JsonObject seekAnswer(boolean dryRun, List<SeekResult> results) {
    JsonArray partitions = new JsonArray(new ArrayList<>(results.size()));
    for (SeekResult r : results) {
      partitions.add(new JsonObject()
          .put("partition", r.partition())
          .put("committedOffset", r.committedOffset())
          .put("newOffset", r.newOffset()));
    }
    return new JsonObject().put("dryRun", dryRun).put("partitions", partitions);
  }

  private static SeekPosition position(int partition, Object to) {
    String expected = "'to' must be \"earliest\", \"latest\", {\"offset\":n} or {\"timestamp\":ms}";
    if ("earliest".equals(to)) {
      return new SeekPosition(partition, SeekPosition.Kind.EARLIEST, 0);
    }
    if ("latest".equals(to)) {
      return new SeekPosition(partition, SeekPosition.Kind.LATEST, 0);
    }
    if (to instanceof JsonObject object && object.size() == 1) {
      if (object.containsKey("offset")) {
        // A negative offset is outside every partition: the broker answers OFFSET_OUT_OF_RANGE.
        return new SeekPosition(partition, SeekPosition.Kind.OFFSET,
            integer(object, "offset", 0, Long.MIN_VALUE, Long.MAX_VALUE, "to"));
      }
      if (object.containsKey("timestamp")) {
        return new SeekPosition(partition, SeekPosition.Kind.TIMESTAMP,
            integer(object, "timestamp", 0, 0, Long.MAX_VALUE, "to"));
      }
    }
    throw invalid(expected + ", not " + RecordCodec.render(to));
  }

  /**
   * A retry policy with plain Java numbers: integers as Long, the others as Double (the broker keeps them, and would
   * otherwise truncate 2.5 retries to 2). Unknown keys and values out of range are the broker's to refuse.
   */
  static JsonObject retryPolicy(JsonObject policy) {
    JsonObject out = new JsonObject();
    for (Map.Entry<String, Object> e : policy) {
      String key = e.getKey();
      Object v = e.getValue();
      if (INTEGER_RETRY_KEYS.contains(key)) {
        if (!(v instanceof Integer || v instanceof Long)) {
          throw invalidConfig("retry policy '" + key + "' must be an integer, not " + RecordCodec.render(v));
        }
        out.put(key, ((Number) v).longValue());
      } else if (DECIMAL_RETRY_KEYS.contains(key)) {
        if (!(v instanceof Number n)) {
          throw invalidConfig("retry policy '" + key + "' must be a number, not " + RecordCodec.render(v));
        }
        double d = n.doubleValue();
        if (!Double.isFinite(d)) {
          throw invalidConfig("retry policy '" + key + "' is out of range");
        }
        out.put(key, d);
      } else {
        out.put(key, v);  // the broker names the unknown key
      }
    }
    return out;
  }

  /** The topics a group reads: its members' and those it has positions in. */
  static Set<String> topicsOf(GroupDescription g) {
    Set<String> topics = new java.util.TreeSet<>();
    g.members().forEach(m -> topics.addAll(m.topics()));
    g.partitions().forEach(p -> topics.add(p.topic()));
    return topics;
  }

  static JsonObject description(GroupDescription g) {
    JsonArray members = new JsonArray(new ArrayList<>(g.members().size()));
    for (GroupDescription.Member m : g.members()) {
      members.add(new JsonObject()
          .put("memberId", m.memberId())
          .put("topics", new JsonArray(new ArrayList<>(m.topics())))
          .put("assignment", assignment(m.assignment())));
    }
    JsonArray partitions = new JsonArray(new ArrayList<>(g.partitions().size()));
    for (GroupDescription.PartitionLag p : g.partitions()) {
      partitions.add(new JsonObject()
          .put("topic", p.topic())
          .put("partition", p.partition())
          .put("committedOffset", p.committedOffset())
          .put("highWatermark", p.highWatermark())
          .put("assignedTo", p.assignedTo())
          .put("lag", new JsonObject().put("records", p.records()).put("oldestAgeMs", p.oldestAgeMs()))
          .put("skipped", p.skipped()));
    }
    return new JsonObject()
        .put("name", g.name())
        .put("mode", mode(g.mode()))
        .put("generation", g.generation())
        .put("members", members)
        .put("partitions", partitions);
  }

  private static String mode(GroupMode mode) {
    return switch (mode) {
      case PARTITIONED -> "partitioned";
      case SHARED -> "shared";
    };
  }

  private static JsonObject assignment(Map<String, List<Integer>> assignment) {
    JsonObject out = new JsonObject();
    assignment.forEach((topic, partitions) -> out.put(topic, new JsonArray(new ArrayList<>(partitions))));
    return out;
  }

  static Buffer deadLetters(List<DeadLetter> letters) {
    List<StoredRecord> records = letters.stream().map(DeadLetter::record).filter(Objects::nonNull).toList();
    return JsonOutput.render(32 + RecordCodec.sizeHint(records) + 300 * letters.size(), out -> {
      JsonGenerator g = out.g;
      g.writeStartObject();
      g.writeArrayFieldStart("deadLetters");
      for (DeadLetter d : letters) {
        g.writeStartObject();
        g.writeStringField("topic", d.topic());
        g.writeNumberField("partition", d.partition());
        g.writeNumberField("offset", d.offset());
        g.writeStringField("deadLetterTopic", d.deadLetterTopic());
        g.writeNumberField("deadLetterPartition", d.deadLetterPartition());
        g.writeNumberField("deadLetterOffset", d.deadLetterOffset());
        g.writeStringField("reason", d.reason());
        g.writeNumberField("deadLetteredAt", d.deadLetteredAt());
        // null when the dead-letter record can no longer be read (its topic deleted, or removed by retention)
        g.writeFieldName("record");
        if (d.record() == null) {
          g.writeNull();
        } else {
          g.writeStartObject();
          RecordCodec.fields(out, d.record(), d.deadLetterPartition(), true);
          g.writeEndObject();
        }
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    });
  }

  private static long integer(JsonObject o, String name, long defaultValue, long min, long max) {
    return integer(o, name, defaultValue, min, max, null);
  }

  /** An integer field in [min, max], {@code defaultValue} when absent or null. */
  private static long integer(JsonObject o, String name, long defaultValue, long min, long max, String in) {
    Object v = o.getValue(name);
    if (v == null) {
      return defaultValue;
    }
    String what = "'" + name + "'" + (in == null ? "" : " in '" + in + "'");
    String range = min == Long.MIN_VALUE ? "an integer" : max == Long.MAX_VALUE ? "an integer of " + min + " or more"
        : "an integer between " + min + " and " + max;
    if (!(v instanceof Integer || v instanceof Long || v instanceof BigInteger)) {
      throw invalid(what + " must be " + range + ", not " + RecordCodec.render(v));
    }
    if (v instanceof BigInteger || ((Number) v).longValue() < min || ((Number) v).longValue() > max) {
      throw invalid(what + " must be " + range + ", not " + v);
    }
    return ((Number) v).longValue();
  }

  private static String string(JsonObject o, String name, String defaultValue) {
    Object v = o.getValue(name);
    if (v == null) {
      return defaultValue;
    }
    return v instanceof String s ? s : "";  // not a string: the caller's switch refuses it
  }

  private static String optionalString(JsonObject o, String name, String in) {
    Object v = o.getValue(name);
    if (v != null && !(v instanceof String)) {
      throw invalid("'" + name + "' in '" + in + "' must be a string");
    }
    return (String) v;
  }

  static BrokerException invalid(String message) {
    return new BrokerException(BrokerError.INVALID_REQUEST, message);
  }

  private static BrokerException invalidConfig(String message) {
    return new BrokerException(BrokerError.INVALID_CONFIG, message);
  }
}
