-- Issue 12: a lease per consumer group, so a group's state is fenced by the group's own epoch (its owner runs the
-- group's coordinator and all of its delivery state machines, DESIGN.md section 6) instead of the partition's, which
-- only the partition's writer holds. The same rules as a partition's lease: acquire bumps the epoch, the holder is an
-- incarnation, every write of the group's state (committed offsets, parked rows, group config, dead-letter origins)
-- locks this row FOR KEY SHARE and checks the epoch in its own statement; 0 rows means fenced. A deleted group keeps
-- its row, so its epochs never go back.
CREATE TABLE group_leases (
  group_name   text        PRIMARY KEY,
  epoch        bigint      NOT NULL DEFAULT 0,
  owner        text,
  incarnation  text,
  lease_until  timestamptz
);
