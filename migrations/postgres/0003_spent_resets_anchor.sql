-- kvmrelay schema v3 for PostgreSQL: single-use values every node sees, password resets, a
-- per-user cut-off for access tokens, and the anchor of each organization's audit chain head.

-- A one-time console link or proof-of-key nonce is spent by inserting its key here: the
-- primary key makes the second insert, on any node, a conflict. Rows are kept until the value
-- would have expired anyway, then pruned.
CREATE TABLE spent_tokens (
    org_id      uuid NOT NULL REFERENCES organizations (id),
    kind        text NOT NULL CHECK (kind IN ('console_link', 'proof_nonce')),
    key         text NOT NULL CHECK (key <> ''),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, kind, key)
);
CREATE INDEX spent_tokens_expiry ON spent_tokens (org_id, expires_at);

-- A password reset link an admin issues for a user; only the token's hash is stored, and the
-- directory maps that hash to the organization (kind 'reset').
CREATE TABLE password_resets (
    org_id      uuid NOT NULL,
    token_hash  text NOT NULL PRIMARY KEY,
    user_id     uuid NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['spent_tokens', 'password_resets']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I
            USING (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid)
            WITH CHECK (org_id = NULLIF(current_setting(''app.org_id'', true), '''')::uuid)', t);
    END LOOP;
END
$$;

ALTER TABLE directory DROP CONSTRAINT directory_kind_check;
ALTER TABLE directory ADD CONSTRAINT directory_kind_check
    CHECK (kind IN ('org', 'device', 'apikey', 'enroll', 'refresh', 'invite', 'reset'));

-- Access tokens issued before this instant are refused (password change or reset, disable).
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;

-- The last appended entry, written in the same transaction as the entry. A chain that ends
-- before its anchor lost its newest rows. 0 means not anchored yet (chains older than v3 are
-- anchored by their next append).
ALTER TABLE organizations ADD COLUMN audit_head_seq bigint NOT NULL DEFAULT 0 CHECK (audit_head_seq >= 0);
ALTER TABLE organizations ADD COLUMN audit_head_hash text NOT NULL DEFAULT '';
