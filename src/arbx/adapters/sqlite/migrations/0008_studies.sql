-- Optimization studies and their trials (arbx.ports.study_store). `meta` is the study's JSON
-- (strategy, method, search space, objective, base request, data fingerprints, engine
-- version, status); `body` a trial's JSON (params, seed, metrics, bucketed returns). The
-- columns beside them repeat what the store filters and sorts on. Times are INTEGER
-- microseconds since the Unix epoch. A trial is written once when it finishes, so an
-- interrupted study keeps every finished trial.

CREATE TABLE studies (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    owner      TEXT,
    meta       TEXT NOT NULL
);

CREATE INDEX studies_newest ON studies (created_at DESC, id DESC);
CREATE INDEX studies_by_owner ON studies (owner, created_at DESC, id DESC);

CREATE TABLE study_trials (
    study_id TEXT NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number   INTEGER NOT NULL CHECK (number >= 0),
    body     TEXT NOT NULL,
    PRIMARY KEY (study_id, number)
);
