package dev.runnel.durability.impl;

import java.util.UUID;

/**
 * The statements of the log. Table DDL lives in the migrations (as functions); here only the statements that name a
 * segment table, whose name is derived from the topic id and segment number exactly as {@code runnel_segment_table}
 * derives it.
 */
final class Sql {

  private Sql() {
  }

  /**
   * Takes a partition, bumping its epoch: only if nobody holds a current lease, or the holder is this incarnation
   * ($5), or it is this node name ($3) and the caller proved that name's predecessor dead ($6: it holds the data
   * directory's lock).
   *
   * <p>The {@code FOR UPDATE} before the {@code UPDATE} is the fence. Writers lock the row {@code FOR KEY SHARE} and
   * check the epoch in the same statement. A plain {@code UPDATE} of non-key columns takes only {@code FOR NO KEY
   * UPDATE}, which does not conflict with {@code FOR KEY SHARE}: a stale writer's insert would then run beside an
   * uncommitted takeover and land after the end offset the takeover read. {@code FOR UPDATE} conflicts with it, so a
   * stale write waits for the takeover, re-reads the row and inserts nothing; and the takeover waits for a write in
   * flight, so the end offset read after it is final. {@code LeaseFenceTest} runs this constant and a copy without
   * {@code FOR UPDATE}.
   */
  static final String ACQUIRE = """
      UPDATE partitions p
         SET epoch = p.epoch + 1, leader = $3, incarnation = $5,
             lease_until = now() + make_interval(secs => $4 / 1000.0)
        FROM (SELECT topic_id, partition FROM partitions
               WHERE topic_id = $1 AND partition = $2
                 AND (leader IS NULL OR lease_until IS NULL OR lease_until < now()
                      OR (leader = $3 AND (incarnation = $5 OR $6)))
               FOR UPDATE) l
       WHERE p.topic_id = l.topic_id AND p.partition = l.partition
      RETURNING p.epoch, p.log_start_offset""";

  static final String LEADER = """
      SELECT coalesce(leader || ' (incarnation ' || coalesce(incarnation, 'unknown') || ')', '(nobody)')
        FROM partitions WHERE topic_id = $1 AND partition = $2""";

  static final String SEGMENT_STARTS = """
      SELECT segment_no, base_offset FROM segment_starts
       WHERE topic_id = $1 AND partition = $2 ORDER BY segment_no""";

  static final String INSERT_SEGMENT_START = """
      INSERT INTO segment_starts (topic_id, partition, segment_no, base_offset)
      SELECT $1, $2, $4, $5 FROM partitions
       WHERE topic_id = $1 AND partition = $2 AND epoch = $3 FOR KEY SHARE
      ON CONFLICT DO NOTHING""";

  /** Renews many leases in one statement; a partition missing from the answer was fenced. */
  static final String RENEW = """
      UPDATE partitions p SET lease_until = now() + make_interval(secs => $4 / 1000.0)
        FROM unnest($1::uuid[], $2::int[], $3::bigint[]) AS l(topic_id, partition, epoch)
       WHERE p.topic_id = l.topic_id AND p.partition = l.partition AND p.epoch = l.epoch
      RETURNING p.topic_id, p.partition""";

  static final String RELEASE = """
      UPDATE partitions SET leader = NULL, incarnation = NULL, lease_until = NULL
       WHERE topic_id = $1 AND partition = $2 AND epoch = $3""";

  /** A group's lease row, made at the group's first acquisition. */
  static final String GROUP_LEASE_ROW = "INSERT INTO group_leases (group_name) VALUES ($1) ON CONFLICT DO NOTHING";

  /**
   * Takes a group, bumping its epoch, on the same terms as {@link #ACQUIRE} ($2 node name, $3 lease ms, $4 incarnation,
   * $5 sole holder), and with the same {@code FOR UPDATE}: group-state writes hold the row {@code FOR KEY SHARE}.
   * Answers the member sessions its last owner passed on when it released it, and clears them: they are taken once.
   */
  static final String GROUP_ACQUIRE = """
      UPDATE group_leases g
         SET epoch = g.epoch + 1, owner = $2, incarnation = $4,
             lease_until = now() + make_interval(secs => $3 / 1000.0), sessions = NULL
        FROM (SELECT group_name, sessions FROM group_leases
               WHERE group_name = $1
                 AND (owner IS NULL OR lease_until IS NULL OR lease_until < now()
                      OR (owner = $2 AND (incarnation = $4 OR $5)))
               FOR UPDATE) l
       WHERE g.group_name = l.group_name
      RETURNING g.epoch, l.sessions""";

  static final String GROUP_OWNER = """
      SELECT coalesce(owner || ' (incarnation ' || coalesce(incarnation, 'unknown') || ')', '(nobody)'), owner
        FROM group_leases WHERE group_name = $1""";

  /** Renews many group leases in one statement; a group missing from the answer was fenced. */
  static final String GROUP_RENEW = """
      UPDATE group_leases g SET lease_until = now() + make_interval(secs => $3 / 1000.0)
        FROM unnest($1::text[], $2::bigint[]) AS l(group_name, epoch)
       WHERE g.group_name = l.group_name AND g.epoch = l.epoch
      RETURNING g.group_name""";

  /** Gives a group up under its epoch, with the member sessions passed to the next owner ($3, null: none). */
  static final String GROUP_RELEASE = """
      UPDATE group_leases SET owner = NULL, incarnation = NULL, lease_until = NULL, sessions = $3
       WHERE group_name = $1 AND epoch = $2""";

  static final String LOG_START = "SELECT log_start_offset FROM partitions WHERE topic_id = $1 AND partition = $2";

  static String table(UUID topic, long segment) {
    return "log_" + topic.toString().replace("-", "") + "_" + segment;
  }

  /** The columns of a batch row as the writer inserts them: the epoch is the writer's own ($3), the format Runnel's. */
  private static final String BATCH_COLUMNS =
      " (partition, base_offset, last_offset, max_timestamp, record_count, block, writer_epoch, format)"
      + " SELECT $2, $4, $5, $6, $7, $8, $3, " + RecordBlock.FORMAT;

  /**
   * The plain writes of several partitions of topic $1 in one statement ({@link SharedInserts}): $2..$8 are arrays
   * of partition, writer epoch, base offset, last offset, max timestamp, record count and block, one element per
   * write; each row is inserted only while its partition's epoch is current. Answers the partitions written (a
   * partition missing from the answer was fenced).
   */
  static String appendRows(UUID topic, long segment) {
    return "INSERT INTO " + table(topic, segment)
        + " (partition, base_offset, last_offset, max_timestamp, record_count, block, writer_epoch, format)"
        + " SELECT u.partition, u.base_offset, u.last_offset, u.max_timestamp, u.record_count, u.block, u.epoch, "
        + RecordBlock.FORMAT
        + " FROM partitions p JOIN unnest($2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],"
        + " $7::int[], $8::bytea[])"
        + " AS u(partition, epoch, base_offset, last_offset, max_timestamp, record_count, block)"
        + " ON p.partition = u.partition AND p.epoch = u.epoch WHERE p.topic_id = $1 FOR KEY SHARE OF p"
        + " RETURNING partition";
  }

  /**
   * The start of a write that also writes side rows: {@code lease} (the epoch check, as in {@link #append}) and
   * {@code ins} (the batch row); the side rows insert only {@code WHERE EXISTS (SELECT 1 FROM ins)}.
   */
  private static String batchInsertWithLease(UUID topic, long segment) {
    return "WITH lease AS (SELECT 1 FROM partitions WHERE topic_id = $1 AND partition = $2 AND epoch = $3 FOR KEY SHARE),"
        + " ins AS (INSERT INTO " + table(topic, segment) + BATCH_COLUMNS + " FROM lease RETURNING 1),";
  }

  /**
   * One write of dead letters that also records their origins ($9..$14, and $15 the epoch of each origin's group),
   * stored only while the partition's epoch and every origin's group epoch are current: the group leases are held
   * {@code FOR KEY SHARE} like the partition's, so a group takeover waits for it and it for the takeover. Answers the
   * batch rows written and whether the partition's epoch was current (written 0 with the partition current: a
   * group was fenced).
   */
  static String appendDeadLetters(UUID topic, long segment) {
    return "WITH lease AS (SELECT 1 FROM partitions WHERE topic_id = $1 AND partition = $2 AND epoch = $3 FOR KEY SHARE),"
        + " owners AS (SELECT 1 FROM group_leases l JOIN unnest($9::text[], $15::bigint[]) AS u(g, e)"
        + " ON l.group_name = u.g AND l.epoch = u.e FOR KEY SHARE OF l),"
        + " ins AS (INSERT INTO " + table(topic, segment) + BATCH_COLUMNS + " FROM lease"
        + " WHERE (SELECT count(*) FROM owners) = cardinality($9::text[]) RETURNING 1),"
        + " origins AS (INSERT INTO dead_letter_origins (group_name, topic_id, partition, record_offset, dlq_topic_id,"
        + " dlq_partition, dlq_offset, reason, dead_lettered_at)"
        + " SELECT u.g, u.t, u.p, u.o, $1, $2, u.d, u.r, $6"
        + " FROM unnest($9::text[], $10::uuid[], $11::int[], $12::bigint[], $13::bigint[], $14::text[]) AS u(g, t, p, o, d, r)"
        + " WHERE EXISTS (SELECT 1 FROM ins) RETURNING 1)"
        + " SELECT (SELECT count(*) FROM ins) AS written, (SELECT count(*) FROM origins) AS origins,"
        + " (SELECT count(*) FROM lease) AS partition_current";
  }

  /** One write that also records the idempotency keys of its records ($9 keys, $10 offsets, $11 expiry). */
  static String appendWithDedupKeys(UUID topic, long segment) {
    return batchInsertWithLease(topic, segment)
        + " keys AS (INSERT INTO dedup_keys (topic_id, partition, idempotency_key, record_offset, record_timestamp, expires_at)"
        + " SELECT $1, $2, u.k, u.o, $6, $11 FROM unnest($9::text[], $10::bigint[]) AS u(k, o)"
        + " WHERE EXISTS (SELECT 1 FROM ins)"
        + " ON CONFLICT (topic_id, partition, idempotency_key) DO UPDATE SET record_offset = excluded.record_offset,"
        + " record_timestamp = excluded.record_timestamp, expires_at = excluded.expires_at RETURNING 1)"
        + " SELECT (SELECT count(*) FROM ins) AS written, (SELECT count(*) FROM keys) AS keys";
  }

  /** The first batch whose records are at or after a timestamp (a batch's records share one timestamp). */
  static String batchAtTime(UUID topic, long segment) {
    return "SELECT base_offset FROM " + table(topic, segment)
        + " WHERE partition = $1 AND max_timestamp >= $2 ORDER BY base_offset LIMIT 1";
  }

  static String lastBatch(UUID topic, long segment) {
    return "SELECT last_offset, max_timestamp FROM " + table(topic, segment)
        + " WHERE partition = $1 ORDER BY base_offset DESC LIMIT 1";
  }

  /**
   * The batch holding {@code $2} and the ones after it, no more than needed for {@code $3} records from {@code $2}
   * and no more than {@code $4} bytes of blocks, except that the first row always comes. Both bounds are counted
   * without touching the blocks ({@code octet_length} of an out-of-line block reads its size from the TOAST pointer),
   * so rows past them are never fetched from TOAST.
   */
  static String batchesFrom(UUID topic, long segment) {
    String t = table(topic, segment);
    String records = "(last_offset - greatest(base_offset, $2) + 1)";
    return "SELECT base_offset, block, format FROM (SELECT base_offset, block, format,"
        + " sum(octet_length(block)) OVER w - octet_length(block) AS bytes_before,"
        + " sum(" + records + ") OVER w - " + records + " AS records_before"
        + " FROM " + t + " WHERE partition = $1 AND last_offset >= $2"
        + " AND base_offset >= coalesce((SELECT max(base_offset) FROM " + t
        + " WHERE partition = $1 AND base_offset <= $2), 0)"
        + " WINDOW w AS (ORDER BY base_offset) ORDER BY base_offset LIMIT $3) b"
        + " WHERE records_before < $3 AND (bytes_before = 0 OR bytes_before < $4) ORDER BY base_offset";
  }
}
