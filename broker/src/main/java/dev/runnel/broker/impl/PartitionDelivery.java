package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.OutcomeResult.Status;
import dev.runnel.broker.RetryPolicy;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.impl.RecordTable.Entry;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.Future;

import java.util.ArrayList;
import java.util.List;

/**
 * The delivery state machine of one group in one partition (DESIGN.md section 4): a record's moves on outcomes
 * (ack, nack, reject, extend, release) and on time (lease expiry, due retries), seek, and its lifecycle (load, close).
 * Confined to its group's context: no locks. Its parts, each with its own state: the records it holds
 * ({@link RecordTable}), the committed offset and window ({@link DeliveryWindow}, saved by a {@link PositionSaver}),
 * their loading ({@link WindowLoader}), the hand-out under lease ({@link HandOut}), dead letters and redrive
 * ({@link DeadLettering}) and the lag ({@link PartitionLag}).
 *
 * <p>Rules: a keyed record is handed out only when it is the lowest unfinished offset of its key (retries included),
 * so a key is processed one record at a time in offset order; unkeyed records never block. The committed offset
 * advances over records that are done, and over records that wait (a retry, or a record blocked behind its key's
 * head) by parking them: their rows are written in the same statement as the offset that passes them. So a waiting
 * retry never pins the window; parking is bounded, and at the bound the window stops advancing.
 */
final class PartitionDelivery {

  /** Why a record was dead-lettered: its {@code runnel.dlq.reason} header, and the dead-letter counter's label. */
  static final String REJECTED = "rejected";
  static final String MAX_RETRIES = "max-retries";
  static final String EXPIRED = "expired";

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
  /** The member that owns this partition in partitioned mode. */
  String owner;
  private final Host host;
  private final GroupMeters meters;
  private RetryPolicy policy;
  /** Its group was deleted: it does nothing more (no read, save, hand-out or dead letter). */
  private boolean closed;
  private final RecordTable table = new RecordTable();
  private final PositionSaver saver;
  private final DeliveryWindow window;
  private final WindowLoader loader;
  private final HandOut handOut;
  private final DeadLettering deadLetters;
  private final PartitionLag lag;

  PartitionDelivery(String group, TopicMetadata topic, int partition, PartitionLeader log, GroupStateStore states,
                    Host host, RetryPolicy policy, GroupMeters meters) {
    this.group = group;
    this.topic = topic;
    this.partition = partition;
    this.host = host;
    this.policy = policy;
    this.meters = meters;
    this.saver = new PositionSaver(new StoredPosition(this, states, host, table));
    this.window = new DeliveryWindow(table, saver);
    this.loader = new WindowLoader(this, log, states, host, table, window, saver);
    this.handOut = new HandOut(this, host, meters, table, loader);
    this.deadLetters = new DeadLettering(this, log, states, host, meters, table, window, saver, handOut, loader);
    this.lag = new PartitionLag(this, log, host, meters, table, window);
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
    handOut.clear();
    failRedrives();
    loader.close();
  }

  boolean closed() {
    return closed;
  }

  /** Its group is being handed over: it reads no more records; outcomes, lease ends and saves go on until closed. */
  void stopReading() {
    loader.stopReading();
  }

  /** Fails the redrives waiting for a save (nobody will save them now). */
  void failRedrives() {
    saver.failRedrives(new BrokerException(BrokerError.UNAVAILABLE, "group " + group + " stopped serving "
        + topic.name() + "/" + partition + " before the redrive was saved; nothing was redriven"));
  }

  /** See {@link WindowLoader#load}. */
  Future<Void> load(boolean startAtLatest) {
    return loader.load(startAtLatest);
  }

  // ---- hand-out --------------------------------------------------------------------------------------------------

  /** See {@link HandOut#handOut}. */
  List<Delivery> handOut(String member, int maxRecords, long maxBytes, long leaseMs, boolean firstMayExceed,
                         long[] handedBytes) {
    if (closed || !loader.isLoaded() || maxRecords <= 0) {
      return new ArrayList<>();
    }
    return handOut.handOut(member, maxRecords, maxBytes, leaseMs, firstMayExceed, handedBytes, policy.maxRetries());
  }

  /** How many deliveries the member holds under lease here. */
  int countLeasedTo(String member) {
    return table.countLeasedTo(member);
  }

  /** The member's deliveries still under lease here, by offset. */
  List<Delivery> leasedTo(String member) {
    return handOut.leasedTo(member);
  }

  /** See {@link HandOut#release(String, boolean)}. */
  void release(String member, boolean countAttempt) {
    handOut.release(member, countAttempt);
  }

  /** See {@link HandOut#releaseOnLeave}. */
  void releaseOnLeave(String member, int maxFreeReleases) {
    handOut.releaseOnLeave(member, maxFreeReleases);
  }

  int inFlight() {
    return table.countLeasedTo(null);
  }

  // ---- outcomes --------------------------------------------------------------------------------------------------

  /** Gives a delivery back without counting an attempt (its consumer never saw it). */
  Status release(DeliveryToken t) {
    Entry e = handOut.current(t);
    if (e == null) {
      return Status.LEASE_EXPIRED;
    }
    toReady(e);
    host.deliverable();
    return Status.OK;
  }

  Status ack(DeliveryToken t) {
    Entry e = handOut.current(t);
    if (e == null) {
      return handOut.wasAcked(t) ? Status.OK : Status.LEASE_EXPIRED;
    }
    handOut.acked(e);
    meters.acked.increment();
    finish(e);
    return Status.OK;
  }

  /** Answers once the outcome took effect: after the dead letter is stored when this was the last retry. */
  Future<Status> nack(DeliveryToken t, Long delayMs, String error) {
    Entry e = handOut.current(t);
    if (e == null) {
      return Future.succeededFuture(Status.LEASE_EXPIRED);
    }
    meters.nacked.increment();
    return failed(e, error, delayMs).map(Status.OK);
  }

  /** Answers once the dead letter is stored (or, if storing it failed, will be retried). */
  Future<Status> reject(DeliveryToken t, String error) {
    Entry e = handOut.current(t);
    if (e == null) {
      return Future.succeededFuture(Status.LEASE_EXPIRED);
    }
    e.failure(error, host.now());
    e.attempts++;
    meters.rejected.increment();
    return deadLetters.deadLetter(e, REJECTED).map(Status.OK);
  }

  /** @param leaseMs null: the member's own lease length */
  Status extend(DeliveryToken t, Long leaseMs) {
    Entry e = handOut.current(t);
    if (e == null) {
      return Status.LEASE_EXPIRED;
    }
    handOut.extend(e, leaseMs);
    return Status.OK;
  }

  /** Retention is dropping these parked records' segment: see {@link DeadLettering#expire}. */
  Future<Void> expire(List<Long> offsets) {
    return deadLetters.expire(offsets);
  }

  /** A delivery failed (nack or lease expiry): retry after the backoff, or dead-letter after the last retry. */
  Future<Void> failed(Entry e, String error, Long delayMs) {
    long now = host.now();
    e.attempts++;
    e.failure(error, now);
    if (e.attempts > policy.maxRetries()) {
      return deadLetters.deadLetter(e, MAX_RETRIES);
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

  /** Given back: the record waits to be handed out again. */
  void toReady(Entry e) {
    handOut.endLease(e);
    e.state = e.state.to(RecordState.READY);
    table.markReady(e);
  }

  /** Acked, dead-lettered, or gone with retention: the record is done. */
  void finish(Entry e) {
    handOut.endLease(e);
    deadLetters.forget(e);
    e.state = e.state.to(RecordState.DONE);
    table.finished(e, e.offset < window.committed());
    saver.changed(e.offset);
    advance();
    saver.save();
    host.deliverable();
  }

  /** Moves the committed offset over the done prefix, parking the records that wait; then refills the window. */
  void advance() {
    if (window.advance(host.maxParked())) {
      loader.fill();
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
    for (Entry e = handOut.expired(now); e != null; e = handOut.expired(now)) {
      meters.leaseExpired.increment();
      work.add(failed(e, "lease expired", null));
    }
    List<Entry> spent = new ArrayList<>();
    boolean due = table.retryDue(now, policy.maxRetries(), spent);
    for (Entry e : spent) {
      work.add(deadLetters.deadLetter(e, MAX_RETRIES));
    }
    deadLetters.retryDue(now, work);
    loader.loadWaitingRecords();
    loader.fill();
    saver.save();
    return Future.join(work).map(due);
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
    handOut.renew();
    loader.replay();
    table.seek(offset, window.committed(), e -> {
      deadLetters.forget(e);
      saver.changed(e.offset);
    });
    window.moveTo(offset);
    saver.save();
    loader.fill();
    host.deliverable();
  }

  Future<GroupDescription.PartitionLag> lag() {
    return lag.lag();
  }

  /** See {@link PartitionLag#sample}. */
  void sampleLag() {
    if (loader.isLoaded()) {
      lag.sample();
    }
  }

  /** See {@link DeadLettering#redrive}. */
  Future<Integer> redrive(List<DeadLetterOrigin> origins) {
    return deadLetters.redrive(origins);
  }

  // ---- position --------------------------------------------------------------------------------------------------

  long committed() {
    return window.committed();
  }

  /** Records the group never processed here because retention removed them first. */
  long skipped() {
    return window.skipped();
  }

  /** Whether its stored position is loaded (so {@link #committed} is the group's position). */
  boolean isLoaded() {
    return loader.isLoaded();
  }

  /** No storage work in flight: no read, save or dead letter (a save held back by the pacing may be pending). */
  boolean idle() {
    return loader.idle() && !saver.saving() && deadLetters.idle();
  }

  /** Changes not yet saved. */
  boolean unsaved() {
    return !closed && saver.unsaved();
  }

  /** Saves the pending changes now, whatever the pacing (a clean stop; tests). */
  void saveNow() {
    saver.saveNow();
  }
}
