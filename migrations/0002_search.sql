-- 0002_search: what search and latency-study jobs keep (issue 11).
--  - jobs: the stage (stage 1 measuring latency, stage 2 searching, done), the
--    latency model stage 2 uses, the hypervolume reference point and the summary
--    written when the job ends;
--  - tasks: a step number, unique per job and kind, so a search step or a
--    latency-model fit exists once however often completions race or a worker
--    dies and its step is retried;
--  - trials: where each came from (a sweep's candidate list, the initial design,
--    a search step) and what the step predicted for it;
--  - latency measurements: the stage-1 phase and round they were taken in;
--  - latency models: the project that owns them and what they were fitted for;
--  - the hypervolume after each evaluation.
-- Never edit this file once released: schema changes go into a new numbered file.

CREATE TYPE job_stage AS ENUM ('measuring', 'searching', 'done');

ALTER TABLE latency_models
  ADD COLUMN project_id    bigint REFERENCES projects (id) ON DELETE CASCADE,
  ADD COLUMN prompt_len    integer CHECK (prompt_len >= 1),
  ADD COLUMN shape         jsonb CHECK (jsonb_typeof(shape) = 'object'),  -- heads, head size, vocabulary
  ADD COLUMN n_points      integer CHECK (n_points >= 0),                 -- training measurements
  ADD COLUMN base_model_id bigint REFERENCES latency_models (id) ON DELETE SET NULL;  -- refitted from
CREATE INDEX latency_models_project ON latency_models (project_id, id DESC);

ALTER TABLE jobs
  ADD COLUMN stage            job_stage,
  ADD COLUMN latency_model_id bigint REFERENCES latency_models (id) ON DELETE SET NULL,
  ADD COLUMN reference_point  jsonb CHECK (jsonb_typeof(reference_point) = 'object'),
  ADD COLUMN summary          jsonb CHECK (jsonb_typeof(summary) = 'object'),
  -- Sweeps have no stages; search and latency-study jobs always have one.
  ADD CONSTRAINT jobs_stage_by_kind CHECK ((kind = 'sweep') = (stage IS NULL));

-- step: the search step, or the latency-model fit round, this task is. Latency
-- and evaluate tasks have none.
ALTER TABLE tasks ADD COLUMN step integer CHECK (step >= 0);
CREATE UNIQUE INDEX tasks_job_kind_step ON tasks (job_id, kind, step) WHERE step IS NOT NULL;

ALTER TABLE trials
  ADD COLUMN source   text NOT NULL DEFAULT 'candidate' CHECK (source IN ('candidate', 'design', 'search')),
  ADD COLUMN step     integer CHECK (step >= 1),  -- the search step that proposed it
  ADD COLUMN proposal jsonb CHECK (jsonb_typeof(proposal) = 'object'),  -- predictions when proposed
  ADD CHECK ((source = 'candidate') = (step IS NULL));

ALTER TABLE latency_measurements
  ADD COLUMN phase text CHECK (phase IN ('design', 'adaptive', 'holdout', 'trial')),
  ADD COLUMN round integer CHECK (round >= 0);
CREATE INDEX latency_measurements_job ON latency_measurements (job_id, id);

-- The hypervolume of the job's frontier after each evaluation (a trial settled),
-- against the job's reference point: never decreasing, one row per evaluation.
CREATE TABLE job_hypervolume (
  job_id           bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  evaluations      integer NOT NULL CHECK (evaluations >= 1),
  hypervolume      double precision NOT NULL CHECK (hypervolume >= 0 AND hypervolume < 'Infinity'),
  trial_id         bigint REFERENCES trials (id) ON DELETE SET NULL,  -- the evaluation that added this row
  frontier_version integer CHECK (frontier_version >= 1),
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, evaluations)
);
