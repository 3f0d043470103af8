-- Scheduled job definitions and their run history.
-- Times are INTEGER microseconds since the Unix epoch, UTC (exact, and they sort).
-- `definition` holds the whole JobDefinition as JSON; the other columns repeat what the
-- store queries or constrains (unique name, kind, pause state).

CREATE TABLE jobs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('collect', 'validate', 'repair')),
    origin     TEXT NOT NULL CHECK (origin IN ('api', 'config')),
    paused     INTEGER NOT NULL CHECK (paused IN (0, 1)),
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX jobs_by_creation ON jobs (created_at, id);

CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),
    trigger      TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    bars_written INTEGER NOT NULL DEFAULT 0 CHECK (bars_written >= 0),
    error        TEXT,
    CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX job_runs_by_job ON job_runs (job_id, started_at DESC, id DESC);
CREATE INDEX job_runs_by_start ON job_runs (started_at DESC, id DESC);
CREATE INDEX job_runs_running ON job_runs (status) WHERE status = 'running';
