-- kvmrelay schema v6: a console session may wait for a person's consent (Intel AMT shows a
-- 6-digit code on the managed machine's screen): the CONSENT_REQUIRED state, and when the
-- consent window closes.

ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_desired_state_check;
ALTER TABLE console_sessions DROP CONSTRAINT console_sessions_current_state_check;
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_desired_state_check
    CHECK (desired_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'CONSENT_REQUIRED', 'STOPPED', 'ERROR'));
ALTER TABLE console_sessions ADD CONSTRAINT console_sessions_current_state_check
    CHECK (current_state IN ('IDLE', 'REQUESTED', 'ACTIVE', 'CONSENT_REQUIRED', 'STOPPED', 'ERROR'));
ALTER TABLE console_sessions ADD COLUMN consent_expires_at timestamptz;
