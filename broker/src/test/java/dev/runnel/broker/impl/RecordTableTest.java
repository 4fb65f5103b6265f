package dev.runnel.broker.impl;

import dev.runnel.broker.impl.RecordTable.Entry;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.ParkedRecord;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The records a state machine holds and their indexes ({@link RecordTable}), and a record's row, without Postgres. */
class RecordTableTest {

  private static Entry record(long offset, String key) {
    return Entry.of(LogRecord.of(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        "v".getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null).at(offset, 1000 + offset));
  }

  private static List<Long> offsets(Iterable<Entry> entries) {
    List<Long> out = new ArrayList<>();
    entries.forEach(e -> out.add(e.offset));
    return out;
  }

  private static void leaseTo(Leases<Entry> leases, Entry e, String member) {
    e.state = e.state.to(RecordState.IN_FLIGHT);
    e.lease = leases.lease(e, member, 100, e.lease);
  }

  @Test
  void readyRecordsComeByOffsetAndOnlyAKeysHeadMayGoOut() {
    RecordTable table = new RecordTable();
    Entry a1 = record(12, "a");
    Entry a2 = record(11, "a");
    Entry b = record(13, "b");
    Entry unkeyed = record(10, null);
    for (Entry e : List.of(a1, a2, b, unkeyed)) {
      table.add(e, false);
    }
    assertThat(offsets(table.ready())).containsExactly(10L, 11L, 12L, 13L);
    assertThat(table.isKeyHead(a2)).isTrue();
    assertThat(table.isKeyHead(a1)).as("behind 11 of its key").isFalse();
    assertThat(table.isKeyHead(b)).isTrue();
    table.take(a2);  // handed out: no longer ready, still its key's head
    assertThat(offsets(table.ready())).containsExactly(10L, 12L, 13L);
    assertThat(table.isKeyHead(a1)).as("its key's head is in flight").isFalse();
    a2.state = RecordState.DONE;
    table.finished(a2, false);
    assertThat(table.isKeyHead(a1)).isTrue();
    assertThat(table.get(11)).as("done past the committed offset: still held").isSameAs(a2);
    assertThat(table.parked()).isZero();
  }

  @Test
  void aRecordDoneBelowTheCommittedOffsetIsForgottenAndNoLongerParked() {
    RecordTable table = new RecordTable();
    table.add(record(3, "k"), true);
    table.add(record(4, "k"), true);
    assertThat(table.parked()).isEqualTo(2);
    Entry e = table.get(3);
    e.state = RecordState.DONE;
    table.finished(e, true);
    assertThat(table.get(3)).isNull();
    assertThat(table.parked()).isEqualTo(1);
    assertThat(table.first().offset).isEqualTo(4);
    assertThat(table.isKeyHead(table.get(4))).isTrue();
  }

  @Test
  void aSkipDropsOnlyWhatRetentionTookUnfinishedAndUnstored() {
    RecordTable table = new RecordTable();
    Leases<Entry> leases = new Leases<>();
    for (long o = 0; o < 5; o++) {
      table.add(record(o, "k" + o), false);
    }
    leaseTo(leases, table.get(1), "m");
    table.take(table.get(1));
    table.get(2).state = RecordState.DONE;
    table.finished(table.get(2), false);
    long lost = table.dropUnread(0, 4, offset -> offset == 3);  // 3 has a stored row
    assertThat(lost).isEqualTo(1);
    assertThat(table.get(0)).as("unread, unstored").isNull();
    assertThat(table.get(1)).as("in flight").isNotNull();
    assertThat(table.get(2)).as("done").isNotNull();
    assertThat(table.get(3)).as("stored row").isNotNull();
    assertThat(table.get(4)).as("past the range").isNotNull();
    assertThat(offsets(table.ready())).containsExactly(3L, 4L);
    assertThat(table.noneBetween(0, 1)).isTrue();
    assertThat(table.noneBetween(0, 2)).isFalse();
    assertThat(table.next(0)).isEqualTo(1);
  }

  @Test
  void aSeekKeepsTheParkedRecordsBelowItReadyAndDropsTheRest() {
    RecordTable table = new RecordTable();
    Leases<Entry> leases = new Leases<>();
    table.add(record(2, "k"), true);          // parked below the committed offset 5
    table.add(record(3, "j"), true);          // parked, in flight at the seek
    table.add(record(6, "k"), false);         // past the committed offset, never failed
    Entry retry = record(7, "r");
    retry.attempts = 1;                        // a retry past the committed offset
    table.add(retry, false);
    table.add(record(9, "k"), false);         // at or past the new position
    leaseTo(leases, table.get(3), "m");
    table.take(table.get(3));
    List<Long> dropped = new ArrayList<>();
    table.seek(8, 5, e -> dropped.add(e.offset));
    assertThat(dropped).containsExactly(6L, 9L);
    assertThat(offsets(table.ready())).containsExactly(2L, 3L, 7L);
    assertThat(table.get(3).state).isEqualTo(RecordState.READY);
    assertThat(table.parked()).as("all below the new position").isEqualTo(3);
    assertThat(table.isKeyHead(table.get(2))).isTrue();
  }

  @Test
  void spentRecordsAreCollectedAndADueRetryIsOnlyAKeysHead() {
    RecordTable table = new RecordTable();
    Entry spent = record(1, "a");
    spent.attempts = 3;
    Entry waiting = record(2, "b");
    waiting.attempts = 1;
    waiting.notBefore = 500;
    Entry behind = record(3, "a");
    behind.attempts = 1;
    for (Entry e : List.of(spent, waiting, behind)) {
      table.add(e, false);
    }
    List<Entry> collected = new ArrayList<>();
    assertThat(table.retryDue(499, 2, collected)).as("3 is behind its key's head, 2 waits").isFalse();
    assertThat(collected).containsExactly(spent);
    collected.clear();
    assertThat(table.retryDue(500, 2, collected)).isTrue();
    collected.clear();
    assertThat(table.retryDue(499, 3, collected)).as("not spent under a policy of 3, and due").isTrue();
    assertThat(collected).isEmpty();
  }

  @Test
  void leasesAreCountedByMember() {
    RecordTable table = new RecordTable();
    Leases<Entry> leases = new Leases<>();
    for (long o = 0; o < 4; o++) {
      table.add(record(o, null), false);
    }
    leaseTo(leases, table.get(0), "m1");
    leaseTo(leases, table.get(2), "m2");
    leaseTo(leases, table.get(3), "m1");
    assertThat(offsets(table.leasedTo("m1"))).containsExactly(0L, 3L);
    assertThat(table.countLeasedTo("m2")).isEqualTo(1);
    assertThat(table.countLeasedTo(null)).isEqualTo(3);
    assertThat(table.leasedTo("m3")).isEmpty();
  }

  @Test
  void aRecordsRowFollowsItsStateAndTheCommittedOffset() {
    Entry blocked = record(4, "k");
    assertThat(blocked.change(5).row()).as("waiting below the committed offset")
        .isEqualTo(new ParkedRecord(4, ParkedRecord.Kind.BLOCKED, blocked.keyHash, 0, 0, 0, 0, null));
    assertThat(blocked.change(4)).as("unfailed, past it: nothing to store").isEqualTo(PositionSaver.Change.NO_ROW);

    Entry retry = record(8, "k");
    retry.attempts = 2;
    retry.notBefore = 900;
    retry.failure("boom", 700);
    retry.failure("bang", 800);
    assertThat(retry.change(5).row()).as("a retry is stored wherever it is")
        .isEqualTo(new ParkedRecord(8, ParkedRecord.Kind.RETRY, retry.keyHash, 2, 900, 700, 800, "bang"));
    retry.state = RecordState.DONE;
    assertThat(retry.change(5).row()).as("done past the committed offset: its failures stay stored")
        .isNotNull();
    assertThat(retry.change(9)).as("done and passed: its row goes").isEqualTo(PositionSaver.Change.NO_ROW);

    Entry acked = record(6, null);
    acked.state = RecordState.DONE;
    assertThat(acked.change(5)).as("acked ahead, never failed: its row stays as stored")
        .isEqualTo(PositionSaver.Change.KEEP);
  }

  @Test
  void aParkedRowComesBackAsItsEntry() {
    Entry e = Entry.parked(new ParkedRecord(7, ParkedRecord.Kind.RETRY, 42, 2, 900, 700, 800, "bang"));
    assertThat(e.record).isNull();
    assertThat(e.change(8).row()).isEqualTo(new ParkedRecord(7, ParkedRecord.Kind.RETRY, 42, 2, 900, 700, 800,
        "bang"));
    RecordTable table = new RecordTable();
    table.loaded(e);
    table.loaded(record(9, null));
    table.rebuild(8);
    assertThat(table.parked()).isEqualTo(1);
    assertThat(offsets(table.ready())).containsExactly(7L, 9L);
  }
}
