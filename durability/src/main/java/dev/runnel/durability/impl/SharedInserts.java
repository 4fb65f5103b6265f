package dev.runnel.durability.impl;

import io.micrometer.core.instrument.DistributionSummary;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.ContextInternal;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The plain writes (no idempotency keys, no dead letters) of a store's partitions, in shared insert statements: per
 * segment table at most {@link #IN_FLIGHT} statements at a time; while they are in flight the writes of the other
 * partitions wait, and the next statement takes all of them (up to {@code maxWriteBytes} of blocks). Each row is
 * inserted only while its own partition's epoch is current, so a fenced partition inserts nothing and the others
 * commit (DESIGN.md section 3's reason for never one transaction across partitions); a statement that fails fails
 * all of its writes, each of which its writer handles as it would its own (offsets reused, or the end re-read when
 * the outcome is unknown). A partition has at most one write in flight, so it has at most one row per statement.
 *
 * <p>Why: at a few hundred records a second per partition nearly every write is one record, and each statement is a
 * commit: its WAL write and {@code fdatasync} cost Postgres more than the row does (docs/benchmarks.md, session 19).
 *
 * <p>Threads: any; a table's queue is guarded by the table, and each write is answered on its writer's context.
 */
final class SharedInserts {

  /** Statements in flight per table: one per write connection (one per event loop), so both keep busy. */
  static final int IN_FLIGHT = 2;

  private final PgLogStore store;
  /**
   * The context each in-flight slot sends from, on different event loops: the pool hands out the connection of the
   * caller's loop, so sent from wherever the last statement completed both would queue on one connection.
   */
  private final List<ContextInternal> slots;
  private final DistributionSummary rowsPerStatement;
  private final Map<String, Table> tables = new ConcurrentHashMap<>();

  SharedInserts(PgLogStore store, List<ContextInternal> slots) {
    this.store = store;
    this.slots = List.copyOf(slots.subList(0, Math.min(IN_FLIGHT, slots.size())));
    this.rowsPerStatement = DistributionSummary.builder("runnel.storage.insert.rows").baseUnit("rows")
        .description("Partitions' writes (batch rows) one insert statement stores")
        .register(store.options().getMeterRegistry());
  }

  /**
   * Inserts one write's batch row in {@code segment} of {@code topic}: answers on {@code context} true once
   * committed, false when the partition's epoch was no longer {@code epoch} (nothing stored), or the statement's
   * failure.
   */
  Future<Boolean> insert(ContextInternal context, UUID topic, long segment, int partition, long epoch, long base,
                         long last, long timestamp, int records, Buffer block) {
    String name = Sql.table(topic, segment);
    Table table = tables.get(name);
    if (table == null) {
      // A new segment or topic: the idle tables of older segments and deleted topics go (rare, so a scan is fine).
      // A writer that got one of them a moment before still sends through it: a detached table works alone, and
      // a partition still has one row in flight; only the bound of statements per table is passed for a moment.
      tables.values().removeIf(Table::idle);
      table = tables.computeIfAbsent(name, n -> new Table(topic, Sql.appendRows(topic, segment)));
    }
    Pending pending = new Pending(partition, epoch, base, last, timestamp, records, block, context.promise());
    table.add(pending);
    return pending.promise.future();
  }

  /** Writes waiting for a statement, over all tables (tests). */
  int waiting() {
    return tables.values().stream().mapToInt(Table::waitingCount).sum();
  }

  /** Statements in flight, over all tables (tests). */
  int inFlight() {
    return tables.values().stream().mapToInt(Table::inFlightCount).sum();
  }

  private record Pending(int partition, long epoch, long base, long last, long timestamp, int records, Buffer block,
                         Promise<Boolean> promise) {
  }

  private final class Table {
    final UUID topic;
    final String sql;
    /** Guarded by this table. */
    private final ArrayDeque<Pending> waiting = new ArrayDeque<>();
    /** Which slots have a statement in flight; guarded. */
    private final boolean[] busy = new boolean[slots.size()];

    Table(UUID topic, String sql) {
      this.topic = topic;
      this.sql = sql;
    }

    synchronized int inFlightCount() {
      int n = 0;
      for (boolean b : busy) {
        n += b ? 1 : 0;
      }
      return n;
    }

    synchronized int waitingCount() {
      return waiting.size();
    }

    synchronized boolean idle() {
      return waiting.isEmpty() && inFlightCount() == 0;
    }

    void add(Pending pending) {
      Batch batch;
      synchronized (this) {
        waiting.add(pending);
        batch = next();
      }
      if (batch != null) {
        send(batch);
      }
    }

    /** The next statement's writes and its free slot, if one may be sent; guarded. */
    private Batch next() {
      int slot = 0;
      while (slot < busy.length && busy[slot]) {
        slot++;
      }
      if (slot == busy.length || waiting.isEmpty()) {
        return null;
      }
      busy[slot] = true;
      List<Pending> batch = new ArrayList<>();
      long bytes = 0;
      long max = store.options().getMaxWriteBytes();
      while (!waiting.isEmpty() && (batch.isEmpty() || bytes + waiting.peek().block.length() <= max)) {
        Pending p = waiting.poll();
        bytes += p.block.length();
        batch.add(p);
      }
      return new Batch(slot, batch);
    }

    private void send(Batch statement) {
      List<Pending> batch = statement.writes;
      int n = batch.size();
      Integer[] partitions = new Integer[n];
      Long[] epochs = new Long[n];
      Long[] bases = new Long[n];
      Long[] lasts = new Long[n];
      Long[] timestamps = new Long[n];
      Integer[] counts = new Integer[n];
      Buffer[] blocks = new Buffer[n];
      for (int i = 0; i < n; i++) {
        Pending p = batch.get(i);
        partitions[i] = p.partition;
        epochs[i] = p.epoch;
        bases[i] = p.base;
        lasts[i] = p.last;
        timestamps[i] = p.timestamp;
        counts[i] = p.records;
        blocks[i] = p.block;
      }
      rowsPerStatement.record(n);
      Tuple params = Tuple.tuple().addUUID(topic).addArrayOfInteger(partitions).addArrayOfLong(epochs)
          .addArrayOfLong(bases).addArrayOfLong(lasts).addArrayOfLong(timestamps).addArrayOfInteger(counts)
          .addArrayOfBuffer(blocks);
      slots.get(statement.slot).execute(() -> store.client().preparedQuery(sql).execute(params).onComplete(ar -> {
        if (ar.failed()) {
          batch.forEach(p -> p.promise.fail(ar.cause()));
        } else {
          Set<Integer> written = new HashSet<>();
          for (Row row : ar.result()) {
            written.add(row.getInteger(0));
          }
          batch.forEach(p -> p.promise.complete(written.contains(p.partition)));
        }
        Batch following;
        synchronized (this) {
          busy[statement.slot] = false;
          following = next();
        }
        if (following != null) {
          send(following);
        }
      }));
    }
  }

  private record Batch(int slot, List<Pending> writes) {
  }
}
