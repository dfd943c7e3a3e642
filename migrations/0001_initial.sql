-- 0001_initial: the flashnas schema (projects, keys, files, jobs, trials, the task
-- queue, devices, latency data, frontiers, job events).
-- Never edit this file once released: schema changes go into a new numbered file.
-- The schema-version table (flashnas_schema_migrations) is created by the migration
-- runner itself (store/migrate.cpp), since it must exist before any file is applied.
--
-- Conventions: bigint identity ids; states are enums; every JSON column is checked
-- for its top-level type; timestamps are timestamptz; hashes are lowercase hex.

-- ---------------------------------------------------------------- projects, keys
CREATE TABLE projects (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The key itself is shown once at creation; only its sha256 is stored.
CREATE TABLE api_keys (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  key_hash     text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  key_prefix   text NOT NULL CHECK (length(key_prefix) BETWEEN 1 AND 16),  -- for humans: which key is this
  scopes       text[] NOT NULL CHECK (cardinality(scopes) >= 1
                                      AND scopes <@ ARRAY['read', 'submit', 'admin']::text[]),
  label        text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX api_keys_project ON api_keys (project_id);

-- ---------------------------------------------------------------- models, datasets
-- Files live content-addressed under the storage directory; storage_path is relative
-- to it (never absolute, never climbing out with ..).
CREATE TABLE models (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  format       text NOT NULL CHECK (format IN ('gguf', 'safetensors')),
  sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
  storage_path text NOT NULL CHECK (storage_path <> '' AND storage_path !~ '^/' AND storage_path !~ '(^|/)\.\.(/|$)'),
  metadata     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX models_project ON models (project_id, id);

CREATE TABLE datasets (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id   bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  format       text NOT NULL CHECK (format IN ('text')),
  sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
  storage_path text NOT NULL CHECK (storage_path <> '' AND storage_path !~ '^/' AND storage_path !~ '(^|/)\.\.(/|$)'),
  metadata     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX datasets_project ON datasets (project_id, id);

-- ---------------------------------------------------------------- jobs, trials
CREATE TYPE job_kind AS ENUM ('search', 'latency_study', 'sweep');
CREATE TYPE job_state AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

CREATE TABLE jobs (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  kind            job_kind NOT NULL,
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  spec            jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
  state           job_state NOT NULL DEFAULT 'queued',
  idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  request_hash    text CHECK (request_hash ~ '^[0-9a-f]{64}$'),  -- tells a retry from a key reused for another body
  error           text,
  -- Per-job counters that hand out trial and event sequence numbers. Taking them with
  -- UPDATE ... RETURNING locks the job row until commit, so sequence numbers become
  -- visible in order and a poller using ?after= never skips one.
  last_trial_seq  bigint NOT NULL DEFAULT 0 CHECK (last_trial_seq >= 0),
  last_event_seq  bigint NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  UNIQUE (project_id, idempotency_key),
  CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
  CHECK (state NOT IN ('running', 'succeeded') OR started_at IS NOT NULL),
  CHECK (state <> 'failed' OR error IS NOT NULL)
);
CREATE INDEX jobs_project_list ON jobs (project_id, id DESC);
CREATE INDEX jobs_project_state ON jobs (project_id, state, id DESC);

CREATE TYPE trial_state AS ENUM ('pending', 'running', 'succeeded', 'failed', 'cancelled');

-- One architecture evaluated inside a job. seq is the job's change sequence: it is
-- renumbered (from jobs.last_trial_seq) whenever the trial changes, so
-- GET .../trials?after=SEQ returns the trials created or updated since SEQ.
CREATE TABLE trials (
  id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id                   bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  ordinal                  integer NOT NULL CHECK (ordinal >= 0),  -- position in the job (candidate index)
  seq                      bigint NOT NULL CHECK (seq > 0),
  arch                     jsonb NOT NULL CHECK (jsonb_typeof(arch) = 'object'),
  arch_hash                text NOT NULL CHECK (arch_hash ~ '^[0-9a-f]{64}$'),
  state                    trial_state NOT NULL DEFAULT 'pending',
  eval_nll                 double precision CHECK (eval_nll >= 0 AND eval_nll < 'Infinity'),
  params                   bigint CHECK (params > 0),
  non_embedding_params     bigint CHECK (non_embedding_params >= 0),
  flops_per_token          double precision CHECK (flops_per_token > 0 AND flops_per_token < 'Infinity'),
  kv_cache_bytes_per_token bigint CHECK (kv_cache_bytes_per_token >= 0),
  prefill_ms               double precision CHECK (prefill_ms > 0 AND prefill_ms < 'Infinity'),
  decode_ms_per_token      double precision CHECK (decode_ms_per_token > 0 AND decode_ms_per_token < 'Infinity'),
  error                    text,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  finished_at              timestamptz,
  UNIQUE (job_id, arch_hash),
  UNIQUE (job_id, ordinal),
  UNIQUE (job_id, seq),
  CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
  CHECK (state <> 'failed' OR error IS NOT NULL)
);

-- ---------------------------------------------------------------- the task queue
CREATE TYPE task_kind AS ENUM ('evaluate', 'latency', 'search_step', 'fit_latency_model', 'export');
-- available: waiting (maybe until run_after); running: leased; succeeded; failed: the
-- handler gave up for good; dead: max_attempts used up; cancelled: its job was cancelled.
CREATE TYPE task_state AS ENUM ('available', 'running', 'succeeded', 'failed', 'dead', 'cancelled');

CREATE TABLE tasks (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind             task_kind NOT NULL,
  job_id           bigint REFERENCES jobs (id) ON DELETE CASCADE,
  trial_id         bigint REFERENCES trials (id) ON DELETE CASCADE,
  payload          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
  state            task_state NOT NULL DEFAULT 'available',
  priority         smallint NOT NULL DEFAULT 0,  -- higher is claimed first
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),  -- counted at claim time
  max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 100),
  lease_token      uuid,
  lease_expires_at timestamptz,
  worker_id        text CHECK (length(worker_id) <= 200),
  run_after        timestamptz NOT NULL DEFAULT now(),  -- back-off: not claimable before
  last_error       text,
  result           jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,  -- start of the current (or last) attempt
  finished_at      timestamptz,
  CHECK (attempts <= max_attempts),
  CHECK ((state = 'running') = (lease_token IS NOT NULL)),
  CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL)),
  CHECK ((state IN ('succeeded', 'failed', 'dead', 'cancelled')) = (finished_at IS NOT NULL)),
  CHECK (state NOT IN ('failed', 'dead') OR last_error IS NOT NULL),
  CHECK (state <> 'succeeded' OR result IS NOT NULL),
  CHECK (trial_id IS NULL OR job_id IS NOT NULL)
);
-- The claim query walks this partial index: only available work, best first.
CREATE INDEX tasks_available ON tasks (priority DESC, id) WHERE state = 'available';
-- The rescuer looks for expired leases.
CREATE INDEX tasks_running_lease ON tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_job ON tasks (job_id);
CREATE INDEX tasks_trial ON tasks (trial_id);

-- ---------------------------------------------------------------- devices, latency
-- A device kind names a class of hardware ('local-cpu', 'pixel8-cpu', ...); device
-- agents authenticate with a token whose sha256 is stored.
CREATE TABLE devices (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text NOT NULL CHECK (kind ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  token_hash   text UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  info         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(info) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz,
  revoked_at   timestamptz,
  UNIQUE (kind, name)
);

-- One latency result of one architecture on one device kind at one prompt length.
-- arch_hash covers the full model shape (including what comes from the backbone).
CREATE TABLE latency_measurements (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_kind         text NOT NULL CHECK (device_kind ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  device_id           bigint REFERENCES devices (id) ON DELETE SET NULL,
  arch                jsonb NOT NULL CHECK (jsonb_typeof(arch) = 'object'),
  arch_hash           text NOT NULL CHECK (arch_hash ~ '^[0-9a-f]{64}$'),
  prompt_len          integer NOT NULL CHECK (prompt_len >= 1),
  decode_tokens       integer NOT NULL CHECK (decode_tokens >= 0),
  prefill_ms          double precision NOT NULL CHECK (prefill_ms > 0 AND prefill_ms < 'Infinity'),
  decode_ms_per_token double precision CHECK (decode_ms_per_token > 0 AND decode_ms_per_token < 'Infinity'),
  prefill_spread      double precision CHECK (prefill_spread >= 0),  -- relative MAD, see environment
  decode_spread       double precision CHECK (decode_spread >= 0),
  samples             jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(samples) = 'object'),
  environment         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(environment) = 'object'),
  job_id              bigint REFERENCES jobs (id) ON DELETE SET NULL,
  trial_id            bigint REFERENCES trials (id) ON DELETE SET NULL,
  created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX latency_measurements_lookup ON latency_measurements (device_kind, arch_hash, prompt_len);

CREATE TABLE latency_models (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_kind text NOT NULL CHECK (device_kind ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  job_id      bigint REFERENCES jobs (id) ON DELETE SET NULL,
  model       jsonb NOT NULL CHECK (jsonb_typeof(model) = 'object'),
  accuracy    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(accuracy) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX latency_models_device ON latency_models (device_kind, id DESC);

-- ---------------------------------------------------------------- frontiers, events
CREATE TABLE frontiers (
  job_id     bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  version    integer NOT NULL CHECK (version >= 1),
  points     jsonb NOT NULL CHECK (jsonb_typeof(points) = 'array'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, version)
);

CREATE TABLE job_events (
  job_id     bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  seq        bigint NOT NULL CHECK (seq >= 1),  -- from jobs.last_event_seq, dense per job
  kind       text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),  -- e.g. job.running, trial.failed
  payload    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, seq)
);
