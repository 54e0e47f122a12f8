-- (SQLite compares keys byte by byte already.) The follow-ups' list, queue
-- and usager entries are now keyed by their group instead of filed under a
-- parent: their read model is built again.
DELETE FROM read_models WHERE projection = 'follow_ups';
DELETE FROM projection_checkpoints WHERE name = 'follow_ups';
