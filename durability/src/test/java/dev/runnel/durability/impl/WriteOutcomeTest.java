package dev.runnel.durability.impl;

import io.vertx.core.VertxException;
import io.vertx.pgclient.PgException;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Which failed writes surely rolled back (their offsets are free again) and which have an unknown outcome (the writer
 * must re-read the end). Postgres cannot be made to send a FATAL after a commit on purpose, so the classification
 * is checked here on the errors the client reports.
 */
class WriteOutcomeTest {

  @Test
  void anOrdinaryErrorAnsweredByPostgresRolledBack() {
    assertThat(PartitionWriter.rolledBack(new PgException("duplicate key", "ERROR", "23505", null))).isTrue();
    assertThat(PartitionWriter.rolledBack(new PgException("lock timeout", "ERROR", "55P03", null))).isTrue();
    assertThat(PartitionWriter.rolledBack(new PgException("serialization", "ERROR", "40001", null))).isTrue();
  }

  @Test
  void aFatalOrConnectionLevelErrorMayHaveComeAfterTheCommit() {
    // Terminated backend (57P01), server shutting down (57P02), crash recovery (57P03), connection failure (08006).
    assertThat(PartitionWriter.rolledBack(new PgException("terminating connection", "FATAL", "57P01", null))).isFalse();
    assertThat(PartitionWriter.rolledBack(new PgException("shutting down", "FATAL", "57P02", null))).isFalse();
    assertThat(PartitionWriter.rolledBack(new PgException("recovery", "ERROR", "57P03", null))).isFalse();
    assertThat(PartitionWriter.rolledBack(new PgException("connection failure", "ERROR", "08006", null))).isFalse();
    // FATAL or PANIC whatever the state.
    assertThat(PartitionWriter.rolledBack(new PgException("out of memory", "FATAL", "53200", null))).isFalse();
    assertThat(PartitionWriter.rolledBack(new PgException("panic", "PANIC", "XX000", null))).isFalse();
  }

  @Test
  void aBrokenConnectionWithoutAnAnswerIsUnknown() {
    assertThat(PartitionWriter.rolledBack(VertxException.noStackTrace("Connection reset"))).isFalse();
    assertThat(PartitionWriter.rolledBack(new IOException("Broken pipe"))).isFalse();
    assertThat(PartitionWriter.rolledBack(new PgException("no state", "ERROR", null, null))).isTrue();
  }
}
