-- Two more gap causes from the collectors (issue 21): 'pending' (at the live edge: the venue
-- may still publish these bars; asked again on the next run) and 'not_served' (the venue
-- answered without them because they lie outside what it serves, e.g. Kraken's last 720
-- intervals). SQLite cannot alter a CHECK constraint: the table is rebuilt.

CREATE TABLE data_gaps_new (
    series       TEXT NOT NULL,
    start_ms     INTEGER NOT NULL,
    end_ms       INTEGER NOT NULL CHECK (end_ms > start_ms),
    bars_missing INTEGER NOT NULL CHECK (bars_missing > 0),
    cause        TEXT NOT NULL
                 CHECK (cause IN ('no_trades', 'outage', 'unknown', 'pending', 'not_served')),
    status       TEXT NOT NULL CHECK (status IN ('open', 'filled', 'accepted')),
    fill_source  TEXT,
    PRIMARY KEY (series, start_ms)
);

INSERT INTO data_gaps_new (series, start_ms, end_ms, bars_missing, cause, status, fill_source)
SELECT series, start_ms, end_ms, bars_missing, cause, status, fill_source FROM data_gaps;

DROP TABLE data_gaps;

ALTER TABLE data_gaps_new RENAME TO data_gaps;

CREATE INDEX data_gaps_by_series_end ON data_gaps (series, end_ms);
