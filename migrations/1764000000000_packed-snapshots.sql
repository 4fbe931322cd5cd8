-- Up Migration

-- Snapshots in the packed form (src/ot/packed.ts): the text once and a compact run table, in
-- plain text columns. A 1,000,000-character document of 100,000 runs stored as a jsonb run list
-- took PostgreSQL and JSON.parse about ten times longer to read back, and cold joins wait for
-- that read. A table of its own rather than a new form in `document_snapshots`: relays older
-- than this one read only that table (then replay a longer tail), so a rolling update or a
-- rollback never shows them a form they cannot read.
CREATE TABLE document_packed_snapshots (
  document_id  uuid        NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  revision     bigint      NOT NULL CHECK (revision >= 0),
  text         text        NOT NULL,
  runs         text        NOT NULL,
  attrs        jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (document_id, revision)
);

-- Down Migration
DROP TABLE document_packed_snapshots;
