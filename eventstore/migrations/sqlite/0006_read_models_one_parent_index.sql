-- (projection, collection, parent, id) serves every lookup by parent that
-- (projection, collection, parent) served: one index fewer to keep up on
-- every document written (a projector rebuilding a large read model
-- spends most of its time in these B-trees).
DROP INDEX IF EXISTS read_models_parent;
