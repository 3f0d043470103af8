-- Scheduled retention (issue 20): jobs of kind 'retain' apply the [[retention]] rules to their
-- series. SQLite cannot change a CHECK constraint in place, and dropping `jobs` would cascade
-- to its runs: both tables are rebuilt (runs first pointed at the new jobs table), their rows
-- copied, the old ones dropped (child first) and the new ones renamed (SQLite rewrites the
-- runs' foreign key to the new name).

CREATE TABLE jobs_new (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('collect', 'validate', 'repair', 'evaluate', 'retain')),
    origin     TEXT NOT NULL CHECK (origin IN ('api', 'config')),
    paused     INTEGER NOT NULL CHECK (paused IN (0, 1)),
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

INSERT INTO jobs_new (id, name, kind, origin, paused, definition, created_at, updated_at)
    SELECT id, name, kind, origin, paused, definition, created_at, updated_at FROM jobs;

CREATE TABLE job_runs_new (
    id           TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL REFERENCES jobs_new (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),
    trigger      TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    bars_written INTEGER NOT NULL DEFAULT 0 CHECK (bars_written >= 0),
    error        TEXT,
    CHECK ((status = 'running') = (finished_at IS NULL))
);

INSERT INTO job_runs_new
    (id, job_id, attempt, trigger, status, started_at, finished_at, bars_written, error)
    SELECT id, job_id, attempt, trigger, status, started_at, finished_at, bars_written, error
    FROM job_runs;

DROP TABLE job_runs;

DROP TABLE jobs;

ALTER TABLE jobs_new RENAME TO jobs;

ALTER TABLE job_runs_new RENAME TO job_runs;

CREATE INDEX jobs_by_creation ON jobs (created_at, id);
CREATE INDEX job_runs_by_job ON job_runs (job_id, started_at DESC, id DESC);
CREATE INDEX job_runs_by_start ON job_runs (started_at DESC, id DESC);
CREATE INDEX job_runs_running ON job_runs (status) WHERE status = 'running';
