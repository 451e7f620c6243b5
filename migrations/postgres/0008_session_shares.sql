-- kvmrelay schema v8: share links of console sessions (issue 11, "Share"). A share lets others
-- watch a live console session: a member of the organization after signing in, or, when the
-- organization allows guest links, anyone with a time-limited link under a name they give.
-- Each who joins gets a console session of their own on the same device, tied to the share
-- (console_sessions.share_id); such a session only ever watches. Only the hash of a share's
-- token is stored; the directory maps it to the organization (kind 'share') for guests, who
-- arrive without one.

-- The shares' composite key below needs (org_id, id) unique on the sessions.
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_org_id_id_key UNIQUE (org_id, id);

CREATE TABLE session_shares (
    org_id      uuid NOT NULL REFERENCES organizations (id),
    id          uuid NOT NULL PRIMARY KEY,
    session_id  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('member', 'guest')),
    token_hash  text NOT NULL UNIQUE CHECK (token_hash <> ''),
    created_by  text NOT NULL CHECK (created_by <> ''),
    created_at  timestamptz NOT NULL,
    -- Guest links always expire; a member link lasts as long as its session (NULL).
    expires_at  timestamptz CHECK (kind = 'member' OR expires_at IS NOT NULL),
    revoked_at  timestamptz,
    FOREIGN KEY (org_id, session_id) REFERENCES console_sessions (org_id, id)
);
CREATE INDEX session_shares_session ON session_shares (org_id, session_id);

ALTER TABLE session_shares ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_shares FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON session_shares
    USING (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid)
    WITH CHECK (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid);

-- share_id is the share a session joined through. It has no foreign key: a share and the
-- sessions joined through it are of one device and are removed together (DeleteDevice), and
-- a key each way would make that order impossible. The store checks it on insert.
-- grant is what the session's console may do as it started (NULL before v8); display_name a
-- guest's cleaned name ('' for everyone else).
ALTER TABLE console_sessions ADD COLUMN share_id uuid;
ALTER TABLE console_sessions ADD COLUMN "grant" text CHECK ("grant" IN ('view', 'control', 'admin'));
ALTER TABLE console_sessions ADD COLUMN display_name text NOT NULL DEFAULT '';
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_share_check
    CHECK (share_id IS NULL OR "grant" = 'view');
CREATE INDEX console_sessions_share ON console_sessions (org_id, share_id) WHERE share_id IS NOT NULL;

-- Guest links are off until an owner turns them on.
ALTER TABLE organizations ADD COLUMN guest_links boolean NOT NULL DEFAULT false;

ALTER TABLE directory DROP CONSTRAINT directory_kind_check;
ALTER TABLE directory ADD CONSTRAINT directory_kind_check
    CHECK (kind IN ('org', 'device', 'apikey', 'enroll', 'refresh', 'invite', 'reset', 'share'));
