-- Documents are listed by parent only when they have one: those without
-- (most documents read by id alone) stay out of the parent index, one
-- B-tree insert fewer each (rebuilding a large read model is mostly
-- random inserts into these indexes).
DROP INDEX IF EXISTS read_models_parent_id;
CREATE INDEX IF NOT EXISTS read_models_parent_id ON read_models (projection, collection, parent, id)
    WHERE parent IS NOT NULL;
