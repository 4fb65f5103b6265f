package dev.runnel.broker.impl;

import dev.runnel.broker.Partitioner;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.ParkedRecord;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongPredicate;

/**
 * The records one state machine holds ({@link PartitionDelivery}): every unfinished (or recently finished) record by
 * offset, which of them are ready to go out, the unfinished offsets of each key ({@link KeyOrder}), and how many wait
 * parked below the committed offset. It keeps these indexes in step with the records' moves; the moves themselves are
 * the state machine's. Confined to its group's context.
 */
final class RecordTable {

  /** One unfinished (or recently finished) record. */
  static final class Entry {
    final long offset;
    /** Its content; null for a parked record loaded from its row and not read from the log yet. */
    LogRecord record;
    Integer keyHash;
    RecordState state = RecordState.READY;
    /** Deliveries that failed (nack or lease expiry); the next delivery is attempt {@code attempts + 1}. */
    int attempts;
    long notBefore;
    long firstFailure;
    long lastFailure;
    String lastError;
    /** Its latest lease: in the deadline queue while it is in flight; kept after for its free releases. */
    Leases.Lease<Entry> lease;
    String deadLetterReason;
    long deadLetterRetryAt;

    Entry(long offset) {
      this.offset = offset;
    }

    /** A record read from the log. */
    static Entry of(LogRecord r) {
      Entry e = new Entry(r.offset());
      e.record = r;
      e.keyHash = r.key() == null ? null : Partitioner.murmur2(r.key());
      return e;
    }

    /** A record as its parked row stored it (its content is read when its turn comes). */
    static Entry parked(ParkedRecord p) {
      Entry e = new Entry(p.offset());
      e.keyHash = p.keyHash();
      e.attempts = p.attempts();
      e.notBefore = p.notBefore();
      e.firstFailure = p.firstFailure();
      e.lastFailure = p.lastFailure();
      e.lastError = p.lastError();
      return e;
    }

    /** A failure of the record now (its first one sets its first failure time); counts no attempt. */
    void failure(String error, long now) {
      lastError = error;
      lastFailure = now;
      if (firstFailure == 0) {
        firstFailure = now;
      }
    }

    /** Handed out to {@code member} (any member: null) under a lease now. */
    boolean leasedTo(String member) {
      return state == RecordState.IN_FLIGHT && (member == null || member.equals(lease.member()));
    }

    /**
     * What its parked row becomes at the next save, with the committed offset at {@code committed}. A record done past
     * the committed offset is not stored as done (the committed offset advances over the done prefix only): after a
     * restart it is delivered again, so its failures stay stored until the offset passes it.
     */
    PositionSaver.Change change(long committed) {
      boolean doneAhead = state == RecordState.DONE && offset >= committed;
      if (doneAhead && attempts == 0) {
        return PositionSaver.Change.KEEP;
      }
      if ((state != RecordState.DONE || doneAhead) && (offset < committed || attempts > 0)) {
        return PositionSaver.Change.store(new ParkedRecord(offset, attempts > 0 ? ParkedRecord.Kind.RETRY
            : ParkedRecord.Kind.BLOCKED, keyHash, attempts, notBefore, firstFailure, lastFailure, lastError));
      }
      return PositionSaver.Change.NO_ROW;
    }
  }

  private final TreeMap<Long, Entry> entries = new TreeMap<>();
  private final TreeMap<Long, Entry> ready = new TreeMap<>();
  private final KeyOrder keyOrder = new KeyOrder();
  /** Entries below the committed offset (parked, or done and not forgotten yet). */
  private int parked;

  Entry get(long offset) {
    return entries.get(offset);
  }

  /** The entry of the lowest offset; null when there is none. */
  Entry first() {
    return entries.isEmpty() ? null : entries.firstEntry().getValue();
  }

  /** The lowest offset held at or after {@code offset}; null when none. */
  Long next(long offset) {
    return entries.ceilingKey(offset);
  }

  /** Whether no record is held in [{@code from}, {@code to}). */
  boolean noneBetween(long from, long to) {
    return entries.subMap(from, to).isEmpty();
  }

  /** Holds a parked record found at load; {@link #rebuild} indexes it. */
  void loaded(Entry e) {
    entries.put(e.offset, e);
  }

  /** Holds a new record (read, or redriven), indexed; {@code belowCommitted}: it counts as parked. */
  void add(Entry e, boolean belowCommitted) {
    entries.put(e.offset, e);
    if (belowCommitted) {
      parked++;
    }
    index(e);
  }

  /** The ready records, by offset. Iterate only: changing the table meanwhile is not allowed. */
  Collection<Entry> ready() {
    return ready.values();
  }

  /**
   * Collects into {@code spent} the ready records whose attempts are used up (more than {@code maxRetries} failures
   * without a dead letter: a crash caught it in flight, or the policy was lowered), and answers whether another's
   * retry is due at {@code now} (its time has come, and its key's turn).
   */
  boolean retryDue(long now, int maxRetries, List<Entry> spent) {
    boolean due = false;
    for (Entry e : ready.values()) {
      if (e.attempts > maxRetries) {
        spent.add(e);
      } else if (e.attempts > 0 && e.notBefore <= now && isKeyHead(e)) {
        due = true;
      }
    }
    return due;
  }

  /** The record is ready (again). */
  void markReady(Entry e) {
    ready.put(e.offset, e);
  }

  /** The record is no longer ready (handed out, or being dead-lettered). */
  void take(Entry e) {
    ready.remove(e.offset);
  }

  /** Whether the record may go out as far as its key is concerned: unkeyed, or its key's lowest unfinished offset. */
  boolean isKeyHead(Entry e) {
    return keyOrder.isHead(e.keyHash, e.offset);
  }

  /** The record is done: no longer ready or unfinished; below the committed offset it is forgotten. */
  void finished(Entry e, boolean belowCommitted) {
    unindex(e);
    if (belowCommitted) {
      entries.remove(e.offset);
      parked--;
    }
  }

  /** The committed offset passes the record at {@code offset}, done: it is forgotten. */
  void passDone(long offset) {
    entries.remove(offset);
  }

  /** The committed offset passes a record that waits: it is parked. */
  void park() {
    parked++;
  }

  int parked() {
    return parked;
  }

  /**
   * A skip to the log start: forgets the records in [{@code from}, {@code to}) that retention removed before they were
   * finished, except those in flight or with a stored row; answers how many.
   */
  long dropUnread(long from, long to, LongPredicate hasRow) {
    long lost = 0;
    for (Iterator<Entry> it = entries.subMap(from, to).values().iterator(); it.hasNext(); ) {
      Entry e = it.next();
      if (e.state != RecordState.DONE && e.state != RecordState.IN_FLIGHT && !hasRow.test(e.offset)) {
        it.remove();
        unindex(e);
        lost++;
      }
    }
    return lost;
  }

  /**
   * A seek to {@code offset} (from the committed offset {@code committed}): keeps the parked records below it, ready
   * again, and forgets every other record, each told to {@code dropped}.
   */
  void seek(long offset, long committed, Consumer<Entry> dropped) {
    for (Iterator<Entry> it = entries.values().iterator(); it.hasNext(); ) {
      Entry e = it.next();
      boolean wasParked = e.offset < committed || e.attempts > 0;
      if (e.offset >= offset || !wasParked || e.state == RecordState.DONE) {
        it.remove();
        dropped.accept(e);
      } else if (e.state != RecordState.READY) {
        e.state = e.state.to(RecordState.READY);
      }
    }
    rebuild(offset);
  }

  /** Indexes every record again, with the committed offset at {@code committed}. */
  void rebuild(long committed) {
    ready.clear();
    keyOrder.clear();
    parked = 0;
    for (Entry e : entries.values()) {
      index(e);
      if (e.offset < committed) {
        parked++;
      }
    }
  }

  /** The records handed out to {@code member} (any member: null) under a lease now, by offset. */
  List<Entry> leasedTo(String member) {
    List<Entry> held = new ArrayList<>();
    for (Entry e : entries.values()) {
      if (e.leasedTo(member)) {
        held.add(e);
      }
    }
    return held;
  }

  /** How many records are handed out to {@code member} (any member: null) under a lease now. */
  int countLeasedTo(String member) {
    int n = 0;
    for (Entry e : entries.values()) {
      if (e.leasedTo(member)) {
        n++;
      }
    }
    return n;
  }

  private void index(Entry e) {
    if (e.state == RecordState.READY) {
      ready.put(e.offset, e);
    }
    if (e.state != RecordState.DONE) {
      keyOrder.add(e.keyHash, e.offset);
    }
  }

  private void unindex(Entry e) {
    ready.remove(e.offset);
    keyOrder.remove(e.keyHash, e.offset);
  }
}
