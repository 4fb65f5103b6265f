package dev.runnel.broker.impl;

import dev.runnel.durability.ParkedRecord;
import io.vertx.core.Future;
import io.vertx.core.Promise;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Saves one state machine's position: the committed offset and the parked-row changes in one statement, with the
 * dead-letter origins a redrive took back. One save in flight, and at most one per {@value #SAVE_INTERVAL_MS} ms by
 * the injected clock, so thousands of acks make a handful of commits; a change the pacing holds back goes with the
 * next outcome or tick (no timer of its own, so a test that drives the clock decides exactly what is stored when). It
 * remembers which offsets changed since the last save and which have a row stored. Confined to the group's context.
 */
final class PositionSaver {

  /**
   * Each save is a commit (an fsync) beside the appends': at 10 ms, 16 busy partitions made 1,100 a second. A crash
   * redelivers at most this long's acks (at least once; Kafka's auto-commit: 5 s).
   */
  static final long SAVE_INTERVAL_MS = 100;

  /** What a changed offset's row becomes at the next save. */
  record Change(ParkedRecord row, boolean keep) {
    /** Nothing to store: its row goes, if it has one. */
    static final Change NO_ROW = new Change(null, false);
    /** Leave its row as stored. */
    static final Change KEEP = new Change(null, true);

    static Change store(ParkedRecord row) {
      return new Change(row, false);
    }
  }

  /** What the saver needs of its state machine. */
  interface Position {
    /** Loaded and not closed. */
    boolean saveable();

    long now();

    Change change(long offset);

    /** Stores its committed offset as it is now, with these row changes, in one statement. */
    Future<Void> save(List<ParkedRecord> upserts, List<Long> deletes, List<Long> originDeletes);

    /** A save failed (it is tried again by the next tick). */
    void saveFailed(Throwable cause);
  }

  private final Position position;
  private final Set<Long> changed = new HashSet<>();
  private final Set<Long> storedRows = new HashSet<>();
  /** Dead-letter origins a redrive to the group took back: the next save deletes them with the redriven rows. */
  private final List<Long> originDeletes = new ArrayList<>();
  /** Redrives waiting for that save. */
  private final List<Promise<Void>> redrivesSaving = new ArrayList<>();
  private boolean committedChanged;
  private boolean saving;
  /** When the last save started, by the injected clock. */
  private long lastSaveAt = Long.MIN_VALUE / 2;

  PositionSaver(Position position) {
    this.position = position;
  }

  /** The offset's row may change: it is looked at by the next save. */
  void changed(long offset) {
    changed.add(offset);
  }

  void committedChanged() {
    committedChanged = true;
  }

  /** A row of the offset is stored (found at load). */
  void stored(long offset) {
    storedRows.add(offset);
  }

  boolean hasRow(long offset) {
    return storedRows.contains(offset);
  }

  /** Changes not yet saved. */
  boolean unsaved() {
    return committedChanged || !changed.isEmpty() || !originDeletes.isEmpty();
  }

  boolean saving() {
    return saving;
  }

  /** A redrive took these origins back: they go in the next save, which is not paced; {@code saved} completes then. */
  void redriven(List<Long> origins, Promise<Void> saved) {
    originDeletes.addAll(origins);
    redrivesSaving.add(saved);
    saveNow();
  }

  /** Nobody will save the redrives waiting (the state machine stopped): fail them. */
  void failRedrives(Throwable cause) {
    redrivesSaving.forEach(p -> p.tryFail(cause));
    redrivesSaving.clear();
  }

  /** Saves now, whatever the pacing (a redrive, a clean stop, tests). */
  void saveNow() {
    lastSaveAt = Long.MIN_VALUE / 2;
    save();
  }

  /** Saves the pending changes unless one is in flight or the pacing holds it back. */
  void save() {
    if (saving || !unsaved() || !position.saveable()) {
      return;
    }
    long now = position.now();
    if (now - lastSaveAt < SAVE_INTERVAL_MS) {
      return;
    }
    lastSaveAt = now;
    saving = true;
    List<Long> offsets = new ArrayList<>(changed);
    changed.clear();
    committedChanged = false;
    List<Long> origins = new ArrayList<>(originDeletes);
    originDeletes.clear();
    List<Promise<Void>> redrives = new ArrayList<>(redrivesSaving);
    redrivesSaving.clear();
    List<ParkedRecord> upserts = new ArrayList<>();
    List<Long> deletes = new ArrayList<>();
    for (Long offset : offsets) {
      Change c = position.change(offset);
      if (c.row() != null) {
        upserts.add(c.row());
      } else if (!c.keep() && storedRows.contains(offset)) {
        deletes.add(offset);
      }
    }
    position.save(upserts, deletes, origins).onComplete(ar -> {
      saving = false;
      if (ar.failed()) {
        changed.addAll(offsets);
        committedChanged = true;
        originDeletes.addAll(origins);
        redrivesSaving.addAll(redrives);
        position.saveFailed(ar.cause());
        return;  // the next tick tries again
      }
      upserts.forEach(p -> storedRows.add(p.offset()));
      storedRows.removeAll(deletes);
      redrives.forEach(Promise::tryComplete);
      if (!redrivesSaving.isEmpty()) {
        saveNow();  // a redrive waits for its save: not paced
      } else if (unsaved()) {
        save();
      }
    });
  }
}
