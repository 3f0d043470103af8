-- Users and roles, API keys, refresh-token families and the append-only audit log
-- (arbx.ports.user_store, api_key_store, refresh_token_store, audit_log).
-- Times are timestamptz (microsecond precision, the ports' resolution). Ids, names and hashes
-- use the "C" collation: byte-wise equality and order, independent of the server's locale.

CREATE TABLE roles (
    name text COLLATE "C" PRIMARY KEY
);

INSERT INTO roles (name) VALUES ('viewer'), ('analyst'), ('operator'), ('admin');

CREATE TABLE users (
    id             text COLLATE "C" PRIMARY KEY,
    username       text COLLATE "C" NOT NULL,
    state          text             NOT NULL CHECK (state IN ('active', 'disabled')),
    password_hash  text             NOT NULL,
    created_at     timestamptz      NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE user_roles (
    user_id  text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     text COLLATE "C" NOT NULL REFERENCES roles (name),
    PRIMARY KEY (user_id, role)
);

CREATE INDEX user_roles_by_role ON user_roles (role);

-- Keys and tokens keep their owner's id without a foreign key: users are disabled, never
-- deleted, and the stores' contract does not make key storage depend on the user table.
-- A key's roles are a text array (read whole with the key, never joined).
CREATE TABLE api_keys (
    id            text COLLATE "C" PRIMARY KEY,
    name          text             NOT NULL,
    owner_id      text COLLATE "C" NOT NULL,
    prefix        text COLLATE "C" NOT NULL,
    secret_hash   text             NOT NULL,
    roles         text[]           NOT NULL,
    created_at    timestamptz      NOT NULL,
    expires_at    timestamptz      NULL,
    last_used_at  timestamptz      NULL,
    revoked_at    timestamptz      NULL,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);

CREATE INDEX api_keys_by_owner ON api_keys (owner_id, created_at, id);
CREATE INDEX api_keys_by_creation ON api_keys (created_at, id);

CREATE TABLE refresh_tokens (
    id                  text COLLATE "C" PRIMARY KEY,
    family_id           text COLLATE "C" NOT NULL,
    user_id             text COLLATE "C" NOT NULL,
    token_hash          text COLLATE "C" NOT NULL,
    issued_at           timestamptz      NOT NULL,
    expires_at          timestamptz      NOT NULL,
    session_started_at  timestamptz      NOT NULL,
    used_at             timestamptz      NULL,
    revoked_at          timestamptz      NULL,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

-- seq comes from an identity: it only grows (gaps after a rollback are harmless), which is
-- all the port promises.
CREATE TABLE audit_log (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz      NOT NULL,
    actor           text COLLATE "C" NOT NULL,
    action          text COLLATE "C" NOT NULL,
    outcome         text             NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    target          text COLLATE "C" NULL,
    client_address  text             NULL,
    detail          text             NULL
);

CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_by_action ON audit_log (action, seq);
CREATE INDEX audit_log_by_target ON audit_log (target, seq);

-- Append-only, even for SQL that bypasses the port: row triggers refuse UPDATE and DELETE,
-- a statement trigger refuses TRUNCATE (which row triggers do not see).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
