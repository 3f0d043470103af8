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
