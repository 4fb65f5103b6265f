package dev.runnel.durability.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Promise;
import io.vertx.sqlclient.Tuple;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** One write without Postgres: offsets, duplicates, answers, and the statement it is stored by. */
class WriteTest {

  private static final TopicMetadata TOPIC =
      new TopicMetadata(UUID.randomUUID(), "t", 1, TopicConfig.DEFAULT.withDedup(true, 60_000));

  private static LogRecord record(String value, String key) {
    return LogRecord.of(null, value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), key);
  }

  private static AppendQueue.Pending append(boolean once, LogRecord... records) {
    return new AppendQueue.Pending(List.of(records), null, 0, once, 10, Promise.promise());
  }

  private static String value(LogRecord r) {
    return new String(r.value(), StandardCharsets.UTF_8);
  }

  @Test
  void recordsTakeConsecutiveOffsetsAndOneTimeAcrossItsAppends() {
    AppendQueue.Pending a = append(false, record("a", null), record("b", null));
    AppendQueue.Pending b = append(false, record("c", null));
    Write write = new Write(List.of(a, b), 20, 0);
    write.assign(Map.of(), false, 40, 1_000);
    assertThat(write.stored).extracting(LogRecord::offset).containsExactly(40L, 41L, 42L);
    assertThat(write.stored).extracting(LogRecord::timestamp).containsOnly(1_000L);
    assertThat(write.base()).isEqualTo(40);
    assertThat(write.last()).isEqualTo(42);
    assertThat(write.timestamp()).isEqualTo(1_000);
    write.complete();
    assertThat(a.promise().future().result().baseOffset()).isEqualTo(40);
    assertThat(b.promise().future().result().baseOffset()).isEqualTo(42);
    assertThat(b.promise().future().result().duplicates()).isNull();
  }

  @Test
  void aDuplicateAnswersTheOriginalPositionAndIsNotStoredAgain() {
    AppendQueue.Pending a = append(false, record("a", "k1"), record("b", "k2"), record("c", "k1"));
    AppendQueue.Pending b = append(false, record("d", "stored"));
    Write write = new Write(List.of(a, b), 20, 0);
    write.assign(Map.of("stored", new long[] {3, 500}), true, 10, 1_000);
    assertThat(write.stored).extracting(WriteTest::value).containsExactly("a", "b");
    assertThat(write.newKeys).containsExactly(Map.entry("k1", 10L), Map.entry("k2", 11L));
    write.complete();
    AppendResult first = a.promise().future().result();
    assertThat(first.baseOffset()).isEqualTo(10);
    assertThat(first.duplicates()).containsExactly(null, null, new AppendResult.Duplicate(10, 1_000));
    AppendResult second = b.promise().future().result();
    assertThat(second.baseOffset()).as("every record a duplicate").isEqualTo(-1);
    assertThat(second.duplicates()).containsExactly(new AppendResult.Duplicate(3, 500));
  }

  @Test
  void withoutTheTopicsDedupOnlyAppendsMadeOnceAreDeduplicated() {
    AppendQueue.Pending plain = append(false, record("a", "k"), record("b", "k"));
    AppendQueue.Pending once = append(true, record("c", "j"), record("d", "j"));
    Write write = new Write(List.of(plain, once), 20, 0);
    assertThat(write.deduplicated(false)).extracting(WriteTest::value).containsExactly("c", "d");
    assertThat(write.deduplicated(true)).hasSize(4);
    write.assign(Map.of(), false, 0, 1);
    assertThat(write.stored).extracting(WriteTest::value).containsExactly("a", "b", "c");
    assertThat(write.newKeys).containsOnlyKeys("j");
  }

  @Test
  void aPlainWriteHasNoStatementOfItsOwn() {
    Write write = new Write(List.of(append(false, record("a", null))), 10, 0);
    write.assign(Map.of(), true, 0, 1);
    assertThat(write.counted()).isFalse();
    assertThat(write.deadLetters()).isFalse();
    assertThatThrownBy(() -> write.statement(TOPIC, 9, Tuple.of(1, 2, 3, 4, 5, 6, 7, 8)))
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void aWriteWithNewKeysStoresThemInTheSameStatement() {
    Write write = new Write(List.of(append(false, record("a", "k1"), record("b", "k2"))), 10, 0);
    write.assign(Map.of(), true, 5, 1_000);
    Tuple params = Tuple.of(1, 2, 3, 4, 5, 6, 7, 8);
    assertThat(write.statement(TOPIC, 9, params)).isEqualTo(Sql.appendWithDedupKeys(TOPIC.id(), 9));
    assertThat(write.counted()).isTrue();
    assertThat((String[]) params.getValue(8)).containsExactly("k1", "k2");
    assertThat((Long[]) params.getValue(9)).containsExactly(5L, 6L);
    assertThat(params.getLong(10)).as("expiry: the write's time plus the window").isEqualTo(61_000);
  }

  @Test
  void deadLettersCarryTheirOriginsWithTheirOffsetsAndGroupEpoch() {
    UUID source = UUID.randomUUID();
    DeadLetterOrigin o1 = new DeadLetterOrigin("g", source, 2, 17, TOPIC.id(), 0, -1, "rejected", 1);
    DeadLetterOrigin o2 = new DeadLetterOrigin("g", source, 2, 18, TOPIC.id(), 0, -1, "max-retries", 1);
    AppendQueue.Pending dead = new AppendQueue.Pending(List.of(record("a", null), record("b", null)),
        List.of(o1, o2), 42, false, 10, Promise.promise());
    Write write = new Write(List.of(dead), 10, 0);
    write.assign(Map.of(), false, 100, 1);
    Tuple params = Tuple.of(1, 2, 3, 4, 5, 6, 7, 8);
    assertThat(write.statement(TOPIC, 9, params)).isEqualTo(Sql.appendDeadLetters(TOPIC.id(), 9));
    assertThat(write.deadLetters()).isTrue();
    assertThat(write.counted()).isTrue();
    assertThat(params.size()).isEqualTo(15);
    assertThat((String[]) params.getValue(8)).containsExactly("g", "g");
    assertThat((UUID[]) params.getValue(9)).containsExactly(source, source);
    assertThat((Integer[]) params.getValue(10)).containsExactly(2, 2);
    assertThat((Long[]) params.getValue(11)).containsExactly(17L, 18L);
    assertThat((Long[]) params.getValue(12)).as("where each dead letter goes").containsExactly(100L, 101L);
    assertThat((String[]) params.getValue(13)).containsExactly("rejected", "max-retries");
    assertThat((Long[]) params.getValue(14)).containsExactly(42L, 42L);
  }

  @Test
  void aFailedWriteFailsEveryAppend() {
    AppendQueue.Pending a = append(false, record("a", null));
    AppendQueue.Pending b = append(false, record("b", null));
    IllegalStateException cause = new IllegalStateException("fenced");
    new Write(List.of(a, b), 20, 0).fail(cause);
    assertThat(a.promise().future().cause()).isSameAs(cause);
    assertThat(b.promise().future().cause()).isSameAs(cause);
  }
}
