-- Issue 13: a group's owner that hands the group over gracefully passes its members' sessions on (DESIGN.md section 6:
-- only a failure loses sessions). It writes them with the release, fenced by its epoch; the next acquire reads them
-- and clears them in the same statement, so they are taken once, and only straight after a graceful release.
ALTER TABLE group_leases ADD COLUMN sessions jsonb;
