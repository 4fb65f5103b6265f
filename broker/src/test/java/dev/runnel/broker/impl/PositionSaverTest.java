package dev.runnel.broker.impl;

import dev.runnel.durability.ParkedRecord;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link PositionSaver}'s pacing and bookkeeping against a fake state machine: no Postgres, an injected clock. */
class PositionSaverTest {

  /** A state machine whose saves complete when the test says. */
  private static final class FakePosition implements PositionSaver.Position {
    long now = 1_000;
    long committed;
    final Map<Long, PositionSaver.Change> changes = new HashMap<>();
    final List<List<Object>> saves = new ArrayList<>();
    final List<Promise<Void>> pending = new ArrayList<>();
    int failures;

    @Override
    public boolean saveable() {
      return true;
    }

    @Override
    public long now() {
      return now;
    }

    @Override
    public PositionSaver.Change change(long offset) {
      return changes.getOrDefault(offset, PositionSaver.Change.NO_ROW);
    }

    @Override
    public Future<Void> save(List<ParkedRecord> upserts, List<Long> deletes, List<Long> originDeletes) {
      saves.add(List.of(committed, upserts.stream().map(ParkedRecord::offset).toList(), deletes, originDeletes));
      Promise<Void> p = Promise.promise();
      pending.add(p);
      return p.future();
    }

    @Override
    public void saveFailed(Throwable cause) {
      failures++;
    }

    void completeNext() {
      pending.remove(0).complete();
    }
  }

  private static ParkedRecord retry(long offset) {
    return new ParkedRecord(offset, ParkedRecord.Kind.RETRY, null, 1, 0, 1, 1, "x");
  }

  @Test
  void oneSaveInFlightAndAtMostOnePerIntervalByTheClock() {
    FakePosition position = new FakePosition();
    PositionSaver saver = new PositionSaver(position);
    position.committed = 5;
    saver.committedChanged();
    saver.save();
    assertThat(position.saves).hasSize(1);
    position.committed = 6;
    saver.committedChanged();
    position.now += PositionSaver.SAVE_INTERVAL_MS;
    saver.save();
    assertThat(position.saves).as("one in flight, though the interval has passed").hasSize(1);
    position.completeNext();  // its completion saves what came meanwhile
    assertThat(position.saves).hasSize(2);
    assertThat(position.saves.get(1).get(0)).isEqualTo(6L);
    position.committed = 7;
    saver.committedChanged();
    position.completeNext();  // the completion tries again, but the pacing holds it back
    assertThat(position.saves).hasSize(2);
    assertThat(saver.unsaved()).isTrue();
    position.now += PositionSaver.SAVE_INTERVAL_MS;
    saver.save();
    assertThat(position.saves).hasSize(3);
  }

  @Test
  void rowsAreStoredDeletedOnlyWhenStoredAndKeptWhenAsked() {
    FakePosition position = new FakePosition();
    PositionSaver saver = new PositionSaver(position);
    saver.stored(3);
    position.changes.put(1L, PositionSaver.Change.store(retry(1)));
    position.changes.put(4L, PositionSaver.Change.KEEP);
    for (long offset : List.of(1L, 2L, 3L, 4L)) {
      saver.changed(offset);
    }
    saver.stored(4);
    saver.save();
    assertThat(position.saves.get(0)).containsExactly(0L, List.of(1L), List.of(3L), List.of());
    position.completeNext();
    assertThat(saver.hasRow(1)).isTrue();
    assertThat(saver.hasRow(3)).as("deleted").isFalse();
    assertThat(saver.hasRow(4)).as("kept").isTrue();
    assertThat(saver.unsaved()).isFalse();
  }

  @Test
  void aFailedSaveKeepsEverythingForTheNextAndARedriveIsNotPaced() {
    FakePosition position = new FakePosition();
    PositionSaver saver = new PositionSaver(position);
    position.changes.put(7L, PositionSaver.Change.store(retry(7)));
    saver.changed(7);
    saver.save();
    position.pending.remove(0).fail("down");
    assertThat(position.failures).isOne();
    assertThat(saver.unsaved()).isTrue();
    assertThat(saver.hasRow(7)).isFalse();

    Promise<Void> redriven = Promise.promise();
    saver.redriven(List.of(42L), redriven);  // within the interval: saved at once all the same
    assertThat(position.saves).hasSize(2);
    assertThat(position.saves.get(1)).containsExactly(0L, List.of(7L), List.of(), List.of(42L));
    assertThat(redriven.future().isComplete()).isFalse();
    position.completeNext();
    assertThat(redriven.future().succeeded()).as("answered after its save").isTrue();
  }

  @Test
  void redrivesWaitingWhenTheStateMachineStopsFail() {
    FakePosition position = new FakePosition();
    PositionSaver saver = new PositionSaver(position);
    Promise<Void> redriven = Promise.promise();
    saver.redriven(List.of(1L), redriven);
    position.pending.remove(0).fail("down");
    saver.failRedrives(new IllegalStateException("stopped"));
    assertThat(redriven.future().failed()).isTrue();
  }
}
