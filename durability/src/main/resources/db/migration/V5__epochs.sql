-- Issue 12: who wrote each batch, and which incarnation of a node holds a lease.
--
-- Every batch row carries its writer's epoch (so "nothing a fenced writer tried landed" can be checked in SQL: per
-- partition, writer_epoch never decreases with base_offset) and the format of its block (0 = Runnel's block,
-- RecordBlock.java; other block formats can come later). Rows stored before this migration carry epoch 0.
--
-- A lease holder is an incarnation: the stable node name in `leader` and a per-start id in `incarnation`, so a
-- restarted process waits for its predecessor's lease like anyone else unless it proves the predecessor dead.

ALTER TABLE partitions ADD COLUMN incarnation text;

DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT s.table_name FROM segments s LOOP
    EXECUTE format('ALTER TABLE %I ADD COLUMN writer_epoch bigint NOT NULL DEFAULT 0,'
        || ' ADD COLUMN format smallint NOT NULL DEFAULT 0', t);
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION runnel_create_segment(topic uuid, seg bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  t text := runnel_segment_table(topic, seg);
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(t, 0));
  IF NOT EXISTS (SELECT 1 FROM segments s WHERE s.topic_id = topic AND s.segment_no = seg) THEN
    EXECUTE format('CREATE TABLE %I (
        partition      int      NOT NULL,
        base_offset    bigint   NOT NULL,
        last_offset    bigint   NOT NULL,
        max_timestamp  bigint   NOT NULL,
        record_count   int      NOT NULL,
        block          bytea    NOT NULL,
        writer_epoch   bigint   NOT NULL,
        format         smallint NOT NULL DEFAULT 0,
        PRIMARY KEY (partition, base_offset))', t);
    -- Blocks are already compact binary; keep them out of line and uncompressed.
    EXECUTE format('ALTER TABLE %I ALTER COLUMN block SET STORAGE EXTERNAL', t);
    INSERT INTO segments (topic_id, segment_no, table_name) VALUES (topic, seg, t);
  END IF;
  RETURN t;
END $$;

-- runnel_records keeps its form and gains the epoch of the writer that stored each record's batch.
DROP FUNCTION runnel_records(text, int, bigint);
CREATE FUNCTION runnel_records(topic_name text, part int DEFAULT NULL, from_offset bigint DEFAULT 0)
RETURNS TABLE (partition int, record_offset bigint, appended_at timestamptz, key bytea, value bytea,
               content_type text, headers jsonb, idempotency_key text, writer_epoch bigint)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  topic uuid;
  segment text;
BEGIN
  SELECT t.topic_id INTO topic FROM topics t WHERE t.name = topic_name;
  IF topic IS NULL THEN
    RAISE EXCEPTION 'topic % does not exist', topic_name USING ERRCODE = 'undefined_object';
  END IF;
  FOR segment IN SELECT s.table_name FROM segments s WHERE s.topic_id = topic ORDER BY s.segment_no LOOP
    RETURN QUERY EXECUTE format(
      'SELECT b.partition, r.record_offset, r.appended_at, r.key, r.value, r.content_type, r.headers, r.idempotency_key,
              b.writer_epoch
         FROM %I b
         JOIN partitions p ON p.topic_id = $1 AND p.partition = b.partition
         CROSS JOIN LATERAL runnel_decode_block(b.block, b.base_offset) r
        WHERE ($2 IS NULL OR b.partition = $2) AND b.last_offset >= greatest($3, p.log_start_offset)
          AND r.record_offset >= greatest($3, p.log_start_offset)', segment)
      USING topic, part, from_offset;
  END LOOP;
END $$;
