package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.broker.TopicNames;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.Right;
import dev.runnel.broker.StoredRecord;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The consumer-group routes of the HTTP API (DESIGN.md section 7): join, leave, heartbeat, fetch (long poll),
 * outcomes, seek, group config, group descriptions and dead letters. Like {@link HttpApi}, handlers validate the
 * request, call the {@link Broker} and answer when its future completes; every failure goes to {@link Problems}.
 */
final class GroupApi {

  private static final Logger LOG = LoggerFactory.getLogger(GroupApi.class);

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

  private final Broker broker;
  /** Long polls waiting for the broker, answered by {@link #drain()}; this API's event loop only. */
  private final java.util.Set<RoutingContext> polling = new java.util.HashSet<>();
  private boolean draining;

  GroupApi(Broker broker) {
    this.broker = broker;
  }

  // ---- membership

  void join(RoutingContext ctx) {
    String group = ctx.pathParam("group");
    JsonObject body = body(ctx, true, "{\"topics\":[...],\"mode\":\"partitioned\"|\"shared\",...}");
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
      topics.add(s);  // a topic named twice is one subscription
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
    Access.requireAll(ctx, Right.CONSUME, topics, "each topic it joins " + topics);
    JoinRequest request = new JoinRequest(List.copyOf(topics), mode, sessionTimeoutMs, leaseMs, startAtLatest);
    broker.join(group, request).onComplete(ar -> {
      try {
        if (ar.failed()) {
          ctx.fail(BrokerException.from(ar.cause()));
          return;
        }
        Membership m = ar.result();
        ctx.response().putHeader(HttpHeaders.LOCATION, "/groups/" + group + "/members/" + m.memberId());
        Answers.json(ctx, 201, new JsonObject()
            .put("memberId", m.memberId())
            .put("generation", m.generation())
            .put("assignment", assignment(m.assignment())));
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    });
  }

  void leave(RoutingContext ctx) {
    Answers.noContent(ctx, broker.leave(ctx.pathParam("group"), ctx.pathParam("member")));
  }

  void heartbeat(RoutingContext ctx) {
    Answers.noContent(ctx, broker.heartbeat(ctx.pathParam("group"), ctx.pathParam("member")));
  }

  // ---- fetch

  /**
   * Long poll. When the client is gone by the time deliveries arrive (it disconnected, or writing the answer failed),
   * nobody will settle them: they are released, so they come back at once and without an attempt counted.
   */
  void fetch(RoutingContext ctx) {
    if (draining) {
      answerEmpty(ctx);
      return;
    }
    String group = ctx.pathParam("group");
    JsonObject body = body(ctx, false, "{\"maxRecords\",\"maxBytes\",\"maxWaitMs\"}");
    int maxRecords = (int) integer(body, "maxRecords", DEFAULT_FETCH_RECORDS, 1, MAX_FETCH_RECORDS);
    int maxBytes = (int) integer(body, "maxBytes", DEFAULT_FETCH_BYTES, 1, MAX_FETCH_BYTES);
    long maxWaitMs = integer(body, "maxWaitMs", 0, 0, MAX_WAIT_MS);
    polling.add(ctx);
    broker.fetch(group, ctx.pathParam("member"), maxRecords, maxBytes, maxWaitMs).onComplete(ar -> {
      polling.remove(ctx);
      if (ctx.response().ended()) {  // answered empty by the drain
        if (ar.succeeded()) {
          giveBack(group, ar.result(), "the long poll was answered when the node began shutting down");
        }
        return;
      }
      if (ar.failed()) {
        ctx.fail(BrokerException.from(ar.cause()));
        return;
      }
      List<Delivery> deliveries = ar.result();
      if (ctx.response().closed()) {
        giveBack(group, deliveries, "the HTTP client disconnected before the deliveries were sent");
        return;
      }
      Buffer answer;
      try {
        answer = deliveries(deliveries);
      } catch (RuntimeException e) {  // a bug: no record's bytes make rendering fail (JSON values are copied as stored)
        giveBack(group, deliveries, "the deliveries could not be rendered");
        ctx.fail(e);
        return;
      }
      long held = Answers.hold(ctx, answer.length(), Answers.UNCOUNTED_ANSWER_BYTES);
      if (held < 0) {
        giveBack(group, deliveries, "the node holds too many answers not yet written out");
        Answers.refuse(ctx, answer.length());
        return;
      }
      ctx.response()
          .setStatusCode(200)
          .putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
          .end(answer)
          .onComplete(written -> {
            Answers.release(ctx, held);
            if (written.failed()) {
              giveBack(group, deliveries, "the deliveries could not be sent to the HTTP client");
            }
          });
    });
  }

  /** The node is stopping: long polls in flight are answered now, with no deliveries; new ones at once. */
  void drain() {
    draining = true;
    for (RoutingContext ctx : List.copyOf(polling)) {
      answerEmpty(ctx);
    }
  }

  private static void answerEmpty(RoutingContext ctx) {
    if (!ctx.response().ended() && !ctx.response().closed()) {
      ctx.response().setStatusCode(200).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(deliveries(List.of()));
    }
  }

  void giveBack(String group, List<Delivery> deliveries, String why) {
    if (deliveries.isEmpty()) {
      return;
    }
    List<String> tokens = deliveries.stream().map(Delivery::token).toList();
    LOG.debug("group {}: giving back {} deliveries: {}", group, tokens.size(), why);
    broker.settle(group, new Outcomes(List.of(), List.of(), List.of(), List.of(), tokens)).onFailure(err ->
        LOG.warn("group {}: could not give back {} undelivered deliveries; their leases will expire: {}", group,
            tokens.size(), err.getMessage()));
  }

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

  // ---- outcomes

  void settle(RoutingContext ctx) {
    JsonObject body = body(ctx, true, "{\"ack\":[...],\"nack\":[...],\"reject\":[...],\"extend\":[...]}");
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
    Answers.answer(ctx, broker.settle(ctx.pathParam("group"), new Outcomes(acks, nacks, rejects, extensions)), 200,
        results -> {
          JsonArray out = new JsonArray(new ArrayList<>(results.size()));
          for (OutcomeResult r : results) {
            out.add(new JsonObject().put("token", r.token()).put("status", r.status().name()));
          }
          return new JsonObject().put("results", out);
        });
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

  // ---- seek

  /**
   * {@code POST /groups/{group}/topics/{topic}/seek[?dryRun=true]}: {@code {"partitions":[{"partition":n,"to":...}]}}
   * for some partitions, or {@code {"to":...}} for all of them. Answers each partition's position before and after
   * ({@code dryRun}: where it would move, changing nothing). All or nothing: one bad partition moves none.
   */
  void seek(RoutingContext ctx) {
    boolean dryRun = Answers.bool(ctx, "dryRun", false);
    String group = ctx.pathParam("group");
    String topic = ctx.pathParam("topic");
    JsonObject body = body(ctx, true, "{\"partitions\":[{\"partition\":n,\"to\":...}]} or {\"to\":...}");
    Object p = body.getValue("partitions");
    Object all = body.getValue("to");
    if (p != null && all != null) {
      throw invalid("give 'partitions' (each with its own 'to') or 'to' (every partition), not both");
    }
    if (all != null) {
      SeekPosition every = position(0, all);
      Answers.answer(ctx, broker.describeTopic(topic).compose(t -> {
        List<SeekPosition> positions = new ArrayList<>();
        for (int i = 0; i < t.partitions().size(); i++) {
          positions.add(new SeekPosition(i, every.kind(), every.value()));
        }
        return broker.seek(group, topic, positions, dryRun);
      }), 200, results -> seekAnswer(dryRun, results));
      return;
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
    Answers.answer(ctx, broker.seek(group, topic, positions, dryRun), 200, results -> seekAnswer(dryRun, results));
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

  // ---- group config

  void configure(RoutingContext ctx) {
    JsonObject body = body(ctx, true, "{\"retryPolicy\":{...},\"deadLetterTopic\":\"...\"}");
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
    Answers.answer(ctx, broker.configureGroup(ctx.pathParam("group"), config), 200, v -> config);
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

  // ---- descriptions

  void list(RoutingContext ctx) {
    Answers.answer(ctx, broker.listGroups(), 200, groups -> {
      JsonArray list = new JsonArray(new ArrayList<>(groups.size()));
      ApiKey key = Access.key(ctx);
      groups.stream().filter(g -> key.seesAll(topicsOf(g))).forEach(g -> list.add(description(g)));
      return new JsonObject().put("groups", list);
    });
  }

  void describe(RoutingContext ctx) {
    Answers.answer(ctx, broker.describeGroup(ctx.pathParam("group")), 200, GroupApi::description);
  }

  /** {@code DELETE /groups/{group}[?force=true]}: 409 GROUP_NOT_EMPTY while it has members, unless forced. */
  void delete(RoutingContext ctx) {
    Answers.noContent(ctx, broker.deleteGroup(ctx.pathParam("group"), Answers.bool(ctx, "force", false)));
  }

  /** The topics a group reads: its members' and those it has positions in. */
  private static Set<String> topicsOf(GroupDescription g) {
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

  // ---- dead letters

  void deadLetters(RoutingContext ctx) {
    String topic = Answers.query(ctx, "topic");
    if (topic == null) {
      throw invalid("query parameter 'topic' is required");
    }
    TopicNames.check(topic);
    Access.require(ctx, Right.CONSUME, topic);
    int limit = Answers.bounded(ctx, "limit", DEFAULT_DEAD_LETTERS, MAX_DEAD_LETTERS);
    Answers.answerRendered(ctx, broker.deadLetters(ctx.pathParam("group"), topic, limit), 200,
        GroupApi::deadLetters);
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

  /**
   * {@code DELETE /groups/{group}/dead-letters?topic=t[&partition=p[&offset=o...]]}: the group's dead letters of the
   * topic (of one partition, at some offsets) are no longer listed nor redriven; the dead-letter records stay in the
   * dead-letter topic. Answers how many went.
   */
  void deleteDeadLetters(RoutingContext ctx) {
    String topic = Answers.query(ctx, "topic");
    if (topic == null) {
      throw invalid("query parameter 'topic' is required");
    }
    TopicNames.check(topic);
    Access.require(ctx, Right.ADMIN, topic);
    String p = Answers.query(ctx, "partition");
    Integer partition = p == null ? null : Answers.intParam("partition", p);
    List<Long> offsets = null;
    for (String values : ctx.queryParam("offset")) {
      if (offsets == null) {
        offsets = new ArrayList<>();
      }
      for (String value : values.split(",", -1)) {
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
    if (offsets != null && partition == null) {
      throw invalid("dead letters chosen by 'offset' need their 'partition'");
    }
    Answers.answer(ctx, broker.deleteDeadLetters(ctx.pathParam("group"), topic, partition, offsets), 200,
        n -> new JsonObject().put("deleted", n));
  }

  void redrive(RoutingContext ctx) {
    JsonObject body = body(ctx, true, "{\"topic\":\"...\",\"to\":\"group\"|\"topic\",\"offsets\":[...]}");
    Object t = body.getValue("topic");
    if (!(t instanceof String topic)) {
      throw invalid(t == null ? "'topic' is missing" : "'topic' must be a topic name (a string)");
    }
    TopicNames.check(topic);
    Access.require(ctx, Right.ADMIN, topic);
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
    Answers.answer(ctx, broker.redrive(ctx.pathParam("group"), topic, toGroup, offsets), 200,
        n -> new JsonObject().put("redriven", n));
  }

  // ---- request parsing

  /** The body as a JSON object; an absent body is {@code {}} unless {@code required}. */
  private static JsonObject body(RoutingContext ctx, boolean required, String shape) {
    Buffer body = ctx.body().buffer();
    if ((body == null || body.length() == 0) && !required) {
      return new JsonObject();
    }
    if (!(StrictJson.parse(body == null ? Buffer.buffer() : body) instanceof JsonObject object)) {
      throw invalid("the body must be a JSON object " + shape);
    }
    return object;
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

  private static BrokerException invalid(String message) {
    return new BrokerException(BrokerError.INVALID_REQUEST, message);
  }

  private static BrokerException invalidConfig(String message) {
    return new BrokerException(BrokerError.INVALID_CONFIG, message);
  }
}
