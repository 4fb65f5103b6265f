-- What an operator needs without SQL (issue 10): topic statistics read from the batch rows, and dead letters an
-- operator deleted while the group still needed their rows.

-- A dead letter an operator deleted is no longer listed nor redriven. Its row goes at once when nothing needs it (the
-- record is below the group's committed offset and has no parked row); otherwise it stays, dismissed, because it is
-- what tells a restarted group that the record is done (a dead-lettered record is never delivered again), and goes
-- with its group or topic.
ALTER TABLE dead_letter_origins ADD COLUMN dismissed_at bigint;

-- Per segment and partition: the last offset, the bytes of the record blocks, and the oldest and newest batch
-- timestamps (a batch's records share one), of the batches at or past the partition's log start. Reads the batch rows'
-- columns only: octet_length of an out-of-line block reads its size from the TOAST pointer, never the block. A segment
-- dropped by retention meanwhile is skipped.
CREATE FUNCTION runnel_segment_stats(topic uuid)
RETURNS TABLE (segment_no bigint, partition int, last_offset bigint, bytes bigint, oldest_timestamp bigint,
               newest_timestamp bigint)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
DECLARE
  s record;
BEGIN
  FOR s IN SELECT g.segment_no AS no, g.table_name AS t FROM segments g WHERE g.topic_id = topic ORDER BY g.segment_no LOOP
    BEGIN
      RETURN QUERY EXECUTE format(
        'SELECT $2, b.partition, max(b.last_offset), sum(octet_length(b.block))::bigint, min(b.max_timestamp),
                max(b.max_timestamp)
           FROM %I b JOIN partitions p ON p.topic_id = $1 AND p.partition = b.partition
          WHERE b.last_offset >= p.log_start_offset
          GROUP BY b.partition', s.t)
        USING topic, s.no;
    EXCEPTION WHEN undefined_table THEN
      NULL;
    END;
  END LOOP;
END $$;
