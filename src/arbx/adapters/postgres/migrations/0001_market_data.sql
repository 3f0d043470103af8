-- Market data: one row per bar of a series (exchange, symbol, timeframe) at its OPEN time ts.
-- Names are canonical (exchange 'binance', symbol 'BTC/USDC', timeframe '1m'); prices and
-- quantities are DOUBLE PRECISION, as in computation. The storage layout that depends on
-- TimescaleDB (hypertable, compression, continuous aggregates) or on its absence (BRIN index,
-- date_bin views) is applied after the migrations by timescale.py, the one place for it.
-- Identifiers use the "C" collation: byte-wise comparison is what ids need, it keeps the
-- primary key fast, and it cannot be invalidated by a libc collation change on the server.
CREATE TABLE market_data (
    exchange      text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    timeframe     text COLLATE "C" NOT NULL,
    ts            timestamptz      NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        double precision NOT NULL,
    -- per-bar quality in [0, 1], set by validation; NULL until validated
    quality_score real             NULL CHECK (quality_score BETWEEN 0 AND 1),
    is_validated  boolean          NOT NULL DEFAULT false,
    -- true when the bar was repaired (filled from another venue or forward-filled)
    is_filled     boolean          NOT NULL DEFAULT false,
    ingested_at   timestamptz      NOT NULL DEFAULT now(),
    -- the upsert key; it includes ts, as a hypertable's unique indexes must
    CONSTRAINT market_data_pkey PRIMARY KEY (exchange, symbol, timeframe, ts)
);
