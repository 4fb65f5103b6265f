package dev.runnel.broker.impl;

import dev.runnel.broker.impl.RecordTable.Entry;

/**
 * The group's position in one partition (DESIGN.md section 4): the committed offset, the window of records loaded past
 * it (up to {@link #loadedUpTo}), the partition's high watermark as last known, and what a skip to the log start
 * passed. It moves the committed offset over the done prefix, parking the records that wait, up to the parking bound;
 * it decides how much a refill reads. Every change of the committed offset or of a row goes to its
 * {@link PositionSaver}. No storage of its own: the {@link WindowLoader} reads, the saver writes. Confined to its
 * group's context.
 */
final class DeliveryWindow {

  private final RecordTable table;
  private final PositionSaver saver;
  private long committed;
  private long loadedUpTo;
  private long highWatermark;
  /** Records the group never processed because retention removed them first. */
  private long skipped;
  /** The log start the last skip moved to: offsets below it that have no entry were removed by retention. */
  private long skippedBelow;

  DeliveryWindow(RecordTable table, PositionSaver saver) {
    this.table = table;
    this.saver = saver;
  }

  /** The stored position, loaded: nothing is in the window yet. */
  void loaded(long committed, long skipped, long highWatermark) {
    this.highWatermark = highWatermark;
    this.committed = committed;
    this.skipped = skipped;
    this.loadedUpTo = committed;
  }

  long committed() {
    return committed;
  }

  long loadedUpTo() {
    return loadedUpTo;
  }

  long skipped() {
    return skipped;
  }

  /** The end of the log as far as the group knows: the high watermark, never below the committed offset. */
  long end() {
    return Math.max(highWatermark, committed);
  }

  /** Answers whether the high watermark moved up. */
  boolean raiseHighWatermark(long hw) {
    if (hw <= highWatermark) {
      return false;
    }
    highWatermark = hw;
    return true;
  }

  /**
   * How many records a refill of a window of {@code window} records reads now; 0: none. From the backlog it waits until
   * half the window is free, so it reads in large chunks rather than one record per ack; at the tail it reads
   * whatever came.
   */
  int toRead(int window) {
    int room = window - (int) Math.min(Integer.MAX_VALUE, loadedUpTo - committed);
    if (room <= 0 || loadedUpTo >= highWatermark) {
      return 0;
    }
    boolean backlog = highWatermark - loadedUpTo >= room;
    return backlog && room < Math.max(1, window / 2) ? 0 : room;
  }

  /** A read's records are in the table, up to {@code nextOffset}. */
  void loadedTo(long nextOffset) {
    loadedUpTo = nextOffset;
  }

  /**
   * The group's position fell below the retained log, which starts at {@code logStart}: it moves there, forgets the
   * records retention removed before they were read, and counts what it skipped. Answers false when it is there
   * already.
   */
  boolean skipTo(long logStart) {
    if (loadedUpTo >= logStart) {
      return false;
    }
    long lost = table.dropUnread(committed, logStart, saver::hasRow);
    skipped += (logStart - loadedUpTo) + lost;
    loadedUpTo = logStart;
    skippedBelow = logStart;
    if (committed < loadedUpTo && table.noneBetween(committed, loadedUpTo)) {
      committed = loadedUpTo;
    }
    saver.committedChanged();
    return true;
  }

  /** A parked record's content was removed by retention before its retry. */
  void skippedOne() {
    skipped++;
  }

  /**
   * Moves the committed offset over the done prefix, parking the records that wait (a retry, or a record behind its
   * key's head), and stops at the first other one, at the end of the window, or when {@code maxParked} records are
   * parked. Answers whether it moved.
   */
  boolean advance(int maxParked) {
    boolean moved = false;
    while (committed < loadedUpTo) {
      Entry e = table.get(committed);
      if (e == null) {
        if (committed < skippedBelow) {
          // A gap a skip to the log start left in the window (records it could not read, or removed): pass it, up to
          // the next record still in the window (one in flight at the skip, say).
          Long next = table.next(committed);
          committed = next == null ? skippedBelow : Math.min(next, skippedBelow);
          moved = true;
          continue;
        }
        // Finished and forgotten (cannot happen in the window) or never loaded: stop.
        break;
      }
      if (e.state == RecordState.DONE) {
        table.passDone(committed);
        if (saver.hasRow(committed)) {
          saver.changed(committed);  // its row goes in the statement that passes it
        }
      } else if (e.state == RecordState.READY && (e.attempts > 0 || !table.isKeyHead(e))) {
        if (table.parked() >= maxParked) {
          break;
        }
        table.park();
        saver.changed(e.offset);
      } else {
        break;
      }
      committed++;
      moved = true;
    }
    if (moved) {
      saver.committedChanged();
    }
    return moved;
  }

  /** A seek: the committed offset moves to {@code offset}, and the window is empty from there. */
  void moveTo(long offset) {
    committed = offset;
    loadedUpTo = offset;
    saver.committedChanged();
  }

  /** Records the group has not finished here: those past the committed offset and those parked below it. */
  long unfinished() {
    return (end() - committed) + table.parked();
  }

  /** The offset of the oldest record not finished (parked, or the first past the committed offset); -1: none. */
  long oldestUnfinished() {
    Entry first = table.first();
    return first != null && first.offset < committed ? first.offset : committed < end() ? committed : -1;
  }
}
