-- Data-quality findings per series: validation issues and gaps on the timeframe grid.
-- Series are "exchange:BASE/QUOTE:timeframe"; times are INTEGER milliseconds since the Unix
-- epoch, UTC (the bar grid's unit).

CREATE TABLE quality_issues (
    id       INTEGER PRIMARY KEY,
    series   TEXT NOT NULL,
    ts       INTEGER NOT NULL,
    rule     TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
    observed REAL,
    expected REAL,
    detail   TEXT NOT NULL
);

CREATE INDEX quality_issues_by_series_ts ON quality_issues (series, ts);

CREATE TABLE data_gaps (
    series       TEXT NOT NULL,
    start_ms     INTEGER NOT NULL,
    end_ms       INTEGER NOT NULL CHECK (end_ms > start_ms),
    bars_missing INTEGER NOT NULL CHECK (bars_missing > 0),
    cause        TEXT NOT NULL CHECK (cause IN ('no_trades', 'outage', 'unknown')),
    status       TEXT NOT NULL CHECK (status IN ('open', 'filled', 'accepted')),
    fill_source  TEXT,
    PRIMARY KEY (series, start_ms)
);

CREATE INDEX data_gaps_by_series_end ON data_gaps (series, end_ms);
