-- 0006_devices: device agents (issue 14). A registered device belongs to a
-- project, has a kind (the device_kind jobs name) and a token stored as its
-- sha256, which allows the device protocol only. Latency tasks of jobs whose
-- device kind is not the workers' own CPU carry that kind: workers never claim
-- them, agents of the kind in the job's project do.
-- Never edit this file once released: schema changes go into a new numbered file.

ALTER TABLE devices ADD COLUMN project_id bigint REFERENCES projects (id) ON DELETE CASCADE;
ALTER TABLE devices ADD COLUMN token_prefix text CHECK (length(token_prefix) BETWEEN 1 AND 16);
-- Worker-reported devices (no project) keep one row per (kind, name); registered
-- ones are unique per project, so two projects may both call a phone "pixel-1".
ALTER TABLE devices DROP CONSTRAINT devices_kind_name_key;
CREATE UNIQUE INDEX devices_unregistered ON devices (kind, name) WHERE project_id IS NULL;
CREATE UNIQUE INDEX devices_registered ON devices (project_id, kind, name) WHERE project_id IS NOT NULL;
ALTER TABLE devices ADD CONSTRAINT devices_registered_token
  CHECK (project_id IS NULL OR (token_hash IS NOT NULL AND token_prefix IS NOT NULL AND kind <> 'local-cpu'));
CREATE INDEX devices_project_kind ON devices (project_id, kind) WHERE project_id IS NOT NULL;

-- NULL: any worker measures it on its own CPU (device kind local-cpu).
ALTER TABLE tasks ADD COLUMN device_kind text CHECK (device_kind ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'
                                                    AND device_kind <> 'local-cpu');
ALTER TABLE tasks ADD CONSTRAINT tasks_device_kind_latency CHECK (device_kind IS NULL OR kind = 'latency');
-- Agents claim by kind: their own walk of the available work.
CREATE INDEX tasks_available_device ON tasks (device_kind, priority DESC, id)
  WHERE state = 'available' AND device_kind IS NOT NULL;

-- Measurements a user imported (made outside flashnas) belong to the device's project.
ALTER TABLE latency_measurements ADD COLUMN source text NOT NULL DEFAULT 'measured'
  CHECK (source IN ('measured', 'imported'));
CREATE INDEX latency_measurements_device ON latency_measurements (device_id, prompt_len) WHERE device_id IS NOT NULL;
