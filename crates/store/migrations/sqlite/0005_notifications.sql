-- Notification outbox (sqlite): the schema of crates/notify's SQL outbox, whose tests build from this file.
-- Not fenced by the write lease (0004_leases): rows are enqueued in the event's transaction,
-- whose event insert is fenced, and delivery has its own claim tokens.
-- Times are milliseconds since the Unix epoch; payload is the rendered message (JSON TEXT).
-- dedupe_key is UNIQUE: a message is enqueued at most once, whichever replica or retry tries.

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT NOT NULL UNIQUE,
    event_id        TEXT NOT NULL,
    app             TEXT NOT NULL,
    trigger_name    TEXT NOT NULL,
    template        TEXT NOT NULL,
    service         TEXT NOT NULL,
    service_type    TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    destination     TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    created_ms      BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error      TEXT,
    sent_ms         BIGINT,
    lease_owner     TEXT,
    lease_until_ms  BIGINT,
    claim_token     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_ms);
CREATE INDEX notifications_app ON notifications (app, id);
