package dev.runnel.durability.impl;

/**
 * Where one partition's next write goes: the next offset (offsets are gapless and never below the log start), the
 * write's timestamp (the append time, clamped never to go back), and the segment table it last opened. Context-confined:
 * only its writer's context calls it.
 */
final class LogEnd {

  /** No segment is open: the next write opens (creates if needed) the one of its time. */
  static final long NO_SEGMENT = Long.MIN_VALUE;

  private long nextOffset;
  private long lastTimestamp;
  private long segment = NO_SEGMENT;

  /** The offset of the next record stored. */
  long next() {
    return nextOffset;
  }

  /** The timestamp of a write made at {@code now}: never before the last one stored. */
  long timestamp(long now) {
    return Math.max(now, lastTimestamp);
  }

  /** True when {@code segment} is the one open for writes, so a write there need not open it first. */
  boolean isOpen(long segment) {
    return segment == this.segment;
  }

  void opened(long segment) {
    this.segment = segment;
  }

  /** A write failed: open its segment again before the next write (the failure may have been the segment). */
  void forgetSegment() {
    segment = NO_SEGMENT;
  }

  /** A write of the records up to {@code last} committed at {@code timestamp}. */
  void committed(long last, long timestamp) {
    nextOffset = last + 1;
    lastTimestamp = timestamp;
  }

  /**
   * The writer acquired the partition and read what is stored: the end offset, the last batch's timestamp and its
   * segment (or {@link #NO_SEGMENT}). Continues from there, never below {@code logStart}.
   */
  void acquired(long storedEnd, long storedTimestamp, long storedSegment, long logStart) {
    nextOffset = Math.max(storedEnd, logStart);
    lastTimestamp = Math.max(lastTimestamp, storedTimestamp);
    segment = storedSegment;
  }

  /** A write's outcome is unknown: assume nothing past the committed end until acquiring again says. */
  void rewind(long committedEnd) {
    nextOffset = committedEnd;
  }

  /**
   * Retention moved the log start to {@code newStart}. If that is at or past the end, everything was dropped, possibly
   * the open segment too: the log goes on from {@code newStart} in a segment opened again, and this answers true.
   */
  boolean droppedTo(long newStart) {
    if (newStart < nextOffset) {
      return false;
    }
    nextOffset = newStart;
    segment = NO_SEGMENT;
    return true;
  }
}
