package dev.runnel.broker.impl;

import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.Header;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.broker.StoredRecord;
import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;

/**
 * The binary encoding of every value a call to another node's leader or owner carries (DESIGN.md section 6): a
 * {@link Writer} appends values to a Buffer, a {@link Reader} takes them back in the same order. Records go as their
 * bytes, never as JSON; only the two config blobs (a topic's, a group's) go as their JSON text, which is their
 * stored form. Writers and readers are single-use and confined to one thread.
 */
final class Wire {

  private Wire() {
  }

  static Writer writer() {
    return new Writer(Buffer.buffer(64));
  }

  static Reader reader(Buffer buffer) {
    return new Reader(buffer);
  }

  static final class Writer {
    final Buffer buffer;

    private Writer(Buffer buffer) {
      this.buffer = buffer;
    }

    Writer u8(int value) {
      buffer.appendByte((byte) value);
      return this;
    }

    Writer bool(boolean value) {
      buffer.appendByte((byte) (value ? 1 : 0));
      return this;
    }

    Writer i32(int value) {
      buffer.appendInt(value);
      return this;
    }

    Writer i64(long value) {
      buffer.appendLong(value);
      return this;
    }

    Writer optLong(Long value) {
      bool(value != null);
      if (value != null) {
        buffer.appendLong(value);
      }
      return this;
    }

    Writer optInt(Integer value) {
      bool(value != null);
      if (value != null) {
        buffer.appendInt(value);
      }
      return this;
    }

    Writer bytes(byte[] value) {
      if (value == null) {
        buffer.appendInt(-1);
      } else {
        buffer.appendInt(value.length).appendBytes(value);
      }
      return this;
    }

    Writer str(String value) {
      return bytes(value == null ? null : value.getBytes(StandardCharsets.UTF_8));
    }

    Writer uuid(UUID id) {
      return i64(id.getMostSignificantBits()).i64(id.getLeastSignificantBits());
    }

    <E extends Enum<E>> Writer optEnum(E value) {
      return i32(value == null ? -1 : value.ordinal());
    }

    <T> Writer list(List<T> values, java.util.function.BiConsumer<Writer, T> each) {
      if (values == null) {
        return i32(-1);
      }
      i32(values.size());
      for (T v : values) {
        each.accept(this, v);
      }
      return this;
    }

    Writer strings(List<String> values) {
      return list(values, Writer::str);
    }

    Writer longs(List<Long> values) {
      return list(values, Writer::i64);
    }

    Writer assignment(Map<String, List<Integer>> assignment) {
      i32(assignment.size());
      assignment.forEach((topic, partitions) -> str(topic).list(partitions, Writer::i32));
      return this;
    }

    // ---- the durability values ---------------------------------------------------------------------------------

    Writer topic(TopicMetadata topic) {
      return uuid(topic.id()).str(topic.name()).i32(topic.partitions()).str(topic.config().toJson().encode());
    }

    Writer logRecord(LogRecord r) {
      bytes(r.key()).bytes(r.value()).str(r.contentType());
      list(r.headers(), (w, h) -> w.str(h.name()).bytes(h.value()));
      return str(r.idempotencyKey()).i64(r.offset()).i64(r.timestamp());
    }

    Writer logRecords(List<LogRecord> records) {
      return list(records, Writer::logRecord);
    }

    Writer appendResult(AppendResult result) {
      i64(result.baseOffset()).i64(result.timestamp());
      AppendResult.Duplicate[] duplicates = result.duplicates();
      if (duplicates == null) {
        return i32(-1);
      }
      i32(duplicates.length);
      for (AppendResult.Duplicate d : duplicates) {
        if (d == null) {
          bool(false);
        } else {
          bool(true).i64(d.offset()).i64(d.timestamp());
        }
      }
      return this;
    }

    Writer readResult(ReadResult result) {
      return logRecords(result.records()).i64(result.nextOffset()).i64(result.highWatermark())
          .i64(result.logStartOffset());
    }

    Writer offsets(PartitionOffsets offsets) {
      return i32(offsets.partition()).i64(offsets.logStartOffset()).i64(offsets.highWatermark());
    }

    Writer origin(DeadLetterOrigin o) {
      return str(o.group()).uuid(o.topicId()).i32(o.partition()).i64(o.offset()).uuid(o.dlqTopicId())
          .i32(o.dlqPartition()).i64(o.dlqOffset()).str(o.reason()).i64(o.deadLetteredAt());
    }

    // ---- the broker's values -----------------------------------------------------------------------------------

    Writer joinRequest(JoinRequest r) {
      strings(r.topics()).optEnum(r.mode()).i64(r.sessionTimeoutMs()).i64(r.leaseMs()).bool(r.startAtLatest());
      return optInt(r.linkBound() == null ? null : r.linkBound().maxFreeReleases());
    }

    Writer membership(Membership m) {
      return str(m.memberId()).i32(m.generation()).assignment(m.assignment());
    }

    Writer storedRecord(StoredRecord r) {
      bytes(r.key()).bytes(r.value()).str(r.contentType());
      list(r.headers(), (w, h) -> w.str(h.name()).bytes(h.value()));
      return str(r.idempotencyKey()).i64(r.offset()).i64(r.timestamp());
    }

    Writer delivery(Delivery d) {
      return str(d.token()).str(d.topic()).i32(d.partition()).i64(d.offset()).i32(d.attempt())
          .i64(d.leaseExpiresAt()).storedRecord(d.record());
    }

    Writer deliveries(List<Delivery> deliveries) {
      return list(deliveries, Writer::delivery);
    }

    Writer outcomes(Outcomes o) {
      strings(o.acks());
      list(o.nacks(), (w, n) -> w.str(n.token()).optLong(n.delayMs()).str(n.error()));
      list(o.rejects(), (w, r) -> w.str(r.token()).str(r.error()));
      list(o.extensions(), (w, e) -> w.str(e.token()).optLong(e.leaseMs()));
      return strings(o.releases());
    }

    Writer outcomeResults(List<OutcomeResult> results) {
      return list(results, (w, r) -> w.str(r.token()).optEnum(r.status()));
    }

    Writer seekPositions(List<SeekPosition> positions) {
      return list(positions, (w, p) -> w.i32(p.partition()).optEnum(p.kind()).i64(p.value()));
    }

    Writer seekResults(List<SeekResult> results) {
      return list(results, (w, r) -> w.i32(r.partition()).optLong(r.committedOffset()).i64(r.newOffset()));
    }

    Writer groupDescription(GroupDescription d) {
      str(d.name()).optEnum(d.mode()).i32(d.generation());
      list(d.members(), (w, m) -> w.str(m.memberId()).strings(m.topics()).assignment(m.assignment()));
      return list(d.partitions(), (w, p) -> w.str(p.topic()).i32(p.partition()).i64(p.committedOffset())
          .i64(p.highWatermark()).i64(p.records()).i64(p.oldestAgeMs()).i64(p.skipped()).str(p.assignedTo()));
    }

    Writer deadLetters(List<DeadLetter> letters) {
      return list(letters, (w, d) -> w.str(d.topic()).i32(d.partition()).i64(d.offset()).str(d.deadLetterTopic())
          .i32(d.deadLetterPartition()).i64(d.deadLetterOffset()).str(d.reason()).i64(d.deadLetteredAt())
          .storedRecord(d.record()));
    }
  }

  static final class Reader {
    private final Buffer buffer;
    private int at;

    private Reader(Buffer buffer) {
      this.buffer = buffer;
    }

    int u8() {
      return buffer.getByte(at++) & 0xff;
    }

    boolean bool() {
      return buffer.getByte(at++) != 0;
    }

    int i32() {
      int v = buffer.getInt(at);
      at += 4;
      return v;
    }

    long i64() {
      long v = buffer.getLong(at);
      at += 8;
      return v;
    }

    Long optLong() {
      return bool() ? i64() : null;
    }

    Integer optInt() {
      return bool() ? i32() : null;
    }

    byte[] bytes() {
      int length = i32();
      if (length < 0) {
        return null;
      }
      byte[] v = buffer.getBytes(at, at + length);
      at += length;
      return v;
    }

    String str() {
      int length = i32();
      if (length < 0) {
        return null;
      }
      String v = buffer.getString(at, at + length, "UTF-8");
      at += length;
      return v;
    }

    UUID uuid() {
      return new UUID(i64(), i64());
    }

    <E extends Enum<E>> E optEnum(E[] values) {
      int ordinal = i32();
      return ordinal < 0 ? null : values[ordinal];
    }

    <T> List<T> list(Function<Reader, T> each) {
      int size = i32();
      if (size < 0) {
        return null;
      }
      List<T> values = new ArrayList<>(size);
      for (int i = 0; i < size; i++) {
        values.add(each.apply(this));
      }
      return values;
    }

    List<String> strings() {
      return list(Reader::str);
    }

    List<Long> longs() {
      return list(Reader::i64);
    }

    Map<String, List<Integer>> assignment() {
      int size = i32();
      Map<String, List<Integer>> assignment = new LinkedHashMap<>();
      for (int i = 0; i < size; i++) {
        assignment.put(str(), list(Reader::i32));
      }
      return assignment;
    }

    // ---- the durability values ---------------------------------------------------------------------------------

    TopicMetadata topic() {
      return new TopicMetadata(uuid(), str(), i32(), TopicConfig.fromJson(new JsonObject(str())));
    }

    LogRecord logRecord() {
      byte[] key = bytes();
      byte[] value = bytes();
      String contentType = str();
      List<dev.runnel.durability.Header> headers = list(r -> new dev.runnel.durability.Header(r.str(), r.bytes()));
      return new LogRecord(key, value, contentType, headers, str(), i64(), i64());
    }

    List<LogRecord> logRecords() {
      return list(Reader::logRecord);
    }

    AppendResult appendResult() {
      long base = i64();
      long timestamp = i64();
      int count = i32();
      if (count < 0) {
        return new AppendResult(base, timestamp);
      }
      AppendResult.Duplicate[] duplicates = new AppendResult.Duplicate[count];
      for (int i = 0; i < count; i++) {
        duplicates[i] = bool() ? new AppendResult.Duplicate(i64(), i64()) : null;
      }
      return new AppendResult(base, timestamp, duplicates);
    }

    ReadResult readResult() {
      return new ReadResult(logRecords(), i64(), i64(), i64());
    }

    PartitionOffsets offsets() {
      return new PartitionOffsets(i32(), i64(), i64());
    }

    DeadLetterOrigin origin() {
      return new DeadLetterOrigin(str(), uuid(), i32(), i64(), uuid(), i32(), i64(), str(), i64());
    }

    // ---- the broker's values -----------------------------------------------------------------------------------

    JoinRequest joinRequest() {
      List<String> topics = strings();
      GroupMode mode = optEnum(GroupMode.values());
      long session = i64();
      long lease = i64();
      boolean latest = bool();
      Integer maxFreeReleases = optInt();
      return new JoinRequest(topics, mode, session, lease, latest,
          maxFreeReleases == null ? null : new JoinRequest.LinkBound(maxFreeReleases));
    }

    Membership membership() {
      return new Membership(str(), i32(), assignment());
    }

    StoredRecord storedRecord() {
      byte[] key = bytes();
      byte[] value = bytes();
      String contentType = str();
      List<Header> headers = list(r -> new Header(r.str(), r.bytes()));
      return new StoredRecord(key, value, contentType, headers, str(), i64(), i64());
    }

    Delivery delivery() {
      return new Delivery(str(), str(), i32(), i64(), i32(), i64(), storedRecord());
    }

    List<Delivery> deliveries() {
      return list(Reader::delivery);
    }

    Outcomes outcomes() {
      List<String> acks = strings();
      List<Outcomes.Nack> nacks = list(r -> new Outcomes.Nack(r.str(), r.optLong(), r.str()));
      List<Outcomes.Reject> rejects = list(r -> new Outcomes.Reject(r.str(), r.str()));
      List<Outcomes.Extend> extensions = list(r -> new Outcomes.Extend(r.str(), r.optLong()));
      return new Outcomes(acks, nacks, rejects, extensions, strings());
    }

    List<OutcomeResult> outcomeResults() {
      return list(r -> new OutcomeResult(r.str(), r.optEnum(OutcomeResult.Status.values())));
    }

    List<SeekPosition> seekPositions() {
      return list(r -> new SeekPosition(r.i32(), r.optEnum(SeekPosition.Kind.values()), r.i64()));
    }

    List<SeekResult> seekResults() {
      return list(r -> new SeekResult(r.i32(), r.optLong(), r.i64()));
    }

    GroupDescription groupDescription() {
      String name = str();
      GroupMode mode = optEnum(GroupMode.values());
      int generation = i32();
      List<GroupDescription.Member> members = list(r -> new GroupDescription.Member(r.str(), r.strings(),
          r.assignment()));
      List<GroupDescription.PartitionLag> partitions = list(r -> new GroupDescription.PartitionLag(r.str(), r.i32(),
          r.i64(), r.i64(), r.i64(), r.i64(), r.i64(), r.str()));
      return new GroupDescription(name, mode, generation, members, partitions);
    }

    List<DeadLetter> deadLetters() {
      return list(r -> new DeadLetter(r.str(), r.i32(), r.i64(), r.str(), r.i32(), r.i64(), r.str(), r.i64(),
          r.storedRecord()));
    }
  }
}
