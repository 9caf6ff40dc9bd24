-- Driftless store, SQLite flavour (the Postgres flavour mirrors it column for column).
-- Times are milliseconds since the Unix epoch; JSON documents are TEXT.

CREATE TABLE applications (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT '{}',
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE operations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    revision    TEXT NOT NULL,
    phase       TEXT NOT NULL,
    request     TEXT NOT NULL,
    progress    TEXT NOT NULL DEFAULT '[]',
    result      TEXT,
    started_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    finished_ms BIGINT
);
CREATE INDEX operations_app ON operations (app, id);
CREATE INDEX operations_running ON operations (phase) WHERE phase = 'Running';

CREATE TABLE history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    app           TEXT NOT NULL,
    revision      TEXT NOT NULL,
    digest        TEXT NOT NULL,
    operation_id  BIGINT NOT NULL,
    deployed_ms   BIGINT NOT NULL,
    desired       TEXT NOT NULL,
    live_snapshot TEXT NOT NULL
);
CREATE INDEX history_app ON history (app, id);

CREATE TABLE events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    app       TEXT NOT NULL,
    at_ms     BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    severity  TEXT NOT NULL,
    message   TEXT NOT NULL,
    data      TEXT NOT NULL
);
CREATE INDEX events_app ON events (app, id);

CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

-- Append-only: the database itself refuses to rewrite history.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
