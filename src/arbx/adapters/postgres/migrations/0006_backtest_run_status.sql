-- Background runs that failed are stored beside the finished ones (one id space), so every
-- server instance sees them: `status` is 'done' (meta: the run's JSON) or 'failed' (meta:
-- the failure's JSON: error, bars, owner...; no tables). `owner` and `shared` repeat the
-- meta's, so the store lists a reader's runs (own, shared, or ownerless) in SQL and pages
-- after filtering.

ALTER TABLE backtest_runs
    ADD COLUMN status text COLLATE "C" NOT NULL DEFAULT 'done'
        CHECK (status IN ('done', 'failed')),
    ADD COLUMN owner  text COLLATE "C",
    ADD COLUMN shared boolean NOT NULL DEFAULT false;

UPDATE backtest_runs
SET owner = meta->>'owner',
    shared = coalesce((meta->>'shared')::boolean, false);

CREATE INDEX backtest_runs_owner_idx ON backtest_runs (owner, created_at DESC, id DESC);
