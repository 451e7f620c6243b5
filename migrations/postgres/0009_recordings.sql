-- kvmrelay schema v9: session recordings (issue 12). An organization's policy says whether the
-- relay records its consoles (off, on, or required: a session whose recording cannot be
-- written does not start), whether keystrokes go into the timeline (off by default), and how
-- many days recordings are kept. The files live in the recordings directory; this table is
-- their catalogue. The audit chain holds each closed recording's SHA-256 as well, so a row
-- changed behind the store's back cannot vouch for a changed file.
ALTER TABLE organizations ADD COLUMN recording text NOT NULL DEFAULT 'off'
    CHECK (recording IN ('off', 'on', 'required'));
ALTER TABLE organizations ADD COLUMN recording_keys boolean NOT NULL DEFAULT false;
ALTER TABLE organizations ADD COLUMN recording_retention_days integer NOT NULL DEFAULT 30
    CHECK (recording_retention_days BETWEEN 1 AND 3650);

-- session_id and device_id have no foreign keys: a recording outlives its session and device
-- (DeleteDevice removes those) until retention removes it.
CREATE TABLE recordings (
    org_id          uuid NOT NULL REFERENCES organizations (id),
    id              uuid NOT NULL PRIMARY KEY,
    session_id      uuid NOT NULL,
    device_id       uuid NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    duration_ms     bigint NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    frames          bigint NOT NULL DEFAULT 0 CHECK (frames >= 0),
    bytes           bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    video_sha256    text NOT NULL DEFAULT '',
    timeline_sha256 text NOT NULL DEFAULT '',
    -- path is the video file's, relative to the recordings directory (<org>/<id>.mp4).
    path            text NOT NULL CHECK (path <> ''),
    state           text NOT NULL CHECK (state IN ('recording', 'complete', 'failed')),
    error           text NOT NULL DEFAULT '',
    -- participants: a JSON array of {name, principal, grant}, filled in when it ends.
    participants    text NOT NULL DEFAULT '[]',
    capture_keys    boolean NOT NULL DEFAULT false
);
CREATE INDEX recordings_started ON recordings (org_id, started_at DESC);
CREATE INDEX recordings_device ON recordings (org_id, device_id, started_at DESC);
CREATE INDEX recordings_session ON recordings (org_id, session_id);

ALTER TABLE recordings ENABLE ROW LEVEL SECURITY;
ALTER TABLE recordings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON recordings
    USING (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid)
    WITH CHECK (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid);
