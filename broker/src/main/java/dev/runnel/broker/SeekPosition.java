package dev.runnel.broker;

/** Where a seek moves a group in one partition. */
public record SeekPosition(int partition, Kind kind, long value) {

  public enum Kind { EARLIEST, LATEST, OFFSET, TIMESTAMP }
}
