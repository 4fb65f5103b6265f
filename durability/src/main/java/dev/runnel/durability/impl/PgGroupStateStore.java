package dev.runnel.durability.impl;

import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.GroupLease;
import dev.runnel.durability.GroupPartitionState;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.ParkedRecord;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.Tuple;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/** {@link GroupStateStore} on the same Postgres as the log. */
final class PgGroupStateStore implements GroupStateStore {

  /** One group's position in one partition, fenced by the group's epoch ($4): {@code saved} is 0 when fenced. */
  static final String SAVE = """
      WITH lease AS (SELECT 1 FROM group_leases WHERE group_name = $1 AND epoch = $4 FOR KEY SHARE),
      o AS (INSERT INTO group_offsets (group_name, topic_id, partition, committed_offset, skipped)
            SELECT $1, $2, $3, $5, $6 FROM lease
            ON CONFLICT (group_name, topic_id, partition)
            DO UPDATE SET committed_offset = excluded.committed_offset, skipped = excluded.skipped
            RETURNING 1),
      d AS (DELETE FROM parked WHERE group_name = $1 AND topic_id = $2 AND partition = $3
              AND record_offset = ANY($7::bigint[]) AND EXISTS (SELECT 1 FROM lease)
            RETURNING 1),
      u AS (INSERT INTO parked (group_name, topic_id, partition, record_offset, kind, key_hash, attempts, not_before,
                                first_failure, last_failure, last_error)
            SELECT $1, $2, $3, x.o, x.k::"char", x.h, x.a, x.nb, x.ff, x.lf, x.le
              FROM unnest($8::bigint[], $9::text[], $10::int[], $11::int[], $12::bigint[], $13::bigint[], $14::bigint[],
                          $15::text[]) AS x(o, k, h, a, nb, ff, lf, le), lease
            ON CONFLICT (group_name, topic_id, partition, record_offset) DO UPDATE
              SET kind = excluded.kind, key_hash = excluded.key_hash, attempts = excluded.attempts,
                  not_before = excluded.not_before, first_failure = excluded.first_failure,
                  last_failure = excluded.last_failure, last_error = excluded.last_error
            RETURNING 1),
      x AS (DELETE FROM dead_letter_origins WHERE group_name = $1 AND topic_id = $2 AND partition = $3
              AND record_offset = ANY($16::bigint[]) AND EXISTS (SELECT 1 FROM lease)
            RETURNING 1)
      SELECT (SELECT count(*) FROM o) AS saved, (SELECT count(*) FROM d) AS deleted, (SELECT count(*) FROM u) AS parked,
             (SELECT count(*) FROM x) AS origins_deleted""";

  private final SqlClient client;
  private final GroupLeases leases;

  PgGroupStateStore(SqlClient client, GroupLeases leases) {
    this.client = client;
    this.leases = leases;
  }

  @Override
  public Future<GroupLease> acquireGroup(String group) {
    return leases.acquire(group);
  }

  @Override
  public Map<String, GroupLease> heldGroups() {
    return leases.held();
  }

  private static StorageException fenced(String group, long epoch, String what) {
    return new StorageException(StorageFailure.UNAVAILABLE, what + " of group " + group + " was fenced (epoch " + epoch
        + " is not current: another owner took the group)");
  }

  @Override
  public Future<GroupPartitionState> load(String group, UUID topicId, int partition) {
    Tuple key = Tuple.of(group, topicId, partition);
    Future<long[]> offsets = client.preparedQuery("""
            SELECT committed_offset, skipped FROM group_offsets
             WHERE group_name = $1 AND topic_id = $2 AND partition = $3""").execute(key)
        .map(rows -> rows.rowCount() == 0 ? new long[] {-1, 0}
            : new long[] {rows.iterator().next().getLong(0), rows.iterator().next().getLong(1)});
    Future<List<ParkedRecord>> parked = client.preparedQuery("""
            SELECT record_offset, kind::text AS kind, key_hash, attempts, not_before, first_failure, last_failure, last_error
              FROM parked WHERE group_name = $1 AND topic_id = $2 AND partition = $3 ORDER BY record_offset""")
        .execute(key)
        .map(rows -> {
          List<ParkedRecord> list = new ArrayList<>();
          for (Row r : rows) {
            list.add(new ParkedRecord(r.getLong("record_offset"),
                "r".equals(r.getString("kind")) ? ParkedRecord.Kind.RETRY : ParkedRecord.Kind.BLOCKED,
                r.getInteger("key_hash"), r.getInteger("attempts"), r.getLong("not_before"),
                orZero(r.getLong("first_failure")), orZero(r.getLong("last_failure")), r.getString("last_error")));
          }
          return list;
        });
    Future<List<Long>> deadLettered = client.preparedQuery("""
            SELECT d.record_offset FROM dead_letter_origins d
             WHERE d.group_name = $1 AND d.topic_id = $2 AND d.partition = $3
               AND (d.record_offset >= COALESCE((SELECT committed_offset FROM group_offsets o
                                                   WHERE o.group_name = $1 AND o.topic_id = $2 AND o.partition = $3), 0)
                    OR EXISTS (SELECT 1 FROM parked p WHERE p.group_name = $1 AND p.topic_id = $2 AND p.partition = $3
                                 AND p.record_offset = d.record_offset))
             ORDER BY d.record_offset""").execute(key)
        .map(rows -> {
          List<Long> list = new ArrayList<>();
          rows.forEach(r -> list.add(r.getLong(0)));
          return list;
        });
    return Future.all(offsets, parked, deadLettered).map(v -> new GroupPartitionState(offsets.result()[0],
        offsets.result()[1], parked.result(), deadLettered.result()));
  }

  private static long orZero(Long v) {
    return v == null ? 0 : v;
  }

  @Override
  public Future<Void> save(String group, UUID topicId, int partition, long groupEpoch, long committedOffset, long skipped,
                           List<ParkedRecord> upserts, List<Long> deletes, List<Long> deadLetterOriginDeletes) {
    int n = upserts.size();
    Long[] offsets = new Long[n];
    String[] kinds = new String[n];
    Integer[] hashes = new Integer[n];
    Integer[] attempts = new Integer[n];
    Long[] notBefore = new Long[n];
    Long[] first = new Long[n];
    Long[] last = new Long[n];
    String[] errors = new String[n];
    for (int i = 0; i < n; i++) {
      ParkedRecord p = upserts.get(i);
      offsets[i] = p.offset();
      kinds[i] = p.kind() == ParkedRecord.Kind.RETRY ? "r" : "b";
      hashes[i] = p.keyHash();
      attempts[i] = p.attempts();
      notBefore[i] = p.notBefore();
      first[i] = p.firstFailure();
      last[i] = p.lastFailure();
      errors[i] = p.lastError();
    }
    Tuple params = Tuple.of(group, topicId, partition, groupEpoch, committedOffset, skipped)
        .addArrayOfLong(deletes.toArray(new Long[0]))
        .addArrayOfLong(offsets).addArrayOfString(kinds).addArrayOfInteger(hashes).addArrayOfInteger(attempts)
        .addArrayOfLong(notBefore).addArrayOfLong(first).addArrayOfLong(last).addArrayOfString(errors)
        .addArrayOfLong(deadLetterOriginDeletes.toArray(new Long[0]));
    return client.preparedQuery(SAVE).execute(params).compose(rows -> rows.iterator().next().getLong("saved") == 1
        ? Future.<Void>succeededFuture()
        : Future.failedFuture(fenced(group, groupEpoch, "the position in partition " + partition)));
  }

  @Override
  public Future<Map<String, List<Long>>> parkedBelow(UUID topicId, int partition, long offset) {
    return client.preparedQuery("SELECT group_name, record_offset FROM parked"
            + " WHERE topic_id = $1 AND partition = $2 AND record_offset < $3 ORDER BY group_name, record_offset")
        .execute(Tuple.of(topicId, partition, offset))
        .map(rows -> {
          Map<String, List<Long>> byGroup = new HashMap<>();
          for (Row r : rows) {
            byGroup.computeIfAbsent(r.getString(0), g -> new ArrayList<>()).add(r.getLong(1));
          }
          return byGroup;
        });
  }

  @Override
  public Future<DeadLetterOrigin> deadLetterOrigin(String group, UUID topicId, int partition, long offset) {
    return client.preparedQuery("SELECT * FROM dead_letter_origins WHERE group_name = $1 AND topic_id = $2"
            + " AND partition = $3 AND record_offset = $4")
        .execute(Tuple.of(group, topicId, partition, offset))
        .map(rows -> rows.rowCount() == 0 ? null : origin(rows.iterator().next()));
  }

  @Override
  public Future<List<DeadLetterOrigin>> deadLetterOrigins(String group, UUID topicId, int limit) {
    return client.preparedQuery("SELECT * FROM dead_letter_origins WHERE group_name = $1 AND topic_id = $2"
            + " AND dismissed_at IS NULL ORDER BY dead_lettered_at, partition, record_offset LIMIT $3")
        .execute(Tuple.of(group, topicId, limit))
        .map(rows -> {
          List<DeadLetterOrigin> list = new ArrayList<>();
          rows.forEach(r -> list.add(origin(r)));
          return list;
        });
  }

  private static DeadLetterOrigin origin(Row r) {
    return new DeadLetterOrigin(r.getString("group_name"), r.getUUID("topic_id"), r.getInteger("partition"),
        r.getLong("record_offset"), r.getUUID("dlq_topic_id"), r.getInteger("dlq_partition"), r.getLong("dlq_offset"),
        r.getString("reason"), r.getLong("dead_lettered_at"));
  }

  /**
   * The chosen origins, each marked settled when nothing needs its row: its record is below the group's committed
   * offset and has no parked row (DESIGN.md section 4: past the committed offset, or parked, the origin is what says
   * the record is done). Settled rows go; the others are marked dismissed.
   */
  private static final String DISMISS = """
      WITH lease AS (SELECT 1 FROM group_leases WHERE group_name = $1 AND epoch = $6 FOR KEY SHARE),
      chosen AS (
        SELECT d.partition, d.record_offset,
               d.record_offset < coalesce(o.committed_offset, -1) AND p.record_offset IS NULL AS settled
          FROM dead_letter_origins d
          LEFT JOIN group_offsets o
            ON o.group_name = d.group_name AND o.topic_id = d.topic_id AND o.partition = d.partition
          LEFT JOIN parked p
            ON p.group_name = d.group_name AND p.topic_id = d.topic_id AND p.partition = d.partition
           AND p.record_offset = d.record_offset
         WHERE d.group_name = $1 AND d.topic_id = $2 AND d.dismissed_at IS NULL
           AND ($3::int IS NULL OR d.partition = $3)
           AND ($4::bigint[] IS NULL OR d.record_offset = ANY($4::bigint[]))
           AND EXISTS (SELECT 1 FROM lease)),
      gone AS (DELETE FROM dead_letter_origins d USING chosen c
                WHERE c.settled AND d.group_name = $1 AND d.topic_id = $2 AND d.partition = c.partition
                  AND d.record_offset = c.record_offset
               RETURNING 1),
      kept AS (UPDATE dead_letter_origins d SET dismissed_at = $5 FROM chosen c
                WHERE NOT c.settled AND d.group_name = $1 AND d.topic_id = $2 AND d.partition = c.partition
                  AND d.record_offset = c.record_offset
               RETURNING 1)
      SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM kept) AS dismissed, (SELECT count(*) FROM lease) AS owned""";

  @Override
  public Future<Integer> dismissDeadLetterOrigins(String group, long groupEpoch, UUID topicId, Integer partition,
                                                  List<Long> offsets, long now) {
    Tuple params = Tuple.of(group, topicId, partition);
    params.addArrayOfLong(offsets == null ? null : offsets.toArray(new Long[0]));
    params.addLong(now).addLong(groupEpoch);
    return client.preparedQuery(DISMISS).execute(params).compose(rows -> {
      Row row = rows.iterator().next();
      return row.getLong("owned") == 1 ? Future.succeededFuture((int) (long) row.getLong("dismissed"))
          : Future.failedFuture(fenced(group, groupEpoch, "a dismissal of dead letters"));
    });
  }

  @Override
  public Future<Boolean> deleteGroup(String group, long groupEpoch) {
    return client.preparedQuery("""
            WITH lease AS (SELECT 1 FROM group_leases WHERE group_name = $1 AND epoch = $2 FOR KEY SHARE),
                 o AS (DELETE FROM group_offsets WHERE group_name = $1 AND EXISTS (SELECT 1 FROM lease) RETURNING 1),
                 p AS (DELETE FROM parked WHERE group_name = $1 AND EXISTS (SELECT 1 FROM lease) RETURNING 1),
                 d AS (DELETE FROM dead_letter_origins WHERE group_name = $1 AND EXISTS (SELECT 1 FROM lease)
                       RETURNING 1),
                 c AS (DELETE FROM group_configs WHERE group_name = $1 AND EXISTS (SELECT 1 FROM lease) RETURNING 1)
            SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM p) + (SELECT count(*) FROM d)
                   + (SELECT count(*) FROM c) AS deleted, (SELECT count(*) FROM lease) AS owned""")
        .execute(Tuple.of(group, groupEpoch))
        .compose(rows -> {
          Row row = rows.iterator().next();
          return row.getLong("owned") == 1 ? Future.succeededFuture(row.getLong("deleted") > 0)
              : Future.failedFuture(fenced(group, groupEpoch, "the deletion"));
        });
  }

  @Override
  public Future<Set<UUID>> topicsOfGroup(String group) {
    return client.preparedQuery("""
            SELECT topic_id FROM group_offsets WHERE group_name = $1
            UNION SELECT topic_id FROM parked WHERE group_name = $1
            UNION SELECT topic_id FROM dead_letter_origins WHERE group_name = $1""")
        .execute(Tuple.of(group))
        .map(rows -> {
          Set<UUID> ids = new java.util.HashSet<>();
          rows.forEach(r -> ids.add(r.getUUID(0)));
          return ids;
        });
  }

  @Override
  public Future<List<String>> groupsOfTopic(UUID topicId) {
    return client.preparedQuery("SELECT DISTINCT group_name FROM group_offsets WHERE topic_id = $1 ORDER BY group_name")
        .execute(Tuple.of(topicId))
        .map(rows -> {
          List<String> names = new ArrayList<>();
          rows.forEach(r -> names.add(r.getString(0)));
          return names;
        });
  }

  @Override
  public Future<Map<String, Map<String, Long>>> committedOffsets() {
    return client.preparedQuery("SELECT group_name, topic_id, partition, committed_offset FROM group_offsets")
        .execute()
        .map(rows -> {
          Map<String, Map<String, Long>> groups = new HashMap<>();
          for (Row r : rows) {
            groups.computeIfAbsent(r.getString(0), g -> new HashMap<>())
                .put(r.getUUID(1) + "/" + r.getInteger(2), r.getLong(3));
          }
          return groups;
        });
  }

  @Override
  public Future<JsonObject> groupConfig(String group) {
    return client.preparedQuery("SELECT config FROM group_configs WHERE group_name = $1").execute(Tuple.of(group))
        .map(rows -> rows.rowCount() == 0 ? null : toJson(rows.iterator().next().getValue(0)));
  }

  private static JsonObject toJson(Object v) {
    return v instanceof JsonObject j ? j : new JsonObject(String.valueOf(v));
  }

  @Override
  public Future<Void> saveGroupConfig(String group, long groupEpoch, JsonObject config) {
    return client.preparedQuery("""
            WITH lease AS (SELECT 1 FROM group_leases WHERE group_name = $1 AND epoch = $3 FOR KEY SHARE)
            INSERT INTO group_configs (group_name, config) SELECT $1, $2 FROM lease
            ON CONFLICT (group_name) DO UPDATE SET config = excluded.config""")
        .execute(Tuple.of(group, config, groupEpoch))
        .compose(rows -> rows.rowCount() == 1 ? Future.<Void>succeededFuture()
            : Future.failedFuture(fenced(group, groupEpoch, "the config")));
  }

  @Override
  public Future<byte[]> secret(String name, int bytes) {
    byte[] fresh = new byte[bytes];
    new SecureRandom().nextBytes(fresh);
    return client.preparedQuery("INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .execute(Tuple.of(name, Buffer.buffer(fresh)))
        .compose(v -> client.preparedQuery("SELECT value FROM secrets WHERE name = $1").execute(Tuple.of(name)))
        .map(rows -> rows.iterator().next().getBuffer(0).getBytes());
  }
}
