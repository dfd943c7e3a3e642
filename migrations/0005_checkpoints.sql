-- 0005_checkpoints: the exported models of trials (issue 13), content-addressed
-- in the storage folder, one per trial and format, made by an export task the
-- first time a client asks (or for every frontier trial when its job succeeds).
-- A partial unique index keeps one export of a trial and format in flight.
-- Never edit this file once released: schema changes go into a new numbered file.

CREATE TYPE checkpoint_format AS ENUM ('safetensors', 'gguf');

CREATE TABLE checkpoints (
  id         bigserial PRIMARY KEY,
  job_id     bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  trial_id   bigint NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  format     checkpoint_format NOT NULL,
  sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  bytes      bigint NOT NULL CHECK (bytes > 0),
  path       text NOT NULL CHECK (path <> ''),  -- relative to the storage folder
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (trial_id, format)
);

CREATE UNIQUE INDEX tasks_one_export_in_flight ON tasks (trial_id, (payload ->> 'format'))
  WHERE kind = 'export' AND state IN ('available', 'running');
