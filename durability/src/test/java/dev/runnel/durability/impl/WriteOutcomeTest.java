package dev.runnel.durability.impl;

import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import io.vertx.core.Promise;
import io.vertx.core.VertxException;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowIterator;
import io.vertx.sqlclient.RowSet;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which failed writes surely rolled back (their offsets are free again) and which have an unknown outcome (the writer
 * must re-read the end). Postgres cannot be made to send a FATAL after a commit on purpose, so the classification
 * is checked here on the errors the client reports; so is what a statement's answer says of its write
 * ({@link WriteOutcome#of}), on answers made up here.
 */
class WriteOutcomeTest {

  @Test
  void anOrdinaryErrorAnsweredByPostgresRolledBack() {
    assertThat(WriteOutcome.rolledBack(new PgException("duplicate key", "ERROR", "23505", null))).isTrue();
    assertThat(WriteOutcome.rolledBack(new PgException("lock timeout", "ERROR", "55P03", null))).isTrue();
    assertThat(WriteOutcome.rolledBack(new PgException("serialization", "ERROR", "40001", null))).isTrue();
  }

  @Test
  void aFatalOrConnectionLevelErrorMayHaveComeAfterTheCommit() {
    // Terminated backend (57P01), server shutting down (57P02), crash recovery (57P03), connection failure (08006).
    assertThat(WriteOutcome.rolledBack(new PgException("terminating connection", "FATAL", "57P01", null))).isFalse();
    assertThat(WriteOutcome.rolledBack(new PgException("shutting down", "FATAL", "57P02", null))).isFalse();
    assertThat(WriteOutcome.rolledBack(new PgException("recovery", "ERROR", "57P03", null))).isFalse();
    assertThat(WriteOutcome.rolledBack(new PgException("connection failure", "ERROR", "08006", null))).isFalse();
    // FATAL or PANIC whatever the state.
    assertThat(WriteOutcome.rolledBack(new PgException("out of memory", "FATAL", "53200", null))).isFalse();
    assertThat(WriteOutcome.rolledBack(new PgException("panic", "PANIC", "XX000", null))).isFalse();
  }

  @Test
  void aBrokenConnectionWithoutAnAnswerIsUnknown() {
    assertThat(WriteOutcome.rolledBack(VertxException.noStackTrace("Connection reset"))).isFalse();
    assertThat(WriteOutcome.rolledBack(new IOException("Broken pipe"))).isFalse();
    assertThat(WriteOutcome.rolledBack(new PgException("no state", "ERROR", null, null))).isTrue();
  }

  @Test
  void aCountedWriteIsCommittedByItsWrittenCount() {
    Write keyed = keyedWrite();
    assertThat(WriteOutcome.of(rows(1, Map.of("written", 1L)), keyed)).isEqualTo(WriteOutcome.COMMITTED);
    assertThat(WriteOutcome.of(rows(1, Map.of("written", 0L)), keyed))
        .as("a counted statement always answers one row").isEqualTo(WriteOutcome.FENCED);
  }

  @Test
  void deadLettersRefusedWhileThePartitionIsCurrentWereFencedByTheirGroup() {
    Write dead = deadLetterWrite();
    assertThat(WriteOutcome.of(rows(1, Map.of("written", 0L, "partition_current", 1L)), dead))
        .isEqualTo(WriteOutcome.GROUP_FENCED);
    assertThat(WriteOutcome.of(rows(1, Map.of("written", 0L, "partition_current", 0L)), dead))
        .isEqualTo(WriteOutcome.FENCED);
    assertThat(WriteOutcome.of(rows(1, Map.of("written", 1L, "partition_current", 1L)), dead))
        .isEqualTo(WriteOutcome.COMMITTED);
  }

  @Test
  void aFailedStatementRolledBackOrHasAnUnknownOutcome() {
    assertThat(WriteOutcome.failed(new PgException("duplicate key", "ERROR", "23505", null)))
        .isEqualTo(WriteOutcome.ROLLED_BACK);
    assertThat(WriteOutcome.failed(new IOException("Broken pipe"))).isEqualTo(WriteOutcome.UNKNOWN);
  }

  private static Write keyedWrite() {
    return write("k", null);
  }

  private static Write deadLetterWrite() {
    return write(null, List.of(new DeadLetterOrigin("g", UUID.randomUUID(), 0, 1, UUID.randomUUID(), 0, -1, "rejected",
        1)));
  }

  private static Write write(String key, List<DeadLetterOrigin> origins) {
    LogRecord record = LogRecord.of(null, "v".getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), key);
    Write write = new Write(List.of(new AppendQueue.Pending(List.of(record), origins, 1, false, 10, Promise.promise())),
        10, 0);
    write.assign(Map.of(), true, 0, 1);
    return write;
  }

  /** A statement's answer: {@code count} rows, the first with these columns. */
  @SuppressWarnings("unchecked")
  private static RowSet<Row> rows(int count, Map<String, Long> columns) {
    Row row = (Row) Proxy.newProxyInstance(Row.class.getClassLoader(), new Class<?>[] {Row.class}, (proxy, m, args) -> {
      if (m.getName().equals("getLong") && args[0] instanceof String column) {
        return columns.get(column);
      }
      throw new UnsupportedOperationException(m.getName());
    });
    return (RowSet<Row>) Proxy.newProxyInstance(RowSet.class.getClassLoader(), new Class<?>[] {RowSet.class},
        (proxy, m, args) -> switch (m.getName()) {
          case "rowCount", "size" -> count;
          case "iterator" -> iterator(List.of(row).iterator());
          default -> throw new UnsupportedOperationException(m.getName());
        });
  }

  private static RowIterator<Row> iterator(Iterator<Row> rows) {
    return new RowIterator<>() {
      @Override
      public boolean hasNext() {
        return rows.hasNext();
      }

      @Override
      public Row next() {
        return rows.next();
      }
    };
  }
}
