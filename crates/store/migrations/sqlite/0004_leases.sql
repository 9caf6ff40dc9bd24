-- One writer: a lease per name with a fencing token (see the Postgres migration). SQLite
-- is one host's file, kept to one engine by the data directory's lock; the lease works the
-- same here, while writes are fenced by Postgres triggers only.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
);
