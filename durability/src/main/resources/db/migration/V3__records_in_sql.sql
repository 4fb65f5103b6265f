-- Records for ad-hoc SQL: the log keeps one row per append batch (a binary block, see RecordBlock.java for the
-- format), so individual records are decoded here, in PL/pgSQL: about 150,000 records of 1 KB a second on 2 cores,
-- for looking at data, not for consuming it.
--
--   SELECT record_offset, appended_at, convert_from(value, 'UTF8') FROM runnel.runnel_records('orders', 2, 100)
--    ORDER BY record_offset;

-- The records of one block, in offset order. Header values come as text; one that is not valid UTF-8 comes as base64.
CREATE FUNCTION runnel_decode_block(stored bytea, base_offset bigint)
RETURNS TABLE (record_offset bigint, appended_at timestamptz, key bytea, value bytea, content_type text,
               headers jsonb, idempotency_key text)
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path FROM CURRENT AS $$
DECLARE
  block bytea := stored || ''::bytea;  -- one copy: each substring of the stored (TOASTed) value would fetch again
  pos int := 5;  -- 0-based: past the version byte and the record count
  n int;
  len int;
  header_count int;
  header_name text;
  header_value bytea;
BEGIN
  IF get_byte(block, 0) <> 1 THEN
    RAISE EXCEPTION 'unknown record block version %', get_byte(block, 0);
  END IF;
  n := ('x' || encode(substring(block FROM 2 FOR 4), 'hex'))::bit(32)::int;
  FOR i IN 0 .. n - 1 LOOP
    record_offset := base_offset + i;
    appended_at := to_timestamp(('x' || encode(substring(block FROM pos + 1 FOR 8), 'hex'))::bit(64)::bigint / 1000.0);
    pos := pos + 8;
    len := ('x' || encode(substring(block FROM pos + 1 FOR 4), 'hex'))::bit(32)::int;
    pos := pos + 4;
    key := CASE WHEN len < 0 THEN NULL ELSE substring(block FROM pos + 1 FOR len) END;
    pos := pos + greatest(len, 0);
    len := ('x' || encode(substring(block FROM pos + 1 FOR 4), 'hex'))::bit(32)::int;
    pos := pos + 4;
    value := substring(block FROM pos + 1 FOR len);
    pos := pos + len;
    len := get_byte(block, pos) * 256 + get_byte(block, pos + 1);
    content_type := convert_from(substring(block FROM pos + 3 FOR len), 'UTF8');
    pos := pos + 2 + len;
    header_count := get_byte(block, pos) * 256 + get_byte(block, pos + 1);
    pos := pos + 2;
    headers := '{}'::jsonb;
    FOR h IN 1 .. header_count LOOP
      len := get_byte(block, pos) * 256 + get_byte(block, pos + 1);
      header_name := convert_from(substring(block FROM pos + 3 FOR len), 'UTF8');
      pos := pos + 2 + len;
      len := ('x' || encode(substring(block FROM pos + 1 FOR 4), 'hex'))::bit(32)::int;
      header_value := substring(block FROM pos + 5 FOR len);
      pos := pos + 4 + len;
      BEGIN
        headers := headers || jsonb_build_object(header_name, convert_from(header_value, 'UTF8'));
      EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
        headers := headers || jsonb_build_object(header_name, encode(header_value, 'base64'));
      END;
    END LOOP;
    len := get_byte(block, pos) * 256 + get_byte(block, pos + 1);
    IF len = 65535 THEN  -- -1 as a 2-byte length: no idempotency key
      idempotency_key := NULL;
      pos := pos + 2;
    ELSE
      idempotency_key := convert_from(substring(block FROM pos + 3 FOR len), 'UTF8');
      pos := pos + 2 + len;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- A topic's retained, committed records from from_offset on; all partitions when part is null. Unordered: add
-- ORDER BY partition, record_offset.
CREATE FUNCTION runnel_records(topic_name text, part int DEFAULT NULL, from_offset bigint DEFAULT 0)
RETURNS TABLE (partition int, record_offset bigint, appended_at timestamptz, key bytea, value bytea,
               content_type text, headers jsonb, idempotency_key text)
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
      'SELECT b.partition, r.record_offset, r.appended_at, r.key, r.value, r.content_type, r.headers, r.idempotency_key
         FROM %I b
         JOIN partitions p ON p.topic_id = $1 AND p.partition = b.partition
         CROSS JOIN LATERAL runnel_decode_block(b.block, b.base_offset) r
        WHERE ($2 IS NULL OR b.partition = $2) AND b.last_offset >= greatest($3, p.log_start_offset)
          AND r.record_offset >= greatest($3, p.log_start_offset)', segment)
      USING topic, part, from_offset;
  END LOOP;
END $$;
