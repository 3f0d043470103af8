-- The strategy catalog (arbx.ports.catalog_store): definitions, immutable versions, and the
-- history of deployment-state changes. Times are INTEGER microseconds since the epoch, UTC.
-- `doc` holds the whole version / change as JSON; the columns beside it repeat what the
-- store constrains or filters on. Only a version's state fields ever change.

CREATE TABLE strategy_definitions (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    owner      TEXT NOT NULL,
    shared     INTEGER NOT NULL CHECK (shared IN (0, 1)),
    current    INTEGER NOT NULL CHECK (current >= 1),
    created_at INTEGER NOT NULL
);

CREATE TABLE strategy_versions (
    definition_id TEXT NOT NULL REFERENCES strategy_definitions (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL CHECK (number >= 1),
    state         TEXT NOT NULL CHECK (state IN ('draft', 'candidate', 'approved', 'retired')),
    doc           TEXT NOT NULL,
    PRIMARY KEY (definition_id, number)
);

CREATE TABLE strategy_state_changes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    definition_id TEXT NOT NULL REFERENCES strategy_definitions (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL,
    doc           TEXT NOT NULL
);

CREATE INDEX strategy_state_changes_by_definition ON strategy_state_changes (definition_id, seq);

-- Scheduled jobs gain the kind 'evaluate' (re-run an approved catalog version). SQLite cannot
-- change a CHECK constraint in place: the job tables are rebuilt with their rows (runs are set
-- aside first, so dropping the old jobs table cascades to nothing).
CREATE TABLE job_runs_saved AS SELECT * FROM job_runs;
DROP TABLE job_runs;

CREATE TABLE jobs_rebuilt (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('collect', 'validate', 'repair', 'evaluate')),
    origin     TEXT NOT NULL CHECK (origin IN ('api', 'config')),
    paused     INTEGER NOT NULL CHECK (paused IN (0, 1)),
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO jobs_rebuilt (id, name, kind, origin, paused, definition, created_at, updated_at)
    SELECT id, name, kind, origin, paused, definition, created_at, updated_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_rebuilt RENAME TO jobs;
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
INSERT INTO job_runs (id, job_id, attempt, trigger, status, started_at, finished_at,
                      bars_written, error)
    SELECT id, job_id, attempt, trigger, status, started_at, finished_at, bars_written, error
    FROM job_runs_saved;
DROP TABLE job_runs_saved;
CREATE INDEX job_runs_by_job ON job_runs (job_id, started_at DESC, id DESC);
CREATE INDEX job_runs_by_start ON job_runs (started_at DESC, id DESC);
CREATE INDEX job_runs_running ON job_runs (status) WHERE status = 'running';
