-- Webhook deliveries: one row per (event, endpoint), written by the dispatch
-- projector in the same transaction as its checkpoint; the body is the
-- exact bytes sent on every attempt. Times are epoch milliseconds.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL,
    record          TEXT NOT NULL,
    position        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_record ON webhook_deliveries (endpoint_id, record, position);

CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error       TEXT,
    response    TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
