package dev.runnel.broker.impl;

import dev.runnel.broker.impl.RecordTable.Entry;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.ParkedRecord;
import io.vertx.core.Future;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/** The committed offset and the window ({@link DeliveryWindow}) over a {@link RecordTable}, without Postgres. */
class DeliveryWindowTest {

  /** Records which offsets each save looks at; saves complete at once. */
  private static final class Saves implements PositionSaver.Position {
    final TreeSet<Long> looked = new TreeSet<>();
    int saves;

    @Override
    public boolean saveable() {
      return true;
    }

    @Override
    public long now() {
      return 0;
    }

    @Override
    public PositionSaver.Change change(long offset) {
      looked.add(offset);
      return PositionSaver.Change.NO_ROW;
    }

    @Override
    public Future<Void> save(List<ParkedRecord> upserts, List<Long> deletes, List<Long> originDeletes) {
      saves++;
      return Future.succeededFuture();
    }

    @Override
    public void saveFailed(Throwable cause) {
    }
  }

  private final RecordTable table = new RecordTable();
  private final Saves saves = new Saves();
  private final PositionSaver saver = new PositionSaver(saves);
  private final DeliveryWindow window = new DeliveryWindow(table, saver);

  private Entry add(long offset, String key, RecordState state, int attempts) {
    Entry e = Entry.of(LogRecord.of(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        "v".getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null).at(offset, 0));
    e.attempts = attempts;
    table.add(e, false);
    if (state != RecordState.READY) {
      table.take(e);
      e.state = state;
    }
    if (state == RecordState.DONE) {
      table.finished(e, false);
    }
    return e;
  }

  @Test
  void theCommittedOffsetPassesTheDonePrefixParkingWhatWaitsAndStopsAtAnUnfinishedHead() {
    window.loaded(10, 0, 20);
    add(10, "a", RecordState.DONE, 0);
    add(11, "k", RecordState.READY, 1);  // a retry
    add(12, "k", RecordState.READY, 0);  // blocked behind 11
    add(13, "j", RecordState.READY, 0);  // its key's head, never failed: it goes out first
    add(14, null, RecordState.DONE, 0);
    window.loadedTo(15);
    assertThat(window.advance(100)).isTrue();
    assertThat(window.committed()).isEqualTo(13);
    assertThat(table.get(10)).as("done and passed: forgotten").isNull();
    assertThat(table.parked()).isEqualTo(2);
    saver.saveNow();
    assertThat(saves.looked).as("the parked rows go with the offset that passes them").containsExactly(11L, 12L);
    assertThat(window.advance(100)).as("nothing more to pass").isFalse();
  }

  @Test
  void atTheParkingBoundTheCommittedOffsetStops() {
    window.loaded(0, 0, 10);
    add(0, "k", RecordState.READY, 1);
    add(1, "k", RecordState.READY, 0);
    add(2, null, RecordState.DONE, 0);
    window.loadedTo(3);
    assertThat(window.advance(1)).isTrue();
    assertThat(window.committed()).isEqualTo(1);
    assertThat(window.advance(1)).isFalse();
    assertThat(window.advance(2)).isTrue();
    assertThat(window.committed()).isEqualTo(3);
  }

  @Test
  void theOffsetNeverPassesTheEndOfTheWindowOrARecordNotLoaded() {
    window.loaded(0, 0, 10);
    add(0, null, RecordState.DONE, 0);
    add(2, null, RecordState.DONE, 0);
    window.loadedTo(3);
    assertThat(window.advance(100)).isTrue();
    assertThat(window.committed()).as("1 is not in the table").isEqualTo(1);
  }

  @Test
  void aSkipToTheLogStartCountsWhatItSkippedAndTheOffsetPassesTheGapsItLeft() {
    window.loaded(0, 3, 10);
    Entry inFlight = add(2, "k", RecordState.IN_FLIGHT, 0);
    add(3, "j", RecordState.READY, 0);  // removed by retention, unread
    window.loadedTo(4);
    assertThat(window.skipTo(6)).isTrue();
    assertThat(window.skipped()).as("3 stored, 2 never read (4, 5), 1 removed unread (3)").isEqualTo(6);
    assertThat(window.loadedUpTo()).isEqualTo(6);
    assertThat(window.committed()).as("the record in flight holds it").isZero();
    assertThat(window.skipTo(6)).as("there already").isFalse();
    assertThat(window.advance(100)).as("the gap below the record in flight").isTrue();
    assertThat(window.committed()).isEqualTo(2);
    inFlight.state = RecordState.DONE;
    table.finished(inFlight, false);
    assertThat(window.advance(100)).isTrue();
    assertThat(window.committed()).as("the gap after it, up to the log start").isEqualTo(6);
  }

  @Test
  void aSkipWithNothingLeftMovesTheCommittedOffsetToTheLogStart() {
    window.loaded(0, 0, 10);
    window.loadedTo(2);
    assertThat(window.skipTo(5)).isTrue();
    assertThat(window.committed()).isEqualTo(5);
    assertThat(window.skipped()).isEqualTo(3);
  }

  @Test
  void aRefillReadsWhatCameAtTheTailButWaitsForHalfTheWindowInABacklog() {
    window.loaded(0, 0, 8);
    assertThat(window.toRead(10)).as("at the tail: whatever room there is").isEqualTo(10);
    window.loadedTo(6);
    assertThat(window.toRead(10)).as("2 more at the tail").isEqualTo(4);
    window.loadedTo(8);
    assertThat(window.toRead(10)).as("nothing more in the log").isZero();
    assertThat(window.raiseHighWatermark(7)).isFalse();
    assertThat(window.raiseHighWatermark(100)).isTrue();
    assertThat(window.toRead(10)).as("a backlog with less than half the window free").isZero();
    assertThat(window.toRead(16)).as("half of 16 free").isEqualTo(8);
    window.loadedTo(10);
    assertThat(window.toRead(10)).as("the window is full").isZero();
  }

  @Test
  void theLagCountsWhatIsPastTheCommittedOffsetAndWhatIsParked() {
    window.loaded(10, 0, 20);
    assertThat(window.unfinished()).isEqualTo(10);
    assertThat(window.oldestUnfinished()).isEqualTo(10);
    Entry parked = Entry.parked(new ParkedRecord(4, ParkedRecord.Kind.RETRY, null, 1, 0, 1, 1, "x"));
    table.add(parked, true);
    assertThat(window.unfinished()).isEqualTo(11);
    assertThat(window.oldestUnfinished()).isEqualTo(4);
    window.moveTo(20);
    assertThat(window.end()).isEqualTo(20);
    assertThat(window.unfinished()).as("only the parked one").isEqualTo(1);
    table.finished(parked, true);
    assertThat(window.oldestUnfinished()).as("nothing unfinished").isEqualTo(-1);
  }

  @Test
  void aSeekMovesTheOffsetAndEmptiesTheWindow() {
    window.loaded(10, 0, 20);
    window.loadedTo(15);
    window.moveTo(3);
    assertThat(window.committed()).isEqualTo(3);
    assertThat(window.loadedUpTo()).isEqualTo(3);
    assertThat(saver.unsaved()).as("the new position is to be saved").isTrue();
    assertThat(window.end()).isEqualTo(20);
  }
}
