-- Alert rules and every transition of their alerts (arbx.ports.alert_store).
-- Times are INTEGER microseconds since the Unix epoch, UTC. `definition` holds the whole
-- AlertRule as JSON; the history outlives a deleted rule (no foreign key).

CREATE TABLE alert_rules (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE alert_transitions (
    id        TEXT PRIMARY KEY,
    rule_id   TEXT NOT NULL,
    subject   TEXT NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    at        INTEGER NOT NULL,
    body      TEXT NOT NULL
);

CREATE INDEX alert_transitions_by_rule ON alert_transitions (rule_id, at DESC, id DESC);
CREATE INDEX alert_transitions_by_time ON alert_transitions (at DESC, id DESC);
CREATE INDEX alert_transitions_by_alert ON alert_transitions (rule_id, subject, at DESC, id DESC);
