DROP TABLE IF EXISTS events;
CREATE TABLE events (
    global_position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    aggregate_type  TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    sequence        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    event_version   TEXT NOT NULL,
    payload         JSONB NOT NULL,
    metadata        JSONB NOT NULL,
    event_id        UUID NOT NULL UNIQUE,
    occurred_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);
