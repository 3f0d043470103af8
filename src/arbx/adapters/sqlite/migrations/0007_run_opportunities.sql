-- Arbitrage runs store one more table, `opportunities` (one row per opportunity). SQLite
-- cannot change a CHECK constraint in place: the table is rebuilt with the wider list and
-- its rows copied. Runs stored before keep their five tables and read back with an empty
-- `opportunities` table (domain.backtest.run.BacktestRun).

CREATE TABLE backtest_run_tables_new (
    run_id TEXT NOT NULL REFERENCES backtest_runs (id) ON DELETE CASCADE,
    name   TEXT NOT NULL
           CHECK (name IN ('curve', 'trades', 'orders', 'fills', 'balances', 'opportunities')),
    ipc    BLOB NOT NULL,
    PRIMARY KEY (run_id, name)
);

INSERT INTO backtest_run_tables_new (run_id, name, ipc)
    SELECT run_id, name, ipc FROM backtest_run_tables;

DROP TABLE backtest_run_tables;

ALTER TABLE backtest_run_tables_new RENAME TO backtest_run_tables;
