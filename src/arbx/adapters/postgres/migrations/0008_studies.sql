-- Optimization studies and their trials (arbx.ports.study_store). `meta` is the study's
-- JSONB (strategy, method, search space, objective, base request, data fingerprints, engine
-- version, status), `body` a trial's (params, seed, metrics, bucketed returns): read whole,
-- small, and filterable in SQL (body->'metrics'->>'sharpe'). A trial is written once when it
-- finishes, so an interrupted study keeps every finished trial.

CREATE TABLE studies (
    id          text COLLATE "C" PRIMARY KEY,
    created_at  timestamptz      NOT NULL,
    owner       text COLLATE "C",
    meta        jsonb            NOT NULL
);

CREATE INDEX studies_newest_idx ON studies (created_at DESC, id DESC);
CREATE INDEX studies_owner_idx ON studies (owner, created_at DESC, id DESC);

CREATE TABLE study_trials (
    study_id  text COLLATE "C" NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
    number    integer          NOT NULL CHECK (number >= 0),
    body      jsonb            NOT NULL,
    PRIMARY KEY (study_id, number)
);
