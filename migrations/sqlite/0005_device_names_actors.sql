-- kvmrelay schema v5 for the embedded SQLite store: device names are unique per organization,
-- ignoring (ASCII) case. Existing duplicates are renamed "<name> (duplicate <device id>)",
-- keeping the name on the first created device that is not revoked; see the PostgreSQL file
-- for the reasoning. SQLite's lower() folds A-Z only, as the PostgreSQL index does.

UPDATE devices
SET name = name || ' (duplicate ' || id || ')'
WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (
            PARTITION BY org_id, lower(name)
            ORDER BY (revoked_at IS NOT NULL), created_at, id
        ) AS rank
        FROM devices
    )
    WHERE rank > 1
);

CREATE UNIQUE INDEX devices_org_name ON devices (org_id, lower(name));
