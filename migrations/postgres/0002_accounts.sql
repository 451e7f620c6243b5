-- kvmrelay schema v2 for PostgreSQL: what accounts, invitations, MFA and session activity need,
-- and the directory that maps public identifiers to their organization.
--
-- Everything a request presents from outside (an organization slug at login, an API key
-- prefix, the hash of a refresh, enrollment or invitation token, a device id from a client
-- certificate) must first be resolved to its organization before any tenant-scoped transaction
-- can begin. The directory answers only that question. Its SELECT policy is open (that is its
-- purpose; it holds no secret, only keys and hashes already in the caller's hands), while rows
-- can only be added or removed for the tenant the transaction is scoped to. The credential is
-- still verified inside that tenant's RLS scope, so a wrong directory row grants nothing.

CREATE TABLE directory (
    kind        text NOT NULL CHECK (kind IN ('org', 'device', 'apikey', 'enroll', 'refresh', 'invite')),
    key         text NOT NULL CHECK (key <> ''),
    org_id      uuid NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (kind, key)
);
ALTER TABLE directory ENABLE ROW LEVEL SECURITY;
ALTER TABLE directory FORCE ROW LEVEL SECURITY;
CREATE POLICY lookup ON directory FOR SELECT USING (true);
CREATE POLICY tenant_insert ON directory FOR INSERT
    WITH CHECK (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid);
CREATE POLICY tenant_delete ON directory FOR DELETE
    USING (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid);

ALTER TABLE organizations ADD COLUMN slug text NOT NULL DEFAULT '';
UPDATE organizations SET slug = id::text WHERE slug = '';

ALTER TABLE users ADD COLUMN totp_confirmed boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN failed_logins integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failed_at timestamptz;
ALTER TABLE users ADD COLUMN scope text NOT NULL DEFAULT '{}';

ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT '{}';

ALTER TABLE console_sessions ADD COLUMN last_activity_at timestamptz;

CREATE TABLE recovery_codes (
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    code_hash   text NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (user_id, code_hash),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);

CREATE TABLE invitations (
    org_id      uuid NOT NULL REFERENCES organizations (id),
    id          uuid NOT NULL PRIMARY KEY,
    email       text NOT NULL,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer', 'auditor')),
    scope       text NOT NULL DEFAULT '{}',
    token_hash  text NOT NULL UNIQUE,
    invited_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['recovery_codes', 'invitations']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I
            USING (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid)
            WITH CHECK (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid)', t);
    END LOOP;
END
$$;
