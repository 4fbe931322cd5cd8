-- Up Migration

-- Each actor's last committed change on a document and where it landed. Written in the same
-- transaction as the change, including a change that transformed into nothing (no row in
-- `operations`): without it, a restarted or other replica would not know that change's
-- sequence number was used, refuse the actor's next one, and could not answer a resend of it
-- with its original ack.
CREATE TABLE actor_progress (
  document_id  uuid        NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  actor_id     uuid        NOT NULL,
  user_id      text        NOT NULL,
  last_seq     bigint      NOT NULL CHECK (last_seq > 0),
  -- Base revision of that change and how many ops (revisions) it occupies (0: it was empty).
  last_rev     bigint      NOT NULL CHECK (last_rev >= 0),
  last_count   integer     NOT NULL CHECK (last_count >= 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (document_id, actor_id)
);

-- Actors that committed before this table existed: their last change with ops.
INSERT INTO actor_progress (document_id, actor_id, user_id, last_seq, last_rev, last_count)
SELECT DISTINCT ON (document_id, actor_id)
       document_id, actor_id, user_id, seq, min_rev - 1, ops
FROM (
  SELECT document_id, actor_id, user_id, seq, min(revision) AS min_rev, count(*)::int AS ops
  FROM operations
  GROUP BY document_id, actor_id, user_id, seq
) AS changes
ORDER BY document_id, actor_id, seq DESC;

-- Down Migration
DROP TABLE actor_progress;
