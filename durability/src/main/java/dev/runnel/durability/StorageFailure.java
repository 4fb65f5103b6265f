package dev.runnel.durability;

/** Why a storage operation failed. Each maps to one of the public error codes. */
public enum StorageFailure {
  /** The topic does not exist (or was deleted meanwhile). */
  TOPIC_NOT_FOUND,
  /** A read outside [log start, high watermark]. */
  OFFSET_OUT_OF_RANGE,
  /** The partition's queue is full; the producer should retry later. */
  OVERLOADED,
  /** Not stored: Postgres refused or is unreachable, the lease was lost, or the store is closing. Safe to retry. */
  UNAVAILABLE,
  /** A write was sent but whether it committed cannot be told; it may or may not be stored. */
  OUTCOME_UNKNOWN
}
