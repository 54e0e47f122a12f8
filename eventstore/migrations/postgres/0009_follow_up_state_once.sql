-- The follow-ups' list and queue entries now hold the follow-up's id and
-- when it needs action, not a copy of its state (kept once, by id): their
-- read model is built again.
DELETE FROM read_models WHERE projection = 'follow_ups';
DELETE FROM projection_checkpoints WHERE name = 'follow_ups';
