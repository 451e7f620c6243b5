-- kvmrelay schema v9 for the embedded SQLite store: session recordings. See the PostgreSQL
-- file for what they are.
ALTER TABLE organizations ADD COLUMN recording TEXT NOT NULL DEFAULT 'off'
    CHECK (recording IN ('off', 'on', 'required'));
ALTER TABLE organizations ADD COLUMN recording_keys INTEGER NOT NULL DEFAULT 0 CHECK (recording_keys IN (0, 1));
ALTER TABLE organizations ADD COLUMN recording_retention_days INTEGER NOT NULL DEFAULT 30
    CHECK (recording_retention_days BETWEEN 1 AND 3650);

CREATE TABLE recordings (
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    id              TEXT NOT NULL PRIMARY KEY,
    session_id      TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    duration_ms     INTEGER NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    frames          INTEGER NOT NULL DEFAULT 0 CHECK (frames >= 0),
    bytes           INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    video_sha256    TEXT NOT NULL DEFAULT '',
    timeline_sha256 TEXT NOT NULL DEFAULT '',
    path            TEXT NOT NULL CHECK (path <> ''),
    state           TEXT NOT NULL CHECK (state IN ('recording', 'complete', 'failed')),
    error           TEXT NOT NULL DEFAULT '',
    participants    TEXT NOT NULL DEFAULT '[]',
    capture_keys    INTEGER NOT NULL DEFAULT 0 CHECK (capture_keys IN (0, 1))
) STRICT;
CREATE INDEX recordings_started ON recordings (org_id, started_at DESC);
CREATE INDEX recordings_device ON recordings (org_id, device_id, started_at DESC);
CREATE INDEX recordings_session ON recordings (org_id, session_id);
