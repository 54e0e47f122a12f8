-- Events: the source of truth and the outbox of the feed. SQLite has a single
-- writer, so the INTEGER PRIMARY KEY (an explicit rowid alias, stable across
-- VACUUM) is assigned in commit order with no gap a reader could skip.
CREATE TABLE IF NOT EXISTS events (
    global_position INTEGER PRIMARY KEY,
    aggregate_type  TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    sequence        INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    event_version   TEXT NOT NULL,
    payload         TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    event_id        TEXT NOT NULL UNIQUE,
    occurred_at     TEXT NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

-- First results of idempotent commands, written with their events.
CREATE TABLE IF NOT EXISTS idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;

-- Messages to send (e-mails...), written in the transaction of their events.
-- `available_at` is both the retry time and the lease of a sender's claim.
CREATE TABLE IF NOT EXISTS outbox (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    available_at TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    sent_at      TEXT,
    last_error   TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (available_at) WHERE sent_at IS NULL;

-- Read models as JSON documents, owned by one projection each.
CREATE TABLE IF NOT EXISTS read_models (
    projection TEXT NOT NULL,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    parent     TEXT,
    doc        TEXT NOT NULL,
    PRIMARY KEY (projection, collection, id)
) STRICT;
CREATE INDEX IF NOT EXISTS read_models_parent ON read_models (projection, collection, parent);

CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    error      TEXT,
    updated_at TEXT NOT NULL
) STRICT;
