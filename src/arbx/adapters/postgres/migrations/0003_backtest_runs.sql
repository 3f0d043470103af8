-- Backtest runs (arbx.ports.run_store). Chosen by read pattern:
-- * `meta` (request, strategy, params, span, series, engine, metrics, benchmark,
--   opportunities) is JSONB: always read whole, small, and JSONB lets analysts filter and rank
--   runs in SQL (meta->'metrics'->>'sharpe') without a column per metric; the columns beside
--   it repeat what the store itself filters and sorts on.
-- * each result table (curve, trades, orders, fills, balances) is one child row holding an
--   Arrow IPC stream (zstd) in bytea, not JSONB and not one SQL row per point: a table is
--   always read whole (a chart, a download) and one at a time, so a 1M-bar equity curve is
--   one row of a few MB instead of a million rows or a huge JSON document, comes back with its
--   exact schema and float bits (JSON cannot carry NaN or the dtypes), and fetching the
--   trades does not load the curve.

CREATE TABLE backtest_runs (
    id          text COLLATE "C" PRIMARY KEY,
    created_at  timestamptz      NOT NULL,
    strategy    text COLLATE "C" NOT NULL,
    meta        jsonb            NOT NULL
);

CREATE INDEX backtest_runs_newest_idx ON backtest_runs (created_at DESC, id DESC);
CREATE INDEX backtest_runs_strategy_idx ON backtest_runs (strategy, created_at DESC, id DESC);

CREATE TABLE backtest_run_tables (
    run_id  text COLLATE "C" NOT NULL REFERENCES backtest_runs (id) ON DELETE CASCADE,
    name    text COLLATE "C" NOT NULL
            CHECK (name IN ('curve', 'trades', 'orders', 'fills', 'balances')),
    ipc     bytea            NOT NULL,
    PRIMARY KEY (run_id, name)
);
