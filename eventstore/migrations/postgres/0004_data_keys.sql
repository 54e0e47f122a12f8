-- Per-usager data keys (crypto-shredding): the personal fields of an
-- usager's events are sealed with their key, stored here wrapped by the
-- master key. Forgetting the usager sets `wrapped` to NULL and keeps the
-- row as a tombstone, so no new key is ever made for them. Times are epoch
-- milliseconds.
CREATE TABLE IF NOT EXISTS data_keys (
    subject      TEXT PRIMARY KEY,
    wrapped      TEXT,
    created_at   BIGINT NOT NULL,
    destroyed_at BIGINT
);

-- The usager an outbox message is addressed to, so forgetting them removes
-- what was sent to them.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS subject TEXT;
CREATE INDEX IF NOT EXISTS outbox_subject ON outbox (subject) WHERE subject IS NOT NULL;
