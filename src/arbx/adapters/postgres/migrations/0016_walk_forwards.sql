-- Walk-forward analyses and their finished folds (arbx.ports.walk_forward_store). `meta` is
-- the walk-forward's JSONB (strategy and catalog version, search, fold layout, base request,
-- data fingerprints, engine version, status, holder), `body` a fold's (chosen params,
-- in-sample and out-of-sample metrics, its out-of-sample equity). A fold is written once
-- when it finishes, so an interrupted walk-forward keeps every finished fold.

CREATE TABLE walk_forwards (
    id          text COLLATE "C" PRIMARY KEY,
    created_at  timestamptz      NOT NULL,
    owner       text COLLATE "C",
    meta        jsonb            NOT NULL
);

CREATE INDEX walk_forwards_newest_idx ON walk_forwards (created_at DESC, id DESC);
CREATE INDEX walk_forwards_owner_idx ON walk_forwards (owner, created_at DESC, id DESC);

CREATE TABLE walk_forward_folds (
    walk_forward_id  text COLLATE "C" NOT NULL REFERENCES walk_forwards (id) ON DELETE CASCADE,
    fold             integer          NOT NULL CHECK (fold >= 0),
    body             jsonb            NOT NULL,
    PRIMARY KEY (walk_forward_id, fold)
);
