-- Promotions between the stages of a pipeline: the whole record (freight values, gates,
-- approvals, commits) is one JSON document; phase and stage are columns so the engine can
-- find what is still in flight after a restart.
CREATE TABLE promotions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline    TEXT NOT NULL,
    to_stage    TEXT NOT NULL,
    phase       TEXT NOT NULL,
    record      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE INDEX promotions_pipeline ON promotions (pipeline, id);
CREATE INDEX promotions_phase ON promotions (phase);

-- One row per sync that deployed a new revision (or a rollback), for the DORA figures:
-- commit time (lead time), outcome (change failure rate) and when (frequency, restore).
CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    app          TEXT NOT NULL,
    revision     TEXT NOT NULL,
    commit_ms    BIGINT,
    deployed_ms  BIGINT NOT NULL,
    succeeded    BIGINT NOT NULL,
    kind_of      TEXT NOT NULL
);
CREATE INDEX deployments_app ON deployments (app, deployed_ms);
