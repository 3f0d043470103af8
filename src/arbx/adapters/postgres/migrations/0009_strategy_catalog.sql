-- The strategy catalog (arbx.ports.catalog_store): definitions, immutable versions, and the
-- history of deployment-state changes. `doc` holds the whole version / change as JSONB;
-- the columns beside it repeat what the store constrains or filters on. Only a version's
-- state fields ever change.

CREATE TABLE strategy_definitions (
    id          text COLLATE "C" PRIMARY KEY,
    name        text COLLATE "C" NOT NULL,
    owner       text COLLATE "C" NOT NULL,
    shared      boolean          NOT NULL,
    current     integer          NOT NULL CHECK (current >= 1),
    created_at  timestamptz      NOT NULL,
    CONSTRAINT strategy_definitions_name_key UNIQUE (name)
);

CREATE TABLE strategy_versions (
    definition_id text COLLATE "C" NOT NULL REFERENCES strategy_definitions (id) ON DELETE CASCADE,
    number        integer          NOT NULL CHECK (number >= 1),
    state         text             NOT NULL
                  CHECK (state IN ('draft', 'candidate', 'approved', 'retired')),
    doc           jsonb            NOT NULL,
    PRIMARY KEY (definition_id, number)
);

CREATE TABLE strategy_state_changes (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    definition_id text COLLATE "C" NOT NULL REFERENCES strategy_definitions (id) ON DELETE CASCADE,
    number        integer          NOT NULL,
    doc           jsonb            NOT NULL
);

CREATE INDEX strategy_state_changes_by_definition ON strategy_state_changes (definition_id, seq);

-- Scheduled jobs gain the kind 'evaluate' (re-run an approved catalog version).
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('collect', 'validate', 'repair', 'evaluate'));
