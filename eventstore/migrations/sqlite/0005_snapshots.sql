-- Snapshots of streams that grow for as long as their record lives (an
-- agent's agenda over the years): the folded state at a version, so a load
-- reads it and the events after it. A cache derived from the events: it
-- may be deleted at any time, and is never the source of anything.
CREATE TABLE IF NOT EXISTS snapshots (
    aggregate_type TEXT NOT NULL,
    aggregate_id   TEXT NOT NULL,
    version        INTEGER NOT NULL,
    state          TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT;
