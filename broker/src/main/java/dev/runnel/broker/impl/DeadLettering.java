package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.impl.RecordTable.Entry;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.LogRecord;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A state machine's dead letters (DESIGN.md section 4): a record's move to the group's dead-letter topic (after its
 * last retry, on reject, or when retention is about to remove it parked), appended with its dead-letter origin row in
 * one statement and retried until stored; only then is the record done. And the way back: a redrive to the group
 * makes dead letters records that wait for their key's turn again. Confined to its group's context.
 */
final class DeadLettering {

  private static final Logger LOG = LoggerFactory.getLogger(DeadLettering.class);
  /** How long a failed dead-letter append waits before it is tried again (by the injected clock). */
  private static final long RETRY_MS = 1000;

  private final PartitionDelivery machine;
  private final PartitionLeader log;
  private final GroupStateStore states;
  private final PartitionDelivery.Host host;
  private final GroupMeters meters;
  private final RecordTable table;
  private final DeliveryWindow window;
  private final PositionSaver saver;
  private final HandOut handOut;
  private final WindowLoader loader;
  /** Entries whose dead letter is being stored (or waits to be retried). */
  private final Set<Entry> sending = new HashSet<>();
  /** Appends in flight. */
  private int inFlight;

  DeadLettering(PartitionDelivery machine, PartitionLeader log, GroupStateStore states, PartitionDelivery.Host host,
                GroupMeters meters, RecordTable table, DeliveryWindow window, PositionSaver saver, HandOut handOut,
                WindowLoader loader) {
    this.machine = machine;
    this.log = log;
    this.states = states;
    this.host = host;
    this.meters = meters;
    this.table = table;
    this.window = window;
    this.saver = saver;
    this.handOut = handOut;
    this.loader = loader;
  }

  /** Dead-letters the record for {@code reason}; the future completes once it is stored, or failed to be (retried). */
  Future<Void> deadLetter(Entry e, String reason) {
    handOut.endLease(e);
    sending.add(e);
    e.state = e.state.to(RecordState.DEAD_LETTERING);
    e.deadLetterReason = reason;
    table.take(e);
    return send(e);
  }

  /** The record is done (its dead letter stored), or gone with a seek: nothing more to send for it. */
  void forget(Entry e) {
    sending.remove(e);
  }

  /** No append in flight. */
  boolean idle() {
    return inFlight == 0;
  }

  /** Tries again, into {@code work}, the appends that failed and whose wait is over at {@code now}. */
  void retryDue(long now, List<Future<Void>> work) {
    for (Entry e : new ArrayList<>(sending)) {
      if (e.state == RecordState.DEAD_LETTERING && e.deadLetterRetryAt <= now) {
        work.add(send(e));
      }
    }
  }

  /**
   * Appends the dead letter with its origin row in one statement; a repeated attempt finds the origin and does not
   * append again. Only then is the record done (and its parked row deleted).
   */
  private Future<Void> send(Entry e) {
    if (machine.closed()) {
      return Future.succeededFuture();
    }
    e.deadLetterRetryAt = Long.MAX_VALUE;
    inFlight++;
    String group = machine.group;
    int partition = machine.partition;
    Future<LogRecord> record = e.record != null ? Future.succeededFuture(e.record)
        : log.read(e.offset, 1, WindowLoader.READ_BYTES).map(r -> r.records().get(0));
    return record.compose(r -> {
      e.record = r;
      return states.deadLetterOrigin(group, machine.topic.id(), partition, e.offset);
    }).compose(existing -> existing != null ? Future.succeededFuture()
        : host.deadLetterLeader(machine.topic, partition).compose(dlq -> dlq.appendDeadLetters(List.of(envelope(e)),
            List.of(new DeadLetterOrigin(group, machine.topic.id(), partition, e.offset, null, partition, -1,
                e.deadLetterReason, host.now())), host.groupEpoch())).mapEmpty())
        .<Void>transform(ar -> {
          inFlight--;
          if (table.get(e.offset) != e || e.state != RecordState.DEAD_LETTERING) {
            return Future.succeededFuture();  // a seek dropped it meanwhile
          }
          if (ar.succeeded()) {
            meters.deadLettered(e.deadLetterReason);
            machine.finish(e);
          } else {
            LOG.warn("group {}: could not dead-letter {}/{}@{}, will retry: {}", group, machine.topic.name(),
                partition, e.offset, ar.cause().getMessage());
            e.deadLetterRetryAt = host.now() + RETRY_MS;
          }
          return Future.succeededFuture();
        });
  }

  private LogRecord envelope(Entry e) {
    return DeadLetterEnvelope.wrap(e.record, new DeadLetterEnvelope.Failure(machine.topic.name(), machine.partition,
        e.offset, machine.group, e.attempts, e.firstFailure, e.lastFailure, e.lastError, e.deadLetterReason));
  }

  /**
   * Retention is dropping these parked records' segment: dead-letter them now, while they can still be read. Fails
   * when one could not be stored: retention keeps the segment and tries again later.
   */
  Future<Void> expire(List<Long> offsets) {
    List<Future<Void>> letters = new ArrayList<>();
    for (long offset : offsets) {
      Entry e = table.get(offset);
      if (e == null || e.state == RecordState.DONE || e.state == RecordState.DEAD_LETTERING) {
        continue;
      }
      e.failure("retention removed the record before it was processed", host.now());
      letters.add(deadLetter(e, PartitionDelivery.EXPIRED).compose(v -> e.state == RecordState.DONE
          ? Future.<Void>succeededFuture()
          : Future.failedFuture("could not dead-letter " + machine.topic.name() + "/" + machine.partition + "@"
              + offset)));
    }
    return Future.all(letters).mapEmpty();
  }

  /**
   * Re-delivers dead letters of this partition to this group: they become records waiting for their key's turn.
   * Completes once saved: the records' parked rows and the deletion of their dead-letter origins commit together, so
   * a crash leaves either the dead letters as they were or the records redriven, never neither.
   */
  Future<Integer> redrive(List<DeadLetterOrigin> origins) {
    List<Future<LogRecord>> reads = new ArrayList<>();
    for (DeadLetterOrigin o : origins) {
      reads.add(WindowLoader.readOne(log, o.offset()));
    }
    return Future.join(reads).compose(v -> {
      if (machine.closed()) {
        return Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "group " + machine.group
            + " was deleted"));
      }
      int redriven = 0;
      for (Future<LogRecord> f : reads) {
        LogRecord r = f.result();
        Entry held = r == null ? null : table.get(r.offset());
        if (r == null || held != null && held.state != RecordState.DONE) {
          continue;  // gone with retention, or not finished in the first place
        }
        Entry e = Entry.of(r);
        loader.redriven(e.offset);
        table.add(e, e.offset < window.committed());
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
}
