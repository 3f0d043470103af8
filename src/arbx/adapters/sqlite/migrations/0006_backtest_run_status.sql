-- Background runs that failed are stored beside the finished ones (one id space), so every
-- process of the profile sees them: `status` is 'done' (meta: the run's JSON) or 'failed'
-- (meta: the failure's JSON: error, bars, owner...; no tables). `owner` and `shared` repeat
-- the meta's, so the store lists a reader's runs (own, shared, or ownerless) in SQL and
-- pages after filtering.

ALTER TABLE backtest_runs ADD COLUMN status TEXT NOT NULL DEFAULT 'done'
    CHECK (status IN ('done', 'failed'));
ALTER TABLE backtest_runs ADD COLUMN owner TEXT;
ALTER TABLE backtest_runs ADD COLUMN shared INTEGER NOT NULL DEFAULT 0 CHECK (shared IN (0, 1));

UPDATE backtest_runs
SET owner = json_extract(meta, '$.owner'),
    shared = coalesce(json_extract(meta, '$.shared'), 0);

CREATE INDEX backtest_runs_by_owner ON backtest_runs (owner, created_at DESC, id DESC);
