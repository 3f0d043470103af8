-- Scheduled job definitions and their run history (arbx.ports.job_store).
-- `definition` holds the whole JobDefinition as JSONB, always read whole; the columns beside
-- it repeat what the store constrains, filters or sorts on (unique name, kind, pause state,
-- creation order). Runs cascade with their job.

CREATE TABLE jobs (
    id          text COLLATE "C" PRIMARY KEY,
    name        text COLLATE "C" NOT NULL,
    kind        text             NOT NULL CHECK (kind IN ('collect', 'validate', 'repair')),
    origin      text             NOT NULL CHECK (origin IN ('api', 'config')),
    paused      boolean          NOT NULL,
    definition  jsonb            NOT NULL,
    created_at  timestamptz      NOT NULL,
    updated_at  timestamptz      NOT NULL,
    CONSTRAINT jobs_name_key UNIQUE (name)
);

CREATE INDEX jobs_by_creation ON jobs (created_at, id);

CREATE TABLE job_runs (
    id            text COLLATE "C" PRIMARY KEY,
    job_id        text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       integer          NOT NULL CHECK (attempt >= 1),
    trigger       text             NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status        text             NOT NULL
                  CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    started_at    timestamptz      NOT NULL,
    finished_at   timestamptz      NULL,
    bars_written  bigint           NOT NULL DEFAULT 0 CHECK (bars_written >= 0),
    error         text             NULL,
    CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX job_runs_by_job ON job_runs (job_id, started_at DESC, id DESC);
CREATE INDEX job_runs_by_start ON job_runs (started_at DESC, id DESC);
CREATE INDEX job_runs_running ON job_runs (status) WHERE status = 'running';
