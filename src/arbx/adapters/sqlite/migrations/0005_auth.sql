-- Users, API keys, refresh-token families and the append-only audit log.
-- Times are INTEGER microseconds since the Unix epoch, UTC (exact, and they sort).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    state         TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('viewer', 'analyst', 'operator', 'admin')),
    PRIMARY KEY (user_id, role)
);

CREATE INDEX user_roles_by_role ON user_roles (role);

-- Keys and tokens keep their owner's id without a foreign key: users are disabled, never
-- deleted, and the stores' contract does not make key storage depend on the user table.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    owner_id     TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    roles        TEXT NOT NULL,  -- comma-separated role names, sorted
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE INDEX api_keys_by_owner ON api_keys (owner_id, created_at);

CREATE TABLE refresh_tokens (
    id                 TEXT PRIMARY KEY,
    family_id          TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    token_hash         TEXT NOT NULL UNIQUE,
    issued_at          INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    session_started_at INTEGER NOT NULL,
    used_at            INTEGER,
    revoked_at         INTEGER
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    target         TEXT,
    client_address TEXT,
    detail         TEXT
);

CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_by_action ON audit_log (action, seq);
CREATE INDEX audit_log_by_target ON audit_log (target, seq);

-- Append-only, even for SQL that bypasses the port.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
