package dev.runnel.durability.impl;

import dev.runnel.durability.StorageException;
import io.vertx.sqlclient.DatabaseException;

/** When a lease acquisition (a partition's or a group's) that failed is tried again, and how often. */
final class Acquisitions {

  /** Attempts of one acquisition, {@link #RETRY_MS} × attempt apart. */
  static final int ATTEMPTS = 4;
  static final long RETRY_MS = 50;

  private Acquisitions() {
  }

  /**
   * Worth another attempt: the connection broke (right after a backend was lost the pool can still hand out the
   * closing connection, and an unknown outcome must be told from what is stored), or the wait for the lease row's
   * lock timed out. A refusal (another holds the lease) or an ordinary SQL error is final.
   */
  static boolean retryable(Throwable err) {
    if (err instanceof StorageException) {
      return false;
    }
    boolean lockTimedOut = err instanceof DatabaseException db && "55P03".equals(db.getSqlState());
    return lockTimedOut || !WriteOutcome.rolledBack(err);
  }
}
