-- Events: the source of truth and the outbox of the feed.
--
-- Gap-free global order without serialising writers: the position of an event
-- is its transaction id shifted left 16 bits plus its index in the
-- transaction. Readers only read positions below the oldest transaction still
-- running (pg_snapshot_xmin), and every transaction that could still commit
-- has an id at or above it, so no event can appear later below a position a
-- reader has passed. Positions are sparse, ordered and never reused.
CREATE TABLE IF NOT EXISTS events (
    global_position BIGINT PRIMARY KEY,
    aggregate_type  TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    sequence        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    event_version   TEXT NOT NULL,
    payload         JSONB NOT NULL,
    metadata        JSONB NOT NULL,
    event_id        UUID NOT NULL UNIQUE,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE IF NOT EXISTS idempotency (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE IF NOT EXISTS outbox (
    id           UUID PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    available_at TIMESTAMPTZ NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    sent_at      TIMESTAMPTZ,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (available_at) WHERE sent_at IS NULL;

CREATE TABLE IF NOT EXISTS read_models (
    projection TEXT NOT NULL,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    parent     TEXT,
    doc        JSONB NOT NULL,
    PRIMARY KEY (projection, collection, id)
);
CREATE INDEX IF NOT EXISTS read_models_parent ON read_models (projection, collection, parent);

CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name       TEXT PRIMARY KEY,
    position   BIGINT NOT NULL,
    error      TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
