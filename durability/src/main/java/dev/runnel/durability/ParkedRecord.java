package dev.runnel.durability;

/**
 * A record a consumer group parked: a retry waiting for {@code notBefore} ({@link Kind#RETRY}, attempts counted), or
 * a record blocked behind an earlier record of its key ({@link Kind#BLOCKED}).
 *
 * @param keyHash null for an unkeyed record
 */
public record ParkedRecord(long offset, Kind kind, Integer keyHash, int attempts, long notBefore, long firstFailure,
                           long lastFailure, String lastError) {

  public enum Kind { RETRY, BLOCKED }
}
