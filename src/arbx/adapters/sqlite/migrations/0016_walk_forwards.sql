-- Walk-forward analyses and their finished folds (arbx.ports.walk_forward_store). `meta` is
-- the walk-forward's JSON (strategy and catalog version, search, fold layout, base request,
-- data fingerprints, engine version, status, holder); `body` a fold's JSON (chosen params,
-- in-sample and out-of-sample metrics, its out-of-sample equity). A fold is written once
-- when it finishes, so an interrupted walk-forward keeps every finished fold. Times are
-- INTEGER microseconds since the Unix epoch.

CREATE TABLE walk_forwards (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    owner      TEXT,
    meta       TEXT NOT NULL
);

CREATE INDEX walk_forwards_newest ON walk_forwards (created_at DESC, id DESC);
CREATE INDEX walk_forwards_by_owner ON walk_forwards (owner, created_at DESC, id DESC);

CREATE TABLE walk_forward_folds (
    walk_forward_id TEXT NOT NULL REFERENCES walk_forwards (id) ON DELETE CASCADE,
    fold            INTEGER NOT NULL CHECK (fold >= 0),
    body            TEXT NOT NULL,
    PRIMARY KEY (walk_forward_id, fold)
);
