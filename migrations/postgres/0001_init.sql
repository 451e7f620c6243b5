-- kvmrelay schema v1 for PostgreSQL. Run as the owning role (`kvmrelay migrate`); the
-- application role is created and granted DML by the migrator after the files are applied.
-- Isolation is Row-Level Security, FORCEd so even the owner's sessions obey it unless they
-- bypass RLS explicitly: every tenant table admits only rows whose org_id equals the tenant the
-- transaction set with set_config('app.org_id', $1, true). NULLIF turns the '' that
-- current_setting returns once that setting has ended into NULL, which matches nothing.
-- Composite foreign keys (org_id, …) make a cross-tenant reference impossible to store.

CREATE TABLE organizations (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    idle_timeout_s      bigint NOT NULL DEFAULT 900 CHECK (idle_timeout_s >= 0),
    max_session_s       bigint NOT NULL DEFAULT 28800 CHECK (max_session_s >= 0),
    created_at          timestamptz NOT NULL
);

CREATE TABLE users (
    org_id          uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL PRIMARY KEY,
    email           text NOT NULL,
    password_hash   text NOT NULL DEFAULT '',
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    disabled        boolean NOT NULL DEFAULT false,
    totp_secret     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, email)
);

CREATE TABLE devices (
    org_id          uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL PRIMARY KEY,
    name            text NOT NULL,
    labels          text NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    last_seen       timestamptz,
    agent_version   text NOT NULL DEFAULT '',
    capabilities    text NOT NULL DEFAULT '',
    UNIQUE (org_id, id)
);

CREATE TABLE enrollment_tokens (
    org_id          uuid NOT NULL,
    token_hash      text NOT NULL PRIMARY KEY,
    device_id       uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    FOREIGN KEY (org_id, device_id) REFERENCES devices (org_id, id)
);

CREATE TABLE console_sessions (
    org_id          uuid NOT NULL,
    id              uuid NOT NULL PRIMARY KEY,
    device_id       uuid NOT NULL,
    principal       text NOT NULL,
    desired_state   text NOT NULL CHECK (desired_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'STOPPED', 'ERROR')),
    current_state   text NOT NULL CHECK (current_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'STOPPED', 'ERROR')),
    reason          text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    started_at      timestamptz,
    ended_at        timestamptz,
    expires_at      timestamptz NOT NULL,
    FOREIGN KEY (org_id, device_id) REFERENCES devices (org_id, id)
);
CREATE INDEX console_sessions_device ON console_sessions (org_id, device_id);

CREATE TABLE refresh_tokens (
    org_id          uuid NOT NULL,
    token_hash      text NOT NULL PRIMARY KEY,
    family_id       uuid NOT NULL,
    user_id         uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    rotated_at      timestamptz,
    revoked_at      timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (org_id, family_id);

CREATE TABLE api_keys (
    org_id          uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL PRIMARY KEY,
    prefix          text NOT NULL UNIQUE,
    key_hash        text NOT NULL,
    name            text NOT NULL DEFAULT '',
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    created_at      timestamptz NOT NULL,
    revoked_at      timestamptz
);

-- One hash chain per organization. body is the canonical JSON exactly as hashed (text, so
-- PostgreSQL stores the bytes it was given); hash = hex(SHA-256(prev_hash bytes || body bytes)).
-- The two unique constraints make a fork impossible to commit.
CREATE TABLE audit_entries (
    org_id          uuid NOT NULL REFERENCES organizations (id),
    seq             bigint NOT NULL CHECK (seq > 0),
    prev_hash       text NOT NULL,
    hash            text NOT NULL,
    body            text NOT NULL,
    PRIMARY KEY (org_id, seq),
    UNIQUE (org_id, prev_hash)
);

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON organizations
    USING (id = NULLIF(current_setting('app.org_id', true), '')::uuid)
    WITH CHECK (id = NULLIF(current_setting('app.org_id', true), '')::uuid);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'devices', 'enrollment_tokens', 'console_sessions',
                             'refresh_tokens', 'api_keys', 'audit_entries']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I
            USING (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid)
            WITH CHECK (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid)', t);
    END LOOP;
END
$$;
