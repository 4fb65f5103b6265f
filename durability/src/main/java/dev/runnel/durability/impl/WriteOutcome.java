package dev.runnel.durability.impl;

import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.DatabaseException;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;

/**
 * What the answer to a sent {@link Write} says happened to it, and so what its writer must do next. Pure: any thread.
 */
enum WriteOutcome {
  /** Stored: the appends are answered. */
  COMMITTED,
  /** Dead letters refused since their group's lease moved on, the partition still the writer's: nothing stored. */
  GROUP_FENCED,
  /** Nothing stored because the partition's epoch moved on: another writer took over. */
  FENCED,
  /** Postgres answered an error, so the statement surely rolled back: nothing stored, its offsets are free again. */
  ROLLED_BACK,
  /** The connection broke or the error may have come after the commit: only the stored end can say. */
  UNKNOWN;

  /** The outcome of a write whose statement failed with {@code cause}. */
  static WriteOutcome failed(Throwable cause) {
    return rolledBack(cause) ? ROLLED_BACK : UNKNOWN;
  }

  /** The outcome of a {@link Write#counted} write from its own statement's answer. */
  static WriteOutcome of(RowSet<Row> rows, Write write) {
    if (rows.iterator().next().getLong("written") == 1) {
      return COMMITTED;
    }
    return write.deadLetters() && rows.iterator().next().getLong("partition_current") == 1 ? GROUP_FENCED : FENCED;
  }

  /**
   * True when Postgres answered with an ordinary error, so the statement surely rolled back. A connection-level
   * error (FATAL, class 08 or 57: the backend was terminated, the server shut down) can arrive after the commit, so
   * its outcome is unknown, like a connection that simply broke.
   */
  static boolean rolledBack(Throwable cause) {
    if (!(cause instanceof DatabaseException db)) {
      return false;
    }
    String state = db.getSqlState() == null ? "" : db.getSqlState();
    boolean fatal = cause instanceof PgException pg && ("FATAL".equals(pg.getSeverity()) || "PANIC".equals(pg.getSeverity()));
    return !fatal && !state.startsWith("08") && !state.startsWith("57");
  }
}
