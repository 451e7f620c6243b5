-- kvmrelay schema step for PostgreSQL: an organization can require a second factor (TOTP) of
-- its members. A member without one who signs in gets a session that can only enroll it
-- (control/accounts decides; the store only keeps the setting).
ALTER TABLE organizations ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
