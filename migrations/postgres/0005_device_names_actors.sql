-- kvmrelay schema v5 for PostgreSQL: device names are unique per organization, ignoring case.
--
-- "Case" is ASCII case: lower(name COLLATE "C") folds A-Z only, whatever the database's locale,
-- exactly as SQLite's lower() does, so both stores refuse the same names ("Rack1" and "rack1"
-- clash; "É" and "é" do not).
--
-- Databases from before this version may hold duplicates. The migration must not fail on
-- them, and must not pick a winner silently: in each group of names equal ignoring case, the
-- device that keeps its name is the first created among those not revoked (else the first
-- created); every other one is renamed "<name> (duplicate <device id>)", which no other
-- device can carry. The renamed devices keep their id, labels, certificate and sessions;
-- find them with `kvmctl devices list | grep '(duplicate '` and rename or delete them.
-- (A migration cannot append to the audit chains, which are hashed by the relay: the rename
-- shows in the device list, not in the audit log.)
--
-- Audit entries now also name their actor (actor_name); that field lives inside each entry's
-- hashed body (body version 2), so it needs no column here.

-- The owner is subject to the forced row-level policy like everyone: lift it for this one
-- update across every tenant, inside this migration's transaction, and restore it.
ALTER TABLE devices NO FORCE ROW LEVEL SECURITY;
UPDATE devices d
SET name = d.name || ' (duplicate ' || d.id::text || ')'
FROM (
    SELECT id, row_number() OVER (
        PARTITION BY org_id, lower(name COLLATE "C")
        ORDER BY (revoked_at IS NOT NULL), created_at, id
    ) AS rank
    FROM devices
) ranked
WHERE d.id = ranked.id AND ranked.rank > 1;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;

CREATE UNIQUE INDEX devices_org_name ON devices (org_id, lower(name COLLATE "C"));
