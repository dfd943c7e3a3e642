-- 0003_heal: what a trial keeps when its candidate is healed (issue 12).
--  - zero_shot_nll: the eval NLL right after pruning (every evaluated trial);
--  - healed_nll: the eval NLL after healing (healed trials only); eval_nll stays
--    the trial's quality, the objective the search and the frontier use, and
--    equals healed_nll when the trial was healed, zero_shot_nll otherwise;
--  - heal: what the healing did and cost ({"steps", "tokens", "seconds",
--    "setup_seconds", "tokens_per_second", "first_loss", "final_loss",
--    "memory_bytes", "teacher_cached"}).
-- Never edit this file once released: schema changes go into a new numbered file.

ALTER TABLE trials
  ADD COLUMN zero_shot_nll double precision CHECK (zero_shot_nll >= 0 AND zero_shot_nll < 'Infinity'),
  ADD COLUMN healed_nll    double precision CHECK (healed_nll >= 0 AND healed_nll < 'Infinity'),
  ADD COLUMN heal          jsonb CHECK (jsonb_typeof(heal) = 'object'),
  ADD CHECK ((healed_nll IS NULL) = (heal IS NULL));
