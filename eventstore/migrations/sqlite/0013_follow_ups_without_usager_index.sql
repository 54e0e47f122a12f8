-- An usager's follow-ups are found by their ids (derived from the usager
-- and each configured category): the index by usager is no longer kept.
DELETE FROM read_models WHERE projection = 'follow_ups' AND collection = 'of_usager';
