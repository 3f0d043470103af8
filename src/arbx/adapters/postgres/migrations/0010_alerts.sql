-- Alert rules and every transition of their alerts (arbx.ports.alert_store).
-- `definition` / `body` hold the whole AlertRule / AlertTransition as JSONB, read whole; the
-- columns beside them repeat what the store constrains, filters or sorts on. The history
-- outlives a deleted rule (no foreign key).

CREATE TABLE alert_rules (
    id          text COLLATE "C" PRIMARY KEY,
    name        text COLLATE "C" NOT NULL,
    definition  jsonb            NOT NULL,
    created_at  timestamptz      NOT NULL,
    CONSTRAINT alert_rules_name_key UNIQUE (name)
);

CREATE TABLE alert_transitions (
    id        text COLLATE "C" PRIMARY KEY,
    rule_id   text COLLATE "C" NOT NULL,
    subject   text COLLATE "C" NOT NULL,
    state     text             NOT NULL CHECK (state IN ('firing', 'resolved')),
    at        timestamptz      NOT NULL,
    body      jsonb            NOT NULL
);

CREATE INDEX alert_transitions_by_rule ON alert_transitions (rule_id, at DESC, id DESC);
CREATE INDEX alert_transitions_by_time ON alert_transitions (at DESC, id DESC);
CREATE INDEX alert_transitions_by_alert ON alert_transitions (rule_id, subject, at DESC, id DESC);
