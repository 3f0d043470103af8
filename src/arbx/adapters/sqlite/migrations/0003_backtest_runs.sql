-- Backtest runs. `meta` is the run's JSON (request, strategy, params, span, series and row
-- counts, engine version, metrics, benchmark, opportunities); the columns beside it repeat
-- what the store filters and sorts on. Times are INTEGER microseconds since the Unix epoch.
-- Each table of a run (curve, trades, orders, fills, balances) is one Arrow IPC blob
-- (zstd): a 1M-bar equity curve is one row instead of a million, reads back with its exact
-- schema and float bits, and the API fetches one table without loading the others.

CREATE TABLE backtest_runs (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    strategy   TEXT NOT NULL,
    meta       TEXT NOT NULL
);

CREATE INDEX backtest_runs_newest ON backtest_runs (created_at DESC, id DESC);
CREATE INDEX backtest_runs_by_strategy ON backtest_runs (strategy, created_at DESC);

CREATE TABLE backtest_run_tables (
    run_id TEXT NOT NULL REFERENCES backtest_runs (id) ON DELETE CASCADE,
    name   TEXT NOT NULL CHECK (name IN ('curve', 'trades', 'orders', 'fills', 'balances')),
    ipc    BLOB NOT NULL,
    PRIMARY KEY (run_id, name)
);
