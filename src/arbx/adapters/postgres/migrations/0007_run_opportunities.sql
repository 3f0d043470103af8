-- Arbitrage runs store one more table, `opportunities` (one row per opportunity). Runs
-- stored before keep their five tables and read back with an empty `opportunities` table
-- (domain.backtest.run.BacktestRun).

ALTER TABLE backtest_run_tables DROP CONSTRAINT backtest_run_tables_name_check;

ALTER TABLE backtest_run_tables ADD CONSTRAINT backtest_run_tables_name_check
    CHECK (name IN ('curve', 'trades', 'orders', 'fills', 'balances', 'opportunities'));
