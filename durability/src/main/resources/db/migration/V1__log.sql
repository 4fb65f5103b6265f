-- Runnel's log. Records are stored one row per append batch (a binary block of records) in segment tables: a
-- segment holds the batches of one topic whose append time falls in [segment_no * segmentMs, (segment_no + 1) * segmentMs).
-- Retention drops whole segment tables; nothing is ever deleted row by row. See durability/README.md for the measurements.

CREATE TABLE topics (
  topic_id    uuid        PRIMARY KEY,
  name        text        NOT NULL UNIQUE,
  partitions  int         NOT NULL CHECK (partitions > 0),
  config      jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per partition: the writer's lease (epoch, leader, lease_until) and the first retained offset.
-- Every write statement locks this row FOR KEY SHARE and checks the epoch; a takeover locks it FOR UPDATE and bumps the
-- epoch, so it waits for a write in flight and every later write of the old writer finds the epoch changed.
CREATE TABLE partitions (
  topic_id          uuid   NOT NULL REFERENCES topics ON DELETE CASCADE,
  partition         int    NOT NULL,
  epoch             bigint NOT NULL DEFAULT 0,
  leader            text,
  lease_until       timestamptz,
  log_start_offset  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (topic_id, partition)
);

CREATE TABLE segments (
  topic_id    uuid   NOT NULL,
  segment_no  bigint NOT NULL,
  table_name  text   NOT NULL,
  PRIMARY KEY (topic_id, segment_no)
);

-- The first offset a partition wrote into a segment; written before that first write, so a segment never holds
-- records of a partition without its start.
CREATE TABLE segment_starts (
  topic_id     uuid   NOT NULL,
  partition    int    NOT NULL,
  segment_no   bigint NOT NULL,
  base_offset  bigint NOT NULL,
  PRIMARY KEY (topic_id, partition, segment_no)
);

CREATE FUNCTION runnel_segment_table(topic uuid, seg bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'log_' || replace(topic::text, '-', '') || '_' || seg $$;

-- Creates the segment table if it does not exist yet; safe to call from several writers at once.
CREATE FUNCTION runnel_create_segment(topic uuid, seg bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  t text := runnel_segment_table(topic, seg);
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(t, 0));
  IF NOT EXISTS (SELECT 1 FROM segments s WHERE s.topic_id = topic AND s.segment_no = seg) THEN
    EXECUTE format('CREATE TABLE %I (
        partition      int    NOT NULL,
        base_offset    bigint NOT NULL,
        last_offset    bigint NOT NULL,
        max_timestamp  bigint NOT NULL,
        record_count   int    NOT NULL,
        block          bytea  NOT NULL,
        PRIMARY KEY (partition, base_offset))', t);
    -- Blocks are already compact binary; keep them out of line and uncompressed.
    EXECUTE format('ALTER TABLE %I ALTER COLUMN block SET STORAGE EXTERNAL', t);
    INSERT INTO segments (topic_id, segment_no, table_name) VALUES (topic, seg, t);
  END IF;
  RETURN t;
END $$;

-- Drops one segment whole: first moves every partition's log start past it, then drops the table. A short lock
-- timeout means a reader still inside the table makes this attempt give up (and retention try again later) instead of
-- queueing appends and reads of the topic behind an exclusive lock.
CREATE FUNCTION runnel_drop_segment(topic uuid, seg bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t text;
  r record;
BEGIN
  PERFORM set_config('lock_timeout', '200ms', true);
  SELECT s.table_name INTO t FROM segments s WHERE s.topic_id = topic AND s.segment_no = seg;
  IF t IS NULL THEN
    RETURN;
  END IF;
  FOR r IN EXECUTE format('SELECT partition, max(last_offset) + 1 AS next_offset FROM %I GROUP BY partition', t) LOOP
    UPDATE partitions p
       SET log_start_offset = greatest(p.log_start_offset, r.next_offset)
     WHERE p.topic_id = topic AND p.partition = r.partition;
  END LOOP;
  DELETE FROM segment_starts s WHERE s.topic_id = topic AND s.segment_no <= seg;
  DELETE FROM segments s WHERE s.topic_id = topic AND s.segment_no = seg;
  EXECUTE format('DROP TABLE %I', t);
END $$;

-- Deletes a topic with all its segments.
CREATE FUNCTION runnel_drop_topic(topic uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT s.table_name FROM segments s WHERE s.topic_id = topic LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I', t);
  END LOOP;
  DELETE FROM segment_starts s WHERE s.topic_id = topic;
  DELETE FROM segments s WHERE s.topic_id = topic;
  DELETE FROM topics WHERE topic_id = topic;
END $$;
