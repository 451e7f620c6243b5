-- kvmrelay schema v2 for the embedded SQLite store: accounts, invitations, MFA, session
-- activity, and the directory that maps public identifiers (organization slug, device id,
-- API key prefix, token hashes) to their organization before a tenant-scoped transaction.

CREATE TABLE directory (
    kind        TEXT NOT NULL CHECK (kind IN ('org', 'device', 'apikey', 'enroll', 'refresh', 'invite')),
    key         TEXT NOT NULL CHECK (key <> ''),
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (kind, key)
) STRICT;

ALTER TABLE organizations ADD COLUMN slug TEXT NOT NULL DEFAULT '';
UPDATE organizations SET slug = id WHERE slug = '';

ALTER TABLE users ADD COLUMN totp_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (totp_confirmed IN (0, 1));
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failed_at INTEGER;
ALTER TABLE users ADD COLUMN scope TEXT NOT NULL DEFAULT '{}';

ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT '{}';

ALTER TABLE console_sessions ADD COLUMN last_activity_at INTEGER;

CREATE TABLE recovery_codes (
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, code_hash),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;

CREATE TABLE invitations (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    id          TEXT NOT NULL PRIMARY KEY,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    scope       TEXT NOT NULL DEFAULT '{}',
    token_hash  TEXT NOT NULL UNIQUE,
    invited_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER
) STRICT;
