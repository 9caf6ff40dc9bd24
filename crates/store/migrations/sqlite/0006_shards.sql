-- Several replicas sharing the work (see the Postgres migration). SQLite is one host's
-- file, so one replica; the tables exist so the same code runs on both.
CREATE TABLE app_owners (
    app       TEXT PRIMARY KEY,
    replica   TEXT NOT NULL,
    token     INTEGER NOT NULL,
    since_ms  INTEGER NOT NULL
);
CREATE INDEX app_owners_replica ON app_owners (replica, token);

CREATE TABLE shard_members (
    replica      TEXT PRIMARY KEY,
    token        INTEGER NOT NULL,
    owned        INTEGER NOT NULL,
    queue_depth  INTEGER NOT NULL,
    renewals     INTEGER NOT NULL,
    handovers    INTEGER NOT NULL,
    started_ms   INTEGER NOT NULL,
    reported_ms  INTEGER NOT NULL
);

CREATE TABLE shard_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    -- What the request needs, as JSON: {prune} for a sync, {seconds, reason} to pause self-heal.
    details     TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);

ALTER TABLE operations ADD COLUMN writer TEXT;
ALTER TABLE audit ADD COLUMN writer TEXT;
