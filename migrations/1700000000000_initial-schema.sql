-- Up Migration

-- Documents are identified by UUID. The op log, snapshots and permissions hang off them.
CREATE TABLE documents (
  id          uuid PRIMARY KEY,
  title       text,
  created_by  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per committed op. The primary key makes Postgres the arbiter of each document's
-- total order: two replicas can never both commit revision r.
CREATE TABLE operations (
  document_id     uuid        NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  revision        bigint      NOT NULL CHECK (revision > 0),
  actor_id        uuid        NOT NULL,
  user_id         text        NOT NULL,
  seq             bigint      NOT NULL CHECK (seq > 0),
  op_index        smallint    NOT NULL CHECK (op_index >= 0),
  operation_type  varchar(20) NOT NULL CHECK (operation_type IN ('insert', 'delete', 'format')),
  position        integer     NOT NULL CHECK (position >= 0),
  content         text,
  length          integer,
  attributes      jsonb,
  vector_clock    jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (document_id, revision)
) PARTITION BY HASH (document_id);

-- One change of one actor is committed once, whichever replica it reached: exactly-once is
-- enforced here too, not only by the engine's bookkeeping.
CREATE UNIQUE INDEX operations_actor_seq_idx ON operations (document_id, actor_id, seq, op_index);
CREATE INDEX operations_created_at_idx ON operations (created_at);

-- The partition count is set here, and only here.
DO $$
DECLARE
  partition_count CONSTANT integer := 16;
BEGIN
  FOR i IN 0 .. partition_count - 1 LOOP
    EXECUTE format(
      'CREATE TABLE operations_p%s PARTITION OF operations FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
      lpad(i::text, 2, '0'), partition_count, i);
  END LOOP;
END
$$;

-- Document state every SNAPSHOT_INTERVAL_OPS ops: loading costs a snapshot plus a short tail.
CREATE TABLE document_snapshots (
  document_id  uuid        NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  revision     bigint      NOT NULL CHECK (revision >= 0),
  content      jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (document_id, revision)
);

CREATE TABLE document_permissions (
  document_id  uuid        NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  user_id      text        NOT NULL,
  role         text        NOT NULL CHECK (role IN ('viewer', 'editor', 'owner')),
  granted_by   text,
  granted_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (document_id, user_id)
);

CREATE INDEX document_permissions_user_idx ON document_permissions (user_id);

-- Down Migration
DROP TABLE document_permissions;
DROP TABLE document_snapshots;
DROP TABLE operations;
DROP TABLE documents;
