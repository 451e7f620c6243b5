-- kvmrelay schema v3 for the embedded SQLite store: single-use values (one-time console links,
-- proof-of-key nonces), password resets, a per-user cut-off for access tokens, and the anchor
-- of each organization's audit chain head. See the PostgreSQL file for the reasoning.

CREATE TABLE spent_tokens (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    kind        TEXT NOT NULL CHECK (kind IN ('console_link', 'proof_nonce')),
    key         TEXT NOT NULL CHECK (key <> ''),
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, kind, key)
) STRICT;
CREATE INDEX spent_tokens_expiry ON spent_tokens (org_id, expires_at);

CREATE TABLE password_resets (
    org_id      TEXT NOT NULL,
    token_hash  TEXT NOT NULL PRIMARY KEY,
    user_id     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
) STRICT;

-- SQLite cannot alter a CHECK constraint: rebuild the directory with the new kind.
CREATE TABLE directory_v3 (
    kind        TEXT NOT NULL CHECK (kind IN ('org', 'device', 'apikey', 'enroll', 'refresh', 'invite', 'reset')),
    key         TEXT NOT NULL CHECK (key <> ''),
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (kind, key)
) STRICT;
INSERT INTO directory_v3 (kind, key, org_id) SELECT kind, key, org_id FROM directory;
DROP TABLE directory;
ALTER TABLE directory_v3 RENAME TO directory;

ALTER TABLE users ADD COLUMN tokens_valid_after INTEGER;

ALTER TABLE organizations ADD COLUMN audit_head_seq INTEGER NOT NULL DEFAULT 0 CHECK (audit_head_seq >= 0);
ALTER TABLE organizations ADD COLUMN audit_head_hash TEXT NOT NULL DEFAULT '';
