-- Pages of a read-model collection under one parent, in id order (the
-- follow-ups' action queue keys its documents by due time).
CREATE INDEX IF NOT EXISTS read_models_parent_id ON read_models (projection, collection, parent, id);
