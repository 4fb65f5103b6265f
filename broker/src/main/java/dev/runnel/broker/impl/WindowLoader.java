package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.impl.RecordTable.Entry;
import dev.runnel.durability.GroupPartitionState;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.ParkedRecord;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import io.vertx.core.AsyncResult;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.Future;
import io.vertx.core.eventbus.MessageConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.Set;

/**
 * Loads a state machine's records from storage: its stored position and parked rows once, then the window's records
 * from the log as the committed offset advances or the log grows (it listens to the partition's commits for the high
 * watermark), a skip to the log start when retention removed what the group had not read, and the content of parked
 * records whose turn has come. It is the one place that registers and removes the commit listener. Confined to its
 * group's context (the commit listener hops there).
 */
final class WindowLoader {

  private static final Logger LOG = LoggerFactory.getLogger(WindowLoader.class);
  static final int READ_BYTES = 4 * 1024 * 1024;

  private final PartitionDelivery machine;
  private final PartitionLeader log;
  private final GroupStateStore states;
  private final PartitionDelivery.Host host;
  private final RecordTable table;
  private final DeliveryWindow window;
  private final PositionSaver saver;
  /** Offsets past the committed one whose dead letter is stored (found at load): done when they are read. */
  private final Set<Long> deadLetteredAhead = new HashSet<>();
  /** Parked records whose content is being read. */
  private final Set<Long> loadingRecords = new HashSet<>();
  /** Its subscription to the partition's commit notices, from its load on. */
  private MessageConsumer<Long> commitNotices;
  private Future<Void> loaded;
  /** A window read or a skip to the log start is in flight. */
  private boolean reading;
  /** Its group is being handed over: it starts no read, so the saves can catch up while records keep arriving. */
  private boolean stopped;

  WindowLoader(PartitionDelivery machine, PartitionLeader log, GroupStateStore states, PartitionDelivery.Host host,
               RecordTable table, DeliveryWindow window, PositionSaver saver) {
    this.machine = machine;
    this.log = log;
    this.states = states;
    this.host = host;
    this.table = table;
    this.window = window;
    this.saver = saver;
  }

  /**
   * Loads the stored position and parked records once; later calls answer the same future, except after a failed
   * load (which changed nothing), which is tried again.
   */
  Future<Void> load(boolean startAtLatest) {
    if (machine.closed()) {
      return Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "group " + machine.group
          + " was deleted"));
    }
    if (loaded == null || loaded.failed()) {
      loaded = Future.all(states.load(machine.group, machine.topic.id(), machine.partition), log.offsets()).map(all -> {
        loaded(all.<GroupPartitionState>resultAt(0), all.<PartitionOffsets>resultAt(1), startAtLatest);
        commitNotices = host.commitNotices(new TopicPartition(machine.topic.id(), machine.partition),
            this::onHighWatermark);
        return null;
      });
      loaded.onSuccess(v -> {
        fill();
        loadWaitingRecords();
      });
    }
    return loaded;
  }

  private void loaded(GroupPartitionState state, PartitionOffsets offsets, boolean startAtLatest) {
    long committed = state.committedOffset() >= 0 ? state.committedOffset()
        : startAtLatest ? offsets.highWatermark() : offsets.logStartOffset();
    window.loaded(committed, state.skipped(), offsets.highWatermark());
    if (state.committedOffset() < 0) {
      saver.committedChanged();
    }
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
      table.loaded(Entry.parked(p));
      saver.stored(p.offset());
    }
    deadLetteredAhead.addAll(deadLettered);
    table.rebuild(committed);
  }

  boolean isLoaded() {
    return loaded != null && loaded.succeeded();
  }

  /** No read in flight (a load, a window read, a skip, a parked record's content). */
  boolean idle() {
    return loaded == null || loaded.isComplete() && !reading && loadingRecords.isEmpty();
  }

  /** Its group stopped serving the partition: no commit notices from now on. */
  void close() {
    if (commitNotices != null) {
      commitNotices.unregister();
      commitNotices = null;
    }
  }

  /** Its group is being handed over: no read is started from now on (what is in flight finishes). */
  void stopReading() {
    stopped = true;
    close();
  }

  /** Whether it may start a read now. */
  private boolean reads() {
    return !machine.closed() && !stopped;
  }

  /** A redrive brings the record back: it is no longer done when it is read. */
  void redriven(long offset) {
    deadLetteredAhead.remove(offset);
  }

  /** A seek replays the records whose dead letters were found ahead. */
  void replay() {
    deadLetteredAhead.clear();
  }

  /** A commit notice, on the group's context. */
  private void onHighWatermark(long hw) {
    if (reads() && window.raiseHighWatermark(hw)) {
      fill();
    }
  }

  /** Loads records into the window when it has room and the log has more ({@link DeliveryWindow#toRead}). */
  void fill() {
    int room = window.toRead(host.windowRecords());
    if (!reads() || !isLoaded() || reading || room <= 0) {
      return;
    }
    reading = true;
    long from = window.loadedUpTo();
    log.read(from, room, READ_BYTES).onComplete(ar -> {
      reading = false;
      if (!reads()) {
        return;
      }
      if (ar.failed()) {
        if (outOfRange(ar)) {
          skipToLogStart();
        } else {
          LOG.warn("group {} could not read {}/{} at {}: {}", machine.group, machine.topic.name(), machine.partition,
              from, ar.cause().getMessage());
        }
        return;
      }
      if (from != window.loadedUpTo()) {
        return;  // a seek moved the window meanwhile
      }
      window.raiseHighWatermark(ar.result().highWatermark());
      for (LogRecord r : ar.result().records()) {
        Entry e = table.get(r.offset());
        if (e == null) {
          e = Entry.of(r);
          if (deadLetteredAhead.remove(e.offset)) {
            e.state = e.state.to(RecordState.DONE);  // dead-lettered before a stop that came before it was saved as done
          }
          table.add(e, false);
        }
        e.record = r;
      }
      window.loadedTo(ar.result().nextOffset());
      machine.advance();
      host.deliverable();
      fill();
    });
  }

  /** The record at {@code offset} in {@code log}; null when retention removed it or the read failed. */
  static Future<LogRecord> readOne(PartitionLeader log, long offset) {
    return log.read(offset, 1, READ_BYTES).map(r -> r.records().isEmpty() ? null : r.records().get(0))
        .otherwise((LogRecord) null);
  }

  private static boolean outOfRange(AsyncResult<?> ar) {
    return ar.failed() && ar.cause() instanceof StorageException s && s.failure() == StorageFailure.OFFSET_OUT_OF_RANGE;
  }

  /** The group's position fell below the retained log: move to the log start and count what was skipped. */
  private void skipToLogStart() {
    reading = true;  // no fill meanwhile, and idle() waits for it
    log.offsets().onComplete(ar -> {
      reading = false;
      if (ar.failed()) {
        LOG.warn("group {} could not read the log start of {}/{}: {}", machine.group, machine.topic.name(),
            machine.partition, ar.cause().getMessage());
        return;
      }
      if (window.skipTo(ar.result().logStartOffset())) {
        LOG.warn("group {} skipped to the log start {} of {}/{}: retention removed records it had not read",
            machine.group, window.loadedUpTo(), machine.topic.name(), machine.partition);
        saver.save();
        fill();
      }
    });
  }

  /** Parked records whose turn has come but whose content is not in memory are read from the log. */
  void loadWaitingRecords() {
    if (!reads()) {
      return;
    }
    long now = host.now();
    for (Entry e : table.ready()) {
      long offset = e.offset;
      if (e.record == null && !loadingRecords.contains(offset) && table.isKeyHead(e) && e.notBefore <= now) {
        loadingRecords.add(offset);
        log.read(offset, 1, READ_BYTES).onComplete(ar -> {
          loadingRecords.remove(offset);
          Entry current = table.get(offset);
          if (current == null) {
            return;
          }
          if (ar.succeeded() && !ar.result().records().isEmpty() && ar.result().records().get(0).offset() == offset) {
            current.record = ar.result().records().get(0);
            host.deliverable();
          } else if (outOfRange(ar)) {
            // Retention removed it before it could be retried; it can no longer be dead-lettered with its content.
            LOG.warn("group {}: parked record {}/{}@{} was removed by retention", machine.group, machine.topic.name(),
                machine.partition, offset);
            window.skippedOne();
            machine.finish(current);
          }
        });
      }
    }
  }
}
