-- kvmrelay schema v8 for the embedded SQLite store: share links of console sessions. See the
-- PostgreSQL file for what they are.

-- The shares' composite key below needs (org_id, id) unique on the sessions.
CREATE UNIQUE INDEX console_sessions_org_id_id ON console_sessions (org_id, id);

CREATE TABLE session_shares (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    id          TEXT NOT NULL PRIMARY KEY,
    session_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('member', 'guest')),
    token_hash  TEXT NOT NULL UNIQUE CHECK (token_hash <> ''),
    created_by  TEXT NOT NULL CHECK (created_by <> ''),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER CHECK (kind = 'member' OR expires_at IS NOT NULL),
    revoked_at  INTEGER,
    FOREIGN KEY (org_id, session_id) REFERENCES console_sessions (org_id, id)
) STRICT;
CREATE INDEX session_shares_session ON session_shares (org_id, session_id);

-- share_id has no foreign key (see the PostgreSQL file); the store checks it on insert.
-- A session joined through a share only ever watches.
ALTER TABLE console_sessions ADD COLUMN "grant" TEXT CHECK ("grant" IN ('view', 'control', 'admin'));
ALTER TABLE console_sessions ADD COLUMN share_id TEXT CHECK (share_id IS NULL OR "grant" = 'view');
ALTER TABLE console_sessions ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
CREATE INDEX console_sessions_share ON console_sessions (org_id, share_id) WHERE share_id IS NOT NULL;

ALTER TABLE organizations ADD COLUMN guest_links INTEGER NOT NULL DEFAULT 0 CHECK (guest_links IN (0, 1));

-- SQLite cannot alter a CHECK constraint: rebuild the directory with the new kind.
CREATE TABLE directory_v8 (
    kind        TEXT NOT NULL CHECK (kind IN ('org', 'device', 'apikey', 'enroll', 'refresh', 'invite', 'reset', 'share')),
    key         TEXT NOT NULL CHECK (key <> ''),
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (kind, key)
) STRICT;
INSERT INTO directory_v8 (kind, key, org_id) SELECT kind, key, org_id FROM directory;
DROP TABLE directory;
ALTER TABLE directory_v8 RENAME TO directory;
