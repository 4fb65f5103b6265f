-- Consumer-group state: committed offsets, parked records, dead-letter origins, and produce dedup keys.
-- Deleting a topic deletes its groups' positions, parked rows and dead-letter origins (its dead-letter topics stay).

CREATE TABLE group_offsets (
  group_name        text   NOT NULL,
  topic_id          uuid   NOT NULL REFERENCES topics ON DELETE CASCADE,
  partition         int    NOT NULL,
  committed_offset  bigint NOT NULL,
  skipped           bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (group_name, topic_id, partition)
);

-- A record a group could not finish in order: 'r' = retry (waits for not_before, counts attempts),
-- 'b' = blocked behind an earlier record of its key (no attempt counted).
CREATE TABLE parked (
  group_name     text   NOT NULL,
  topic_id       uuid   NOT NULL REFERENCES topics ON DELETE CASCADE,
  partition      int    NOT NULL,
  record_offset  bigint NOT NULL,
  kind           "char" NOT NULL CHECK (kind IN ('r', 'b')),
  key_hash       int,
  attempts       int    NOT NULL,
  not_before     bigint NOT NULL,
  first_failure  bigint,
  last_failure   bigint,
  last_error     text,
  PRIMARY KEY (group_name, topic_id, partition, record_offset)
);

-- Written in the same statement as the dead-letter record itself: a crash never loses nor doubles a dead letter.
CREATE TABLE dead_letter_origins (
  group_name        text   NOT NULL,
  topic_id          uuid   NOT NULL REFERENCES topics ON DELETE CASCADE,
  partition         int    NOT NULL,
  record_offset     bigint NOT NULL,
  dlq_topic_id      uuid   NOT NULL,
  dlq_partition     int    NOT NULL,
  dlq_offset        bigint NOT NULL,
  reason            text   NOT NULL,
  dead_lettered_at  bigint NOT NULL,
  PRIMARY KEY (group_name, topic_id, partition, record_offset)
);

CREATE TABLE group_configs (
  group_name  text  PRIMARY KEY,
  config      jsonb NOT NULL
);

CREATE TABLE dedup_keys (
  topic_id          uuid   NOT NULL REFERENCES topics ON DELETE CASCADE,
  partition         int    NOT NULL,
  idempotency_key   text   NOT NULL,
  record_offset     bigint NOT NULL,
  record_timestamp  bigint NOT NULL,
  expires_at        bigint NOT NULL,
  PRIMARY KEY (topic_id, partition, idempotency_key)
);
CREATE INDEX dedup_keys_expiry ON dedup_keys (expires_at);

-- Cluster-wide secrets, e.g. the key that signs delivery tokens.
CREATE TABLE secrets (
  name   text  PRIMARY KEY,
  value  bytea NOT NULL
);
