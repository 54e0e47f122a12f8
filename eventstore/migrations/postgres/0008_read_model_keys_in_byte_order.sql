-- Read-model keys compare byte by byte, as on SQLite, whatever the
-- database's locale: a collection keyed by what groups its documents is
-- listed by a range of keys, which a locale's collation would mix up.
ALTER TABLE read_models ALTER COLUMN id TYPE TEXT COLLATE "C";
-- The follow-ups' list, queue and usager entries are now keyed by their
-- group instead of filed under a parent: their read model is built again.
DELETE FROM read_models WHERE projection = 'follow_ups';
DELETE FROM projection_checkpoints WHERE name = 'follow_ups';
