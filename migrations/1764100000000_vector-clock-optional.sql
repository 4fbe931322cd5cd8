-- Up Migration

-- `operations.vector_clock` repeated what each row already holds (actor_id, seq, and the
-- change's base revision, which is its first op's revision minus one) and nothing read it.
-- Relays from this release on stop writing it. The column is made optional here rather than
-- dropped, so that relays of the previous release, still inserting it during a rolling update
-- (the migration job runs before the new pods start), keep working; the release after this
-- one drops it.
ALTER TABLE operations ALTER COLUMN vector_clock DROP NOT NULL;

-- Down Migration
UPDATE operations
   SET vector_clock = jsonb_build_object('actor', actor_id, 'seq', seq, 'rev', revision - op_index - 1)
 WHERE vector_clock IS NULL;
ALTER TABLE operations ALTER COLUMN vector_clock SET NOT NULL;
