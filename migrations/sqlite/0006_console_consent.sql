-- kvmrelay schema v6 for the embedded SQLite store: a console session may wait for a person's
-- consent (Intel AMT): the CONSENT_REQUIRED state, and when the consent window closes.
-- SQLite cannot change a CHECK constraint, so the table is rebuilt; nothing references it.

CREATE TABLE console_sessions_v6 (
    org_id          TEXT NOT NULL,
    id              TEXT NOT NULL PRIMARY KEY,
    device_id       TEXT NOT NULL,
    principal       TEXT NOT NULL,
    desired_state   TEXT NOT NULL CHECK (desired_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'CONSENT_REQUIRED', 'STOPPED', 'ERROR')),
    current_state   TEXT NOT NULL CHECK (current_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'CONSENT_REQUIRED', 'STOPPED', 'ERROR')),
    reason          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    started_at      INTEGER,
    ended_at        INTEGER,
    expires_at      INTEGER NOT NULL,
    last_activity_at INTEGER,
    consent_expires_at INTEGER,
    FOREIGN KEY (org_id, device_id) REFERENCES devices (org_id, id)
) STRICT;

INSERT INTO console_sessions_v6 (org_id, id, device_id, principal, desired_state, current_state,
    reason, created_at, updated_at, started_at, ended_at, expires_at, last_activity_at)
SELECT org_id, id, device_id, principal, desired_state, current_state,
    reason, created_at, updated_at, started_at, ended_at, expires_at, last_activity_at
FROM console_sessions;

DROP TABLE console_sessions;
ALTER TABLE console_sessions_v6 RENAME TO console_sessions;
CREATE INDEX console_sessions_device ON console_sessions (org_id, device_id);
