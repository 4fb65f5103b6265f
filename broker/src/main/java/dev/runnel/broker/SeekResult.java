package dev.runnel.broker;

/**
 * Where a seek moves (or, in a dry run, would move) a group in one partition.
 *
 * @param committedOffset the group's position before: its committed offset, or null when it has none in the
 *                        partition (it never read it)
 * @param newOffset       the position after: the next record the group will be given
 */
public record SeekResult(int partition, Long committedOffset, long newOffset) {
}
