package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.OutcomeResult.Status;
import dev.runnel.broker.Partitioner;
import dev.runnel.broker.RetryPolicy;
import dev.runnel.broker.SeekPosition;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.ParkedRecord;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.eventbus.MessageConsumer;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * The delivery state machine of one group in one partition (DESIGN.md section 4). Confined to its group's context:
 * no locks. It owns the committed offset, the window of loaded records past it, the parked records below it, the
 * in-flight leases (one deadline queue), and which keys are blocked.
 *
 * <p>Rules: a keyed record is handed out only when it is the lowest unfinished offset of its key (retries included),
 * so a key is processed one record at a time in offset order; unkeyed records never block. The committed offset
 * advances over records that are done, and over records that wait (a retry, or a record blocked behind its key's
 * head) by parking them: their rows are written in the same statement as the offset that passes them. So a waiting
 * retry never pins the window; parking is bounded, and at the bound the window stops advancing.
 */
final class PartitionDelivery {

  private static final Logger LOG = LoggerFactory.getLogger(PartitionDelivery.class);
  private static final int READ_BYTES = 4 * 1024 * 1024;

  /** Why a record was dead-lettered: its {@code runnel.dlq.reason} header, and the dead-letter counter's label. */
  static final String REJECTED = "rejected";
  static final String MAX_RETRIES = "max-retries";
  static final String EXPIRED = "expired";

  /** One unfinished (or recently finished) record. */
  private static final class Entry {
    final long offset;
    LogRecord record;
    Integer keyHash;
    RecordState state = RecordState.READY;
    /** Deliveries that failed (nack or lease expiry); the next delivery is attempt {@code attempts + 1}. */
    int attempts;
    long notBefore;
    long firstFailure;
    long lastFailure;
    String lastError;
    long leaseId;
    long deadline;
    /** Its place in the deadline queue while in flight. */
    Leases.Lease<Entry> lease;
    String member;
    /** Times a leaving member gave it back for free (an AMQP link's disconnect); kept in memory only. */
    int freeReleases;
    String deadLetterReason;
    long deadLetterRetryAt;

    Entry(long offset) {
      this.offset = offset;
    }
  }

  interface Host {
    long now();

    double random();

    int windowRecords();

    int maxParked();

    byte[] tokenKey();

    int groupHash();

    /** The leader of the dead-letter topic's partition for this group and topic, the topic created if needed. */
    Future<PartitionLeader> deadLetterLeader(TopicMetadata topic, int partition);

    /** Subscribes to the partition's commit notices, on the group's context (the caller's). */
    MessageConsumer<Long> commitNotices(TopicPartition partition, java.util.function.LongConsumer onHighWatermark);

    /** Something may have become deliverable: wake the long polls. */
    void deliverable();

    /** The lease length of a member (the default when it is gone). */
    long leaseMs(String member);

    /** The epoch of the group's lease: every write of the group's state is fenced by it. */
    long groupEpoch();
  }

  final String group;
  /** Replaced when the topic's config changes or it grows (its id and name stay). */
  TopicMetadata topic;
  final int partition;
  private final PartitionLeader log;
  private final GroupStateStore states;
  private final Host host;
  private final GroupMeters meters;
  private RetryPolicy policy;

  private final TreeMap<Long, Entry> entries = new TreeMap<>();
  private final TreeSet<Long> ready = new TreeSet<>();
  private final KeyOrder keyOrder = new KeyOrder();
  private final Leases<Entry> leases = new Leases<>();
  private final PositionSaver saver = new PositionSaver(new SavedPosition());
  private final OldestRecordTime oldestTime;
  /** Entries whose dead letter is being stored (or waits to be retried). */
  private final Set<Entry> deadLettering = new HashSet<>();
  /** Offsets past the committed one whose dead letter is stored (found at load): done when they are read. */
  private final Set<Long> deadLetteredAhead = new HashSet<>();

  private long incarnation;
  private long committed;
  private long skipped;
  /** The log start the last skip moved to: offsets below it that have no entry were removed by retention. */
  private long skippedBelow;
  private long loadedUpTo;
  private long highWatermark;
  private int parkedCount;
  private boolean reading;
  private int deadLettersInFlight;
  private final Set<Long> loadingRecords = new HashSet<>();
  private Future<Void> loaded;
  /** Its subscription to the partition's commit notices, from its load on. */
  private MessageConsumer<Long> commitNotices;
  /** Its group was deleted: it does nothing more (no read, save, hand-out or dead letter). */
  private boolean closed;
  /** The member that owns this partition in partitioned mode. */
  String owner;

  PartitionDelivery(String group, TopicMetadata topic, int partition, PartitionLeader log, GroupStateStore states,
                    Host host, RetryPolicy policy, GroupMeters meters) {
    this.group = group;
    this.topic = topic;
    this.partition = partition;
    this.log = log;
    this.states = states;
    this.host = host;
    this.policy = policy;
    this.meters = meters;
    this.incarnation = newIncarnation();
    this.oldestTime = new OldestRecordTime(log);
  }

  private long newIncarnation() {
    return (long) (host.random() * Long.MAX_VALUE) ^ System.nanoTime();
  }

  void policy(RetryPolicy policy) {
    this.policy = policy;
  }

  void topic(TopicMetadata changed) {
    this.topic = changed;
  }

  /**
   * Its group is being deleted: from now on it hands out nothing, accepts no outcome (LEASE_EXPIRED), and starts no
   * read, save or dead letter; what is in flight finishes ({@link #idle} tells when).
   */
  void close() {
    closed = true;
    leases.clear();
    failRedrives();
    if (commitNotices != null) {
      commitNotices.unregister();
    }
  }

  private void failRedrives() {
    saver.failRedrives(new BrokerException(BrokerError.UNAVAILABLE, "group " + group + " stopped serving "
        + topic.name() + "/" + partition + " before the redrive was saved; nothing was redriven"));
  }

  // ---- loading ---------------------------------------------------------------------------------------------------

  /**
   * Loads the stored position and parked records once; later calls answer the same future, except after a failed
   * load (which changed nothing), which is tried again.
   */
  Future<Void> load(boolean startAtLatest) {
    if (closed) {
      return Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "group " + group + " was deleted"));
    }
    if (loaded == null || loaded.failed()) {
      loaded = Future.all(states.load(group, topic.id(), partition), log.offsets()).map(all -> {
        var state = all.<dev.runnel.durability.GroupPartitionState>resultAt(0);
        var offsets = all.<dev.runnel.durability.PartitionOffsets>resultAt(1);
        highWatermark = offsets.highWatermark();
        committed = state.committedOffset() >= 0 ? state.committedOffset()
            : startAtLatest ? offsets.highWatermark() : offsets.logStartOffset();
        if (state.committedOffset() < 0) {
          saver.committedChanged();
        }
        skipped = state.skipped();
        loadedUpTo = committed;
        Set<Long> deadLettered = new HashSet<>(state.deadLettered());
        for (ParkedRecord p : state.parked()) {
          if (deadLettered.contains(p.offset())) {
            // Its dead letter is stored; a stop came before it was saved as done: done now, its row goes (past the
            // committed offset, once it is passed: the read marks it done).
            saver.stored(p.offset());
            saver.changed(p.offset());
            if (p.offset() < committed) {
              deadLettered.remove(p.offset());
            }
            continue;
          }
          Entry e = new Entry(p.offset());
          e.keyHash = p.keyHash();
          e.attempts = p.attempts();
          e.notBefore = p.notBefore();
          e.firstFailure = p.firstFailure();
          e.lastFailure = p.lastFailure();
          e.lastError = p.lastError();
          entries.put(e.offset, e);
          saver.stored(e.offset);
        }
        deadLetteredAhead.addAll(deadLettered);
        rebuildIndexes();
        commitNotices = host.commitNotices(new TopicPartition(topic.id(), partition), this::onHighWatermark);
        return null;
      });
      loaded.onSuccess(v -> {
        fill();
        loadWaitingRecords();
      });
    }
    return loaded;
  }

  private void onHighWatermark(long hw) {
    if (!closed && hw > highWatermark) {
      highWatermark = hw;
      fill();
    }
  }

  /**
   * Loads records into the window when it has room and the log has more. From the backlog it waits until half the
   * window is free, so it reads in large chunks rather than one record per ack; at the tail it reads whatever came.
   */
  private void fill() {
    int window = host.windowRecords();
    int room = window - (int) Math.min(Integer.MAX_VALUE, loadedUpTo - committed);
    if (closed || loaded == null || !loaded.succeeded() || reading || room <= 0 || loadedUpTo >= highWatermark) {
      return;
    }
    boolean backlog = highWatermark - loadedUpTo >= room;
    if (backlog && room < Math.max(1, window / 2)) {
      return;
    }
    reading = true;
    long from = loadedUpTo;
    log.read(from, room, READ_BYTES).onComplete(ar -> {
      reading = false;
      if (closed) {
        return;
      }
      if (ar.failed()) {
        if (ar.cause() instanceof StorageException s && s.failure() == StorageFailure.OFFSET_OUT_OF_RANGE) {
          skipToLogStart();
        } else {
          LOG.warn("group {} could not read {}/{} at {}: {}", group, topic.name(), partition, from, ar.cause().getMessage());
        }
        return;
      }
      if (from != loadedUpTo) {
        return;  // a seek moved the window meanwhile
      }
      highWatermark = Math.max(highWatermark, ar.result().highWatermark());
      for (LogRecord r : ar.result().records()) {
        Entry e = entries.get(r.offset());
        if (e == null) {
          e = new Entry(r.offset());
          e.keyHash = r.key() == null ? null : Partitioner.murmur2(r.key());
          if (deadLetteredAhead.remove(e.offset)) {
            e.state = e.state.to(RecordState.DONE);  // dead-lettered before a stop that came before it was saved as done
          }
          entries.put(e.offset, e);
          index(e);
        }
        e.record = r;
      }
      loadedUpTo = ar.result().nextOffset();
      advance();
      host.deliverable();
      fill();
    });
  }

  /** The group's position fell below the retained log: move to the log start and count what was skipped. */
  private void skipToLogStart() {
    reading = true;  // no fill meanwhile, and idle() waits for it
    log.offsets().onComplete(ar -> {
      reading = false;
      if (ar.failed()) {
        LOG.warn("group {} could not read the log start of {}/{}: {}", group, topic.name(), partition,
            ar.cause().getMessage());
        return;
      }
      var o = ar.result();
      if (loadedUpTo < o.logStartOffset()) {
        long lost = 0;
        for (Iterator<Entry> it = entries.subMap(committed, o.logStartOffset()).values().iterator(); it.hasNext(); ) {
          Entry e = it.next();
          if (e.state != RecordState.DONE && e.state != RecordState.IN_FLIGHT && !saver.hasRow(e.offset)) {
            it.remove();
            unindex(e);
            lost++;
          }
        }
        skipped += (o.logStartOffset() - loadedUpTo) + lost;
        loadedUpTo = o.logStartOffset();
        skippedBelow = loadedUpTo;
        if (committed < loadedUpTo && entries.subMap(committed, loadedUpTo).isEmpty()) {
          committed = loadedUpTo;
        }
        saver.committedChanged();
        LOG.warn("group {} skipped to the log start {} of {}/{}: retention removed records it had not read",
            group, loadedUpTo, topic.name(), partition);
        saver.save();
        fill();
      }
    });
  }

  /** Parked records whose turn has come but whose content is not in memory are read from the log. */
  private void loadWaitingRecords() {
    if (closed) {
      return;
    }
    long now = host.now();
    for (Long offset : ready) {
      Entry e = entries.get(offset);
      if (e.record == null && !loadingRecords.contains(offset) && isKeyHead(e) && e.notBefore <= now) {
        loadingRecords.add(offset);
        log.read(offset, 1, READ_BYTES).onComplete(ar -> {
          loadingRecords.remove(offset);
          Entry current = entries.get(offset);
          if (current == null) {
            return;
          }
          if (ar.succeeded() && !ar.result().records().isEmpty() && ar.result().records().get(0).offset() == offset) {
            current.record = ar.result().records().get(0);
            host.deliverable();
          } else if (ar.failed() && ar.cause() instanceof StorageException s
              && s.failure() == StorageFailure.OFFSET_OUT_OF_RANGE) {
            // Retention removed it before it could be retried; it can no longer be dead-lettered with its content.
            LOG.warn("group {}: parked record {}/{}@{} was removed by retention", group, topic.name(), partition, offset);
            skipped++;
            finish(current);
          }
        });
      }
    }
  }

  // ---- hand-out --------------------------------------------------------------------------------------------------

  /**
   * Hands out eligible records to a member, in offset order, within the bounds; the first may exceed
   * {@code maxBytes} only if {@code firstMayExceed} (a fetch returns at least one record).
   */
  List<Delivery> handOut(String member, int maxRecords, long maxBytes, long leaseMs, boolean firstMayExceed,
                         long[] handedBytes) {
    List<Delivery> out = new ArrayList<>();
    if (closed || loaded == null || !loaded.succeeded() || maxRecords <= 0) {
      return out;
    }
    long now = host.now();
    long bytes = 0;
    boolean needRecords = false;
    List<Entry> chosen = new ArrayList<>();
    for (Long offset : ready) {
      if (chosen.size() >= maxRecords) {
        break;
      }
      Entry e = entries.get(offset);
      if (e.notBefore > now || !isKeyHead(e)) {
        continue;
      }
      if (e.attempts > policy.maxRetries()) {
        continue;  // its attempts are used up: the next tick dead-letters it
      }
      if (e.record == null) {
        needRecords = true;
        continue;
      }
      int size = e.record.encodedSize();
      if ((!chosen.isEmpty() || !firstMayExceed) && bytes + size > maxBytes) {
        break;
      }
      bytes += size;
      chosen.add(e);
    }
    handedBytes[0] += bytes;
    for (Entry e : chosen) {
      ready.remove(e.offset);
      e.state = e.state.to(RecordState.IN_FLIGHT);
      e.leaseId = leases.nextId();
      e.member = member;
      leaseUntil(e, now + leaseMs);
      out.add(delivery(e));
      if (e.attempts == 0) {
        meters.deliveryLatency.record(Math.max(0, now - e.record.timestamp()), TimeUnit.MILLISECONDS);
      }
    }
    if (needRecords) {
      loadWaitingRecords();
    }
    if (!out.isEmpty()) {
      meters.delivered.increment(out.size());
    }
    return out;
  }

  private boolean isKeyHead(Entry e) {
    return keyOrder.isHead(e.keyHash, e.offset);
  }

  // ---- outcomes --------------------------------------------------------------------------------------------------

  /** The entry a token leases, if the lease is current. */
  private Entry current(DeliveryToken t) {
    if (closed || t.incarnation() != incarnation) {
      return null;
    }
    Entry e = entries.get(t.offset());
    return e != null && e.state == RecordState.IN_FLIGHT && e.leaseId == t.leaseId() ? e : null;
  }

  /** Retention is dropping these parked records' segment: dead-letter them now, while they can still be read. */
  Future<Void> expire(List<Long> offsets) {
    List<Future<Void>> letters = new ArrayList<>();
    for (long offset : offsets) {
      Entry e = entries.get(offset);
      if (e == null || e.state == RecordState.DONE || e.state == RecordState.DEAD_LETTERING) {
        continue;
      }
      long now = host.now();
      e.lastError = "retention removed the record before it was processed";
      e.lastFailure = now;
      if (e.firstFailure == 0) {
        e.firstFailure = now;
      }
      // If the dead letter could not be stored, fail: retention keeps the segment and tries again later.
      letters.add(deadLetter(e, EXPIRED).compose(v -> e.state == RecordState.DONE ? Future.<Void>succeededFuture()
          : Future.failedFuture("could not dead-letter " + topic.name() + "/" + partition + "@" + offset)));
    }
    return Future.all(letters).mapEmpty();
  }

  /** Gives a delivery back without counting an attempt (its consumer never saw it). */
  Status release(DeliveryToken t) {
    Entry e = current(t);
    if (e == null) {
      return Status.LEASE_EXPIRED;
    }
    toReady(e);
    host.deliverable();
    return Status.OK;
  }

  Status ack(DeliveryToken t) {
    Entry e = current(t);
    if (e == null) {
      return t.incarnation() == incarnation && leases.wasAcked(t.leaseId()) ? Status.OK : Status.LEASE_EXPIRED;
    }
    leases.acked(e.leaseId);
    meters.acked.increment();
    finish(e);
    return Status.OK;
  }

  /** Answers once the outcome took effect: after the dead letter is stored when this was the last retry. */
  Future<Status> nack(DeliveryToken t, Long delayMs, String error) {
    Entry e = current(t);
    if (e == null) {
      return Future.succeededFuture(Status.LEASE_EXPIRED);
    }
    meters.nacked.increment();
    return failed(e, error, delayMs).map(Status.OK);
  }

  /** Answers once the dead letter is stored (or, if storing it failed, will be retried). */
  Future<Status> reject(DeliveryToken t, String error) {
    Entry e = current(t);
    if (e == null) {
      return Future.succeededFuture(Status.LEASE_EXPIRED);
    }
    long now = host.now();
    e.lastError = error;
    e.lastFailure = now;
    if (e.firstFailure == 0) {
      e.firstFailure = now;
    }
    e.attempts++;
    meters.rejected.increment();
    return deadLetter(e, REJECTED).map(Status.OK);
  }

  /** @param leaseMs null: the member's own lease length */
  Status extend(DeliveryToken t, Long leaseMs) {
    Entry e = current(t);
    if (e == null) {
      return Status.LEASE_EXPIRED;
    }
    long ms = leaseMs != null ? leaseMs : host.leaseMs(e.member);
    leaseUntil(e, host.now() + Math.max(1, Math.min(ms, dev.runnel.broker.JoinRequest.MAX_LEASE_MS)));
    return Status.OK;
  }

  /** Sets the deadline of the entry's current lease (its place in the deadline queue). */
  private void leaseUntil(Entry e, long deadline) {
    endLease(e);
    e.deadline = deadline;
    e.lease = leases.start(e.leaseId, deadline, e);
  }

  /** The entry is no longer in flight: its lease leaves the deadline queue. */
  private void endLease(Entry e) {
    if (e.lease != null) {
      leases.end(e.lease);
      e.lease = null;
    }
  }

  /** A delivery failed (nack or lease expiry): retry after the backoff, or dead-letter after the last retry. */
  private Future<Void> failed(Entry e, String error, Long delayMs) {
    long now = host.now();
    e.attempts++;
    e.lastError = error;
    e.lastFailure = now;
    if (e.firstFailure == 0) {
      e.firstFailure = now;
    }
    if (e.attempts > policy.maxRetries()) {
      return deadLetter(e, MAX_RETRIES);
    }
    long delay = delayMs != null ? Math.min(Math.max(0, delayMs), policy.maxDelayMs())
        : policy.delayMs(e.attempts, host::random);
    e.notBefore = now + delay;
    toReady(e);
    saver.changed(e.offset);
    advance();
    saver.save();
    if (delay == 0) {
      host.deliverable();
    }
    return Future.succeededFuture();
  }

  private void toReady(Entry e) {
    endLease(e);
    e.state = e.state.to(RecordState.READY);
    e.member = null;
    ready.add(e.offset);
  }

  /** Acked or dead-lettered: the record is done. */
  private void finish(Entry e) {
    endLease(e);
    deadLettering.remove(e);
    e.state = e.state.to(RecordState.DONE);
    e.member = null;
    ready.remove(e.offset);
    unindex(e);
    if (e.offset < committed) {
      entries.remove(e.offset);
      parkedCount--;
    }
    saver.changed(e.offset);
    advance();
    saver.save();
    host.deliverable();
  }

  private Future<Void> deadLetter(Entry e, String reason) {
    endLease(e);
    deadLettering.add(e);
    e.state = e.state.to(RecordState.DEAD_LETTERING);
    e.member = null;
    e.deadLetterReason = reason;
    ready.remove(e.offset);
    return sendDeadLetter(e);
  }

  /**
   * Appends the dead letter with its origin row in one statement; a repeated attempt finds the origin and does not
   * append again. Only then is the record done (and its parked row deleted).
   */
  private Future<Void> sendDeadLetter(Entry e) {
    if (closed) {
      return Future.succeededFuture();
    }
    e.deadLetterRetryAt = Long.MAX_VALUE;
    deadLettersInFlight++;
    Future<LogRecord> record = e.record != null ? Future.succeededFuture(e.record)
        : log.read(e.offset, 1, READ_BYTES).map(r -> r.records().get(0));
    return record.compose(r -> {
      e.record = r;
      return states.deadLetterOrigin(group, topic.id(), partition, e.offset);
    }).compose(existing -> existing != null ? Future.succeededFuture()
        : host.deadLetterLeader(topic, partition).compose(dlq -> dlq.appendDeadLetters(List.of(envelope(e)),
            List.of(new DeadLetterOrigin(group, topic.id(), partition, e.offset, null, partition, -1,
                e.deadLetterReason, host.now())), host.groupEpoch())).mapEmpty())
        .<Void>transform(ar -> {
          deadLettersInFlight--;
          Entry current = entries.get(e.offset);
          if (current != e || e.state != RecordState.DEAD_LETTERING) {
            return Future.succeededFuture();  // a seek dropped it meanwhile
          }
          if (ar.succeeded()) {
            meters.deadLettered(e.deadLetterReason);
            finish(e);
          } else {
            LOG.warn("group {}: could not dead-letter {}/{}@{}, will retry: {}", group, topic.name(), partition,
                e.offset, ar.cause().getMessage());
            e.deadLetterRetryAt = host.now() + 1000;
          }
          return Future.succeededFuture();
        });
  }

  private LogRecord envelope(Entry e) {
    return DeadLetterEnvelope.wrap(e.record, new DeadLetterEnvelope.Failure(topic.name(), partition, e.offset, group,
        e.attempts, e.firstFailure, e.lastFailure, e.lastError, e.deadLetterReason));
  }

  /** An in-flight entry as its delivery: the same token every time it is asked for, for as long as the lease lasts. */
  private Delivery delivery(Entry e) {
    int attempt = e.attempts + 1;
    String token = new DeliveryToken(topic.id(), partition, e.offset, attempt, e.leaseId, incarnation,
        host.groupHash()).encode(host.tokenKey());
    return new Delivery(token, topic.name(), partition, e.offset, attempt, e.deadline, Values.record(e.record));
  }

  /** How many deliveries the member holds under lease here. */
  int countLeasedTo(String member) {
    int n = 0;
    for (Entry e : entries.values()) {
      if (e.state == RecordState.IN_FLIGHT && member.equals(e.member)) {
        n++;
      }
    }
    return n;
  }

  /** The member's deliveries still under lease here, by offset. */
  List<Delivery> leasedTo(String member) {
    List<Delivery> out = new ArrayList<>();
    for (Entry e : entries.values()) {
      if (e.state == RecordState.IN_FLIGHT && member.equals(e.member) && e.record != null) {
        out.add(delivery(e));
      }
    }
    return out;
  }

  /**
   * Gives back a member's leases: on leave or rebalance without counting an attempt; on session expiry as a
   * failure.
   */
  void release(String member, boolean countAttempt) {
    List<Entry> held = new ArrayList<>();
    for (Entry e : entries.values()) {
      if (e.state == RecordState.IN_FLIGHT && (member == null || member.equals(e.member))) {
        held.add(e);
      }
    }
    for (Entry e : held) {
      if (countAttempt) {
        meters.leaseExpired.increment();
        failed(e, "session of member " + e.member + " expired", null);
      } else {
        toReady(e);
      }
    }
    if (!held.isEmpty()) {
      host.deliverable();
    }
  }

  /**
   * Gives back what a leaving member held, with no attempt counted, except for a record given back for free
   * {@code maxFreeReleases} times already: that one counts an attempt, as a failure (DESIGN.md section 7: a message
   * that crashes its consumer is dead-lettered in the end).
   */
  void releaseOnLeave(String member, int maxFreeReleases) {
    List<Entry> held = new ArrayList<>();
    for (Entry e : entries.values()) {
      if (e.state == RecordState.IN_FLIGHT && member.equals(e.member)) {
        held.add(e);
      }
    }
    for (Entry e : held) {
      if (e.freeReleases >= maxFreeReleases) {
        failed(e, "its consumer left without settling it more than " + maxFreeReleases + " times", null);
      } else {
        e.freeReleases++;
        toReady(e);
      }
    }
    if (!held.isEmpty()) {
      host.deliverable();
    }
  }

  // ---- time ------------------------------------------------------------------------------------------------------

  /**
   * Expires leases, retries failed dead-letter appends, and tells whether a retry became due. The future completes
   * once the dead letters this caused are stored (or have failed and will be retried).
   */
  Future<Boolean> tick(long now) {
    if (closed) {
      return Future.succeededFuture(false);
    }
    List<Future<Void>> work = new ArrayList<>();
    for (Entry e = leases.pollDue(now); e != null; e = leases.pollDue(now)) {
      e.lease = null;
      meters.leaseExpired.increment();
      work.add(failed(e, "lease expired", null));
    }
    boolean due = false;
    List<Entry> spent = new ArrayList<>();
    for (Long offset : ready) {
      Entry e = entries.get(offset);
      if (e.attempts > policy.maxRetries()) {
        // Attempts used up without a dead letter: a crash caught it in flight, or the policy was lowered.
        spent.add(e);
      } else if (e.attempts > 0 && e.notBefore <= now && isKeyHead(e)) {
        due = true;
      }
    }
    for (Entry e : spent) {
      work.add(deadLetter(e, MAX_RETRIES));
    }
    for (Entry e : new ArrayList<>(deadLettering)) {
      if (e.state == RecordState.DEAD_LETTERING && e.deadLetterRetryAt <= now) {
        work.add(sendDeadLetter(e));
      }
    }
    loadWaitingRecords();
    fill();
    saver.save();
    boolean anyDue = due;
    return Future.join(work).map(anyDue);
  }

  // ---- committed offset ------------------------------------------------------------------------------------------

  /** Moves the committed offset over the done prefix, parking the records that wait. */
  private void advance() {
    boolean moved = false;
    while (committed < loadedUpTo) {
      Entry e = entries.get(committed);
      if (e == null) {
        if (committed < skippedBelow) {
          // A gap a skip to the log start left in the window (records it could not read, or removed): pass it, up to
          // the next record still in the window (one in flight at the skip, say).
          Long next = entries.ceilingKey(committed);
          committed = next == null ? skippedBelow : Math.min(next, skippedBelow);
          moved = true;
          continue;
        }
        // Finished and forgotten (cannot happen in the window) or never loaded: stop.
        break;
      }
      if (e.state == RecordState.DONE) {
        entries.remove(committed);
        if (saver.hasRow(committed)) {
          saver.changed(committed);  // its row goes in the statement that passes it
        }
      } else if (e.state == RecordState.READY && (e.attempts > 0 || !isKeyHead(e))) {
        if (parkedCount >= host.maxParked()) {
          break;
        }
        parkedCount++;
        saver.changed(e.offset);
      } else {
        break;
      }
      committed++;
      moved = true;
    }
    if (moved) {
      saver.committedChanged();
      fill();
    }
  }

  /** The state machine as its {@link PositionSaver} sees it. */
  private final class SavedPosition implements PositionSaver.Position {
    @Override
    public boolean saveable() {
      return !closed && loaded != null && loaded.succeeded();
    }

    @Override
    public long now() {
      return host.now();
    }

    @Override
    public PositionSaver.Change change(long offset) {
      Entry e = entries.get(offset);
      // A record done past the committed offset is not stored as done (the committed offset advances over the done
      // prefix only): after a restart it is delivered again, so its failures stay stored until the offset passes it.
      boolean doneAhead = e != null && e.state == RecordState.DONE && offset >= committed;
      if (doneAhead && e.attempts == 0) {
        return PositionSaver.Change.KEEP;
      }
      if (e != null && (e.state != RecordState.DONE || doneAhead) && (offset < committed || e.attempts > 0)) {
        return PositionSaver.Change.store(new ParkedRecord(offset, e.attempts > 0 ? ParkedRecord.Kind.RETRY
            : ParkedRecord.Kind.BLOCKED, e.keyHash, e.attempts, e.notBefore, e.firstFailure, e.lastFailure,
            e.lastError));
      }
      return PositionSaver.Change.NO_ROW;
    }

    @Override
    public Future<Void> save(List<ParkedRecord> upserts, List<Long> deletes, List<Long> originDeletes) {
      return states.save(group, topic.id(), partition, host.groupEpoch(), committed, skipped, upserts, deletes,
          originDeletes);
    }

    @Override
    public void saveFailed(Throwable cause) {
      LOG.warn("group {}: could not save its position in {}/{}: {}", group, topic.name(), partition,
          cause.getMessage());
      if (closed) {
        failRedrives();  // nobody saves them now
      }
    }
  }

  // ---- seek, lag, redrive ----------------------------------------------------------------------------------------

  /**
   * Where a seek would move the group in this partition: the log start, the high watermark, the first record at or
   * after a time, or an offset inside the retained log (OFFSET_OUT_OF_RANGE outside it).
   */
  static Future<Long> target(PartitionLeader log, String topicName, SeekPosition to) {
    return switch (to.kind()) {
      case EARLIEST -> log.offsets().map(o -> o.logStartOffset());
      case LATEST -> log.offsets().map(o -> o.highWatermark());
      case TIMESTAMP -> log.offsetForTimestamp(to.value());
      case OFFSET -> log.offsets().compose(o -> to.value() < o.logStartOffset() || to.value() > o.highWatermark()
          ? Future.failedFuture(new BrokerException(BrokerError.OFFSET_OUT_OF_RANGE, "offset " + to.value()
              + " is outside [" + o.logStartOffset() + ", " + o.highWatermark() + "] of " + topicName + "/"
              + to.partition()))
          : Future.succeededFuture(to.value()));
    };
  }

  /**
   * Moves the group's position (loaded first): every outstanding token of the partition becomes invalid, parked
   * records at or above the new position are dropped, those below are kept.
   */
  void moveTo(long offset) {
    incarnation = newIncarnation();
    leases.clear();
    deadLetteredAhead.clear();  // a seek replays them
    for (Iterator<Entry> it = entries.values().iterator(); it.hasNext(); ) {
      Entry e = it.next();
      boolean parked = e.offset < committed || e.attempts > 0;
      if (e.offset >= offset || !parked || e.state == RecordState.DONE) {
        it.remove();
        deadLettering.remove(e);
        saver.changed(e.offset);
      } else if (e.state != RecordState.READY) {
        e.state = e.state.to(RecordState.READY);
        e.member = null;
        e.lease = null;
      }
    }
    committed = offset;
    loadedUpTo = offset;
    saver.committedChanged();
    rebuildIndexes();
    saver.save();
    fill();
    host.deliverable();
  }

  Future<GroupDescription.PartitionLag> lag() {
    long records = lagRecords();
    long oldestOffset = oldestUnfinished();
    if (oldestOffset < 0) {
      return Future.succeededFuture(lag(records, 0));
    }
    Entry known = entries.get(oldestOffset);
    Future<LogRecord> record = known != null && known.record != null ? Future.succeededFuture(known.record)
        : log.read(oldestOffset, 1, READ_BYTES).map(r -> r.records().isEmpty() ? null : r.records().get(0))
            .otherwise((LogRecord) null);
    return record.map(r -> lag(records, r == null ? 0 : Math.max(0, host.now() - r.timestamp())));
  }

  /**
   * Adds this partition's lag to its topic's gauges (the group's tick): what {@link #lag()} reports, from memory, the
   * oldest record's time read in the background when it is not in memory ({@link OldestRecordTime}).
   */
  void sampleLag() {
    if (loaded == null || !loaded.succeeded()) {
      return;
    }
    long oldestOffset = oldestUnfinished();
    long timestamp = -1;
    if (oldestOffset >= 0) {
      Entry known = entries.get(oldestOffset);
      timestamp = known != null && known.record != null ? known.record.timestamp() : oldestTime.at(oldestOffset);
    }
    meters.addLag(lagRecords(), timestamp);
  }

  /** Records the group has not finished here: those past the committed offset and those parked below it. */
  private long lagRecords() {
    return (Math.max(highWatermark, committed) - committed) + parkedCount;
  }

  /** The offset of the oldest record not finished (parked, or the first past the committed offset); -1: none. */
  private long oldestUnfinished() {
    Entry first = entries.isEmpty() ? null : entries.firstEntry().getValue();
    return first != null && first.offset < committed ? first.offset
        : committed < Math.max(highWatermark, committed) ? committed : -1;
  }

  private GroupDescription.PartitionLag lag(long records, long ageMs) {
    return new GroupDescription.PartitionLag(topic.name(), partition, committed, Math.max(highWatermark, committed),
        records, ageMs, skipped, owner);
  }

  /**
   * Re-delivers dead letters of this partition to this group: they become records waiting for their key's turn.
   * Completes once saved: the records' parked rows and the deletion of their dead-letter origins commit together, so
   * a crash leaves either the dead letters as they were or the records redriven, never neither.
   */
  Future<Integer> redrive(List<DeadLetterOrigin> origins) {
    List<Future<LogRecord>> reads = new ArrayList<>();
    for (DeadLetterOrigin o : origins) {
      reads.add(log.read(o.offset(), 1, READ_BYTES).map(r -> r.records().isEmpty() ? null : r.records().get(0))
          .otherwise((LogRecord) null));
    }
    return Future.join(reads).compose(v -> {
      if (closed) {
        return Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "group " + group + " was deleted"));
      }
      int redriven = 0;
      for (Future<LogRecord> f : reads) {
        LogRecord r = f.result();
        if (r == null || entries.containsKey(r.offset()) && entries.get(r.offset()).state != RecordState.DONE) {
          continue;  // gone with retention, or not finished in the first place
        }
        Entry e = new Entry(r.offset());
        e.record = r;
        e.keyHash = r.key() == null ? null : Partitioner.murmur2(r.key());
        deadLetteredAhead.remove(e.offset);
        entries.put(e.offset, e);
        if (e.offset < committed) {
          parkedCount++;
        }
        index(e);
        saver.changed(e.offset);
        redriven++;
      }
      Promise<Void> saved = Promise.promise();
      saver.redriven(origins.stream().map(DeadLetterOrigin::offset).toList(), saved);
      host.deliverable();
      int n = redriven;
      return saved.future().map(n);
    });
  }

  // ---- indexes ---------------------------------------------------------------------------------------------------

  private void index(Entry e) {
    if (e.state == RecordState.READY) {
      ready.add(e.offset);
    }
    if (e.state != RecordState.DONE) {
      keyOrder.add(e.keyHash, e.offset);
    }
  }

  private void unindex(Entry e) {
    ready.remove(e.offset);
    keyOrder.remove(e.keyHash, e.offset);
  }

  private void rebuildIndexes() {
    ready.clear();
    keyOrder.clear();
    parkedCount = 0;
    for (Entry e : entries.values()) {
      index(e);
      if (e.offset < committed) {
        parkedCount++;
      }
    }
  }

  long committed() {
    return committed;
  }

  /** Whether its stored position is loaded (so {@link #committed} is the group's position). */
  boolean isLoaded() {
    return loaded != null && loaded.succeeded();
  }

  /** No storage work in flight: no read, save or dead letter (a save held back by the pacing may be pending). */
  boolean idle() {
    return loaded == null || loaded.isComplete() && !reading && !saver.saving() && loadingRecords.isEmpty()
        && deadLettersInFlight == 0;
  }

  /** Changes not yet saved. */
  boolean unsaved() {
    return !closed && saver.unsaved();
  }

  /** Saves the pending changes now, whatever the pacing (a clean stop; tests). */
  void saveNow() {
    saver.saveNow();
  }

  int inFlight() {
    int n = 0;
    for (Entry e : entries.values()) {
      if (e.state == RecordState.IN_FLIGHT) {
        n++;
      }
    }
    return n;
  }
}
