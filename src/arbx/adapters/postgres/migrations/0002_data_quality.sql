-- What validation finds in stored series: gaps on the timeframe grid and rule violations.
-- Both are keyed by series like market_data (no foreign key: market_data may be a hypertable,
-- and a gap by definition has no bars to point at).

CREATE TABLE data_gaps (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange      text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    timeframe     text COLLATE "C" NOT NULL,
    -- the missing span [gap_start, gap_end) on the grid
    gap_start     timestamptz NOT NULL,
    gap_end       timestamptz NOT NULL,
    missing_bars  integer     NOT NULL CHECK (missing_bars > 0),
    status        text        NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'filled', 'unfillable')),
    -- how it was repaired: another venue's id, 'forward_fill', or NULL while open
    filled_from   text        NULL,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz NULL,
    CHECK (gap_end > gap_start),
    CONSTRAINT data_gaps_series_start_key UNIQUE (exchange, symbol, timeframe, gap_start)
);

CREATE TABLE data_validation_issues (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange      text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    timeframe     text COLLATE "C" NOT NULL,
    ts            timestamptz NOT NULL,
    -- the rule's id ('high_below_low', 'outlier_iqr', ...) and the column it concerns
    rule          text        NOT NULL,
    column_name   text        NULL,
    severity      text        NOT NULL DEFAULT 'error'
                  CHECK (severity IN ('info', 'warning', 'error')),
    message       text        NOT NULL,
    details       jsonb       NULL,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz NULL
);

CREATE INDEX data_validation_issues_series_ts_idx
    ON data_validation_issues (exchange, symbol, timeframe, ts);
