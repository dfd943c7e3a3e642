-- 0004_fidelity: multi-fidelity searches (issue 12's "fidelities": heal steps per
-- rung, asynchronous successive halving, app/fidelity_policy.hpp).
--  - trials.rung: the rung the trial's current (or last) evaluation runs at; a
--    promotion moves it up one and sends the settled trial back to pending;
--    trials.fidelity: that rung's heal steps. Both null outside such searches.
--  - trial_rungs: every rung result of a trial (the quality at that rung's
--    fidelity), which promotions rank and the search's quality model reads;
--    one row per trial and rung, written with the evaluation that made it.
-- Never edit this file once released: schema changes go into a new numbered file.

ALTER TABLE trials
  ADD COLUMN rung     integer CHECK (rung >= 0),
  ADD COLUMN fidelity integer CHECK (fidelity >= 0),
  ADD CHECK ((rung IS NULL) = (fidelity IS NULL));

CREATE TABLE trial_rungs (
  trial_id   bigint NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  rung       integer NOT NULL CHECK (rung >= 0),
  fidelity   integer NOT NULL CHECK (fidelity >= 0),
  eval_nll   double precision NOT NULL CHECK (eval_nll >= 0 AND eval_nll < 'Infinity'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (trial_id, rung)
);
