-- What the quality checks found per series (arbx.ports.quality_store): validation issues on
-- bars and gaps on the timeframe grid. Keyed by series like market_data, without a foreign
-- key: market_data may be a hypertable, and a gap by definition has no bars to point at.
-- Text that findings are sorted by uses the "C" collation, the order the port specifies.

CREATE TABLE data_validation_issues (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange      text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    timeframe     text COLLATE "C" NOT NULL,
    ts            timestamptz      NOT NULL,
    -- the rule's id ('high_below_low', 'return_outlier_mad', ...)
    rule          text COLLATE "C" NOT NULL,
    severity      text             NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
    -- the offending value and the bound it broke; NULL when there is none (or not finite)
    observed      double precision NULL,
    expected      double precision NULL,
    detail        text COLLATE "C" NOT NULL,
    detected_at   timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX data_validation_issues_series_ts_idx
    ON data_validation_issues (exchange, symbol, timeframe, ts);

CREATE TABLE data_gaps (
    exchange      text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    timeframe     text COLLATE "C" NOT NULL,
    -- the missing span [gap_start, gap_end) on the grid
    gap_start     timestamptz      NOT NULL,
    gap_end       timestamptz      NOT NULL,
    bars_missing  integer          NOT NULL CHECK (bars_missing > 0),
    cause         text             NOT NULL CHECK (cause IN ('no_trades', 'outage', 'unknown')),
    status        text             NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'filled', 'accepted')),
    -- once filled: 'ffill' or the reference series it was filled from
    fill_source   text             NULL,
    detected_at   timestamptz      NOT NULL DEFAULT now(),
    CHECK (gap_end > gap_start),
    CONSTRAINT data_gaps_pkey PRIMARY KEY (exchange, symbol, timeframe, gap_start)
);

-- "gaps overlapping a span" probes gap_end > span.start too
CREATE INDEX data_gaps_series_end_idx ON data_gaps (exchange, symbol, timeframe, gap_end);
