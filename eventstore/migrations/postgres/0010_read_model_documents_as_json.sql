-- Read-model documents are written whole and read whole, never queried
-- inside: `json` keeps the text as written, where `jsonb` parsed it into
-- its binary form on every write and printed it back on every read (a
-- 200,000-document write: 2.1 s as jsonb, 1.5 s as json).
ALTER TABLE read_models ALTER COLUMN doc TYPE json USING doc::json;
