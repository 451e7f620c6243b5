-- kvmrelay schema v7 for the embedded SQLite store: Intel AMT gateways. A gateway is a device
-- of kind 'gateway' whose one kvmagent reaches many AMT machines through Intel's MPS; each of
-- those machines is a device of its own (kind 'agent') naming its gateway (gateway_id) and its
-- address there (target: the AMT GUID, canonical lower case). Devices of other kinds keep both
-- NULL. A gateway may list MPS tags (amt_tags, a JSON array of strings): the machines it reports
-- that carry one of them get their rows without an admin creating each; NULL for every other
-- device and for a gateway without tags. Existing rows become agents.
--
-- SQLite adds a column with a CHECK or a single-column REFERENCES clause in place (the CHECKs
-- are verified against existing rows); the organization match a composite foreign key would
-- give is checked by the store before it inserts, as the PostgreSQL schema also enforces.

ALTER TABLE devices ADD COLUMN kind TEXT NOT NULL DEFAULT 'agent' CHECK (kind IN ('agent', 'gateway'));
ALTER TABLE devices ADD COLUMN gateway_id TEXT REFERENCES devices (id)
    CHECK (gateway_id IS NULL OR kind = 'agent');
ALTER TABLE devices ADD COLUMN target TEXT
    CHECK ((target IS NULL) = (gateway_id IS NULL) AND (target IS NULL OR target <> ''));
ALTER TABLE devices ADD COLUMN amt_tags TEXT CHECK (amt_tags IS NULL OR kind = 'gateway');
-- link_up: a served machine's management link (its CIRA connection to MPS) is up, as its
-- gateway last reported; written when it changes, never per heartbeat.
ALTER TABLE devices ADD COLUMN link_up INTEGER NOT NULL DEFAULT 0
    CHECK (link_up IN (0, 1) AND (link_up = 0 OR gateway_id IS NOT NULL));

-- One row per CIRA machine behind a gateway; also what a gateway's link reports update by.
CREATE UNIQUE INDEX devices_gateway_target ON devices (org_id, gateway_id, target) WHERE gateway_id IS NOT NULL;
