-- One writer: a lease per name (the whole engine is `engine`; shards will add theirs). The
-- token grows by one at every take-over, so a writer that lost its lease is told apart from
-- the one holding it now (a fencing token).
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);

-- Every write of a session that declared a fence (`driftless.fence` = `NAME:TOKEN`, set by
-- the store on each connection it hands out) must hold that lease's current token. The
-- lease row is locked FOR SHARE until the write commits, so a take-over waits for writes in
-- flight and no write of the old holder lands after it. Sessions without a fence (tools,
-- tests, a single engine without coordination) are not checked.
CREATE FUNCTION driftless_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    fence TEXT := current_setting('driftless.fence', true);
    lease_name TEXT;
    lease_token BIGINT;
BEGIN
    IF fence IS NULL OR fence = '' THEN
        RETURN NULL;
    END IF;
    lease_name := split_part(fence, ':', 1);
    lease_token := split_part(fence, ':', 2)::BIGINT;
    PERFORM 1 FROM leases WHERE name = lease_name AND token = lease_token FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'fenced: lease % token % is no longer held by this engine', lease_name, lease_token;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER fence_applications BEFORE INSERT OR UPDATE OR DELETE ON applications FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
CREATE TRIGGER fence_operations BEFORE INSERT OR UPDATE OR DELETE ON operations FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
CREATE TRIGGER fence_history BEFORE INSERT OR UPDATE OR DELETE ON history FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
CREATE TRIGGER fence_events BEFORE INSERT OR UPDATE OR DELETE ON events FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
CREATE TRIGGER fence_audit BEFORE INSERT OR UPDATE OR DELETE ON audit FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
CREATE TRIGGER fence_definitions BEFORE INSERT OR UPDATE OR DELETE ON definitions FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
CREATE TRIGGER fence_promotions BEFORE INSERT OR UPDATE OR DELETE ON promotions FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
CREATE TRIGGER fence_deployments BEFORE INSERT OR UPDATE OR DELETE ON deployments FOR EACH STATEMENT EXECUTE FUNCTION driftless_fence();
