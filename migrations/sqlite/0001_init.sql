-- kvmrelay schema v1 for the embedded SQLite store.
-- Times are INTEGER microseconds since the Unix epoch (UTC), so what is written reads back
-- exactly. Every tenant table carries org_id and every query the store issues filters on it;
-- composite foreign keys (org_id, …) make a cross-tenant reference impossible to store.

CREATE TABLE organizations (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    idle_timeout_s      INTEGER NOT NULL DEFAULT 900 CHECK (idle_timeout_s >= 0),
    max_session_s       INTEGER NOT NULL DEFAULT 28800 CHECK (max_session_s >= 0),
    created_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    id              TEXT NOT NULL PRIMARY KEY,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL DEFAULT '',
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    totp_secret     TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, email)
) STRICT;

CREATE TABLE devices (
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    id              TEXT NOT NULL PRIMARY KEY,
    name            TEXT NOT NULL,
    labels          TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    last_seen       INTEGER,
    agent_version   TEXT NOT NULL DEFAULT '',
    capabilities    TEXT NOT NULL DEFAULT '',
    UNIQUE (org_id, id)
) STRICT;

CREATE TABLE enrollment_tokens (
    org_id          TEXT NOT NULL,
    token_hash      TEXT NOT NULL PRIMARY KEY,
    device_id       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    FOREIGN KEY (org_id, device_id) REFERENCES devices (org_id, id)
) STRICT;

CREATE TABLE console_sessions (
    org_id          TEXT NOT NULL,
    id              TEXT NOT NULL PRIMARY KEY,
    device_id       TEXT NOT NULL,
    principal       TEXT NOT NULL,
    desired_state   TEXT NOT NULL CHECK (desired_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'STOPPED', 'ERROR')),
    current_state   TEXT NOT NULL CHECK (current_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'STOPPED', 'ERROR')),
    reason          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    started_at      INTEGER,
    ended_at        INTEGER,
    expires_at      INTEGER NOT NULL,
    FOREIGN KEY (org_id, device_id) REFERENCES devices (org_id, id)
) STRICT;
CREATE INDEX console_sessions_device ON console_sessions (org_id, device_id);

CREATE TABLE refresh_tokens (
    org_id          TEXT NOT NULL,
    token_hash      TEXT NOT NULL PRIMARY KEY,
    family_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    rotated_at      INTEGER,
    revoked_at      INTEGER,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (org_id, family_id);

CREATE TABLE api_keys (
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    id              TEXT NOT NULL PRIMARY KEY,
    prefix          TEXT NOT NULL UNIQUE,
    key_hash        TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
) STRICT;

-- One hash chain per organization. body is the canonical JSON exactly as hashed;
-- hash = hex(SHA-256(prev_hash bytes || body bytes)). The two unique constraints make a fork
-- (two rows claiming the same place in the chain) impossible to commit.
CREATE TABLE audit_entries (
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    seq             INTEGER NOT NULL CHECK (seq > 0),
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL,
    body            TEXT NOT NULL,
    PRIMARY KEY (org_id, seq),
    UNIQUE (org_id, prev_hash)
) STRICT;
