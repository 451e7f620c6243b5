-- kvmrelay schema step for the embedded SQLite store: an organization can require a second
-- factor (TOTP) of its members. See the PostgreSQL file.
ALTER TABLE organizations ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0 CHECK (require_mfa IN (0, 1));
