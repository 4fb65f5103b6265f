package dev.runnel.durability.impl;

import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import io.vertx.core.Future;
import io.vertx.sqlclient.DatabaseException;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Supplier;

/**
 * Reads one partition's committed batches from its segment tables: the cold path, past the tail cache, on the read
 * connections. Many rows per query, bounded by records and bytes; a segment that retention dropped under a read is told
 * from a transient failure. It keeps no state: the segment index ({@code base offset → segment}) is its writer's,
 * read here only, and concurrent; so a reader may run on any thread.
 */
final class StoredBatchReader {

  private final PgLogStore store;
  private final UUID topicId;
  private final int partition;
  private final NavigableMap<Long, Long> segmentStarts;
  private final Supplier<String> name;

  StoredBatchReader(PgLogStore store, UUID topicId, int partition, NavigableMap<Long, Long> segmentStarts,
                    Supplier<String> name) {
    this.store = store;
    this.topicId = topicId;
    this.partition = partition;
    this.segmentStarts = segmentStarts;
    this.name = name;
  }

  /**
   * Gathers records from {@code offset} into {@code out} until its bounds are met or {@code end} (the committed end) is
   * reached; answers the offset after the last record gathered.
   */
  Future<Long> read(long offset, long end, RecordBlock.Gathered out) {
    Map.Entry<Long, Long> segment = segmentStarts.floorEntry(offset);
    if (segment == null || offset >= end || out.full()) {
      return Future.succeededFuture(offset);
    }
    int rows = Math.max(1, out.maxRecords - out.records.size());
    return store.readClient().preparedQuery(Sql.batchesFrom(topicId, segment.getValue()))
        .execute(Tuple.of(partition, offset, rows, Math.max(1, out.maxBytes - out.bytes())))
        .recover(err -> relocate(err, offset))
        .compose(result -> {
          for (Row row : result) {
            if (row.getInteger("format") != RecordBlock.FORMAT) {
              return Future.failedFuture(new StorageException(StorageFailure.UNAVAILABLE, "batch at "
                  + row.getLong("base_offset") + " of " + name.get() + " has block format " + row.getInteger("format")
                  + ", which this version cannot read"));
            }
            if (!out.addFrom(row.getBuffer("block"), row.getLong("base_offset"), out.next(offset))) {
              return Future.succeededFuture(out.next(offset));
            }
          }
          long next = out.next(offset);
          if (next == offset) {
            return Future.succeededFuture(offset);  // nothing more in this segment
          }
          return read(next, end, out);
        });
  }

  /**
   * The first offset whose batch was appended at or after {@code timestamp}, searched from the segment of that time
   * on; {@code end} when there is none.
   */
  Future<Long> offsetForTimestamp(long timestamp, long segmentMs, long logStart, long end) {
    long firstSegment = Math.floorDiv(timestamp, segmentMs);
    List<Long> segments = new ArrayList<>(new TreeSet<>(segmentStarts.values()).tailSet(firstSegment));
    return firstAtOrAfter(segments, 0, timestamp, logStart, end);
  }

  private Future<Long> firstAtOrAfter(List<Long> segments, int i, long timestamp, long logStart, long end) {
    if (i == segments.size()) {
      return Future.succeededFuture(end);
    }
    return store.readClient().preparedQuery(Sql.batchAtTime(topicId, segments.get(i)))
        .execute(Tuple.of(partition, timestamp))
        .recover(err -> Future.succeededFuture(null))  // a segment dropped meanwhile: look further
        .compose(rows -> rows != null && rows.rowCount() == 1
            ? Future.succeededFuture(Math.max(logStart, rows.iterator().next().getLong(0)))
            : firstAtOrAfter(segments, i + 1, timestamp, logStart, end));
  }

  /** A segment table vanished under a reader: retention dropped it. Tell out-of-range from a transient failure. */
  private Future<RowSet<Row>> relocate(Throwable err, long offset) {
    if (err instanceof DatabaseException db && "42P01".equals(db.getSqlState())) {
      return store.readClient().preparedQuery(Sql.LOG_START).execute(Tuple.of(topicId, partition))
          .compose(rows -> {
            long start = rows.rowCount() == 0 ? Long.MAX_VALUE : rows.iterator().next().getLong(0);
            return Future.failedFuture(offset < start
                ? new StorageException(StorageFailure.OFFSET_OUT_OF_RANGE, "offset " + offset
                    + " of " + name.get() + " was removed by retention; the log now starts at " + start)
                : new StorageException(StorageFailure.UNAVAILABLE, "read of " + name.get()
                    + " raced with retention; retry"));
          });
    }
    return Future.failedFuture(err);
  }
}
