-- kvmrelay schema v7: Intel AMT gateways. A gateway is a device of kind 'gateway' whose one
-- kvmagent reaches many AMT machines through Intel's MPS; each of those machines is a device
-- of its own (kind 'agent') naming its gateway (gateway_id, a device of the same organization)
-- and its address there (target: the AMT GUID, canonical lower case). Devices of other kinds
-- keep both NULL. A gateway may list MPS tags (amt_tags, a JSON array of strings): the machines
-- it reports that carry one of them get their rows without an admin creating each; NULL for
-- every other device and for a gateway without tags. Existing rows become agents. The table's row-level policy covers the new
-- columns as it covers the others.

ALTER TABLE devices ADD COLUMN kind text NOT NULL DEFAULT 'agent';
ALTER TABLE devices ADD CONSTRAINT devices_kind_check CHECK (kind IN ('agent', 'gateway'));
ALTER TABLE devices ADD COLUMN gateway_id uuid;
ALTER TABLE devices ADD COLUMN target text;
ALTER TABLE devices ADD CONSTRAINT devices_gateway_fk
    FOREIGN KEY (org_id, gateway_id) REFERENCES devices (org_id, id);
ALTER TABLE devices ADD CONSTRAINT devices_gateway_check CHECK (gateway_id IS NULL OR kind = 'agent');
ALTER TABLE devices ADD CONSTRAINT devices_target_check
    CHECK ((target IS NULL) = (gateway_id IS NULL) AND (target IS NULL OR target <> ''));
ALTER TABLE devices ADD COLUMN amt_tags text;
ALTER TABLE devices ADD CONSTRAINT devices_amt_tags_check CHECK (amt_tags IS NULL OR kind = 'gateway');
-- link_up: a served machine's management link (its CIRA connection to MPS) is up, as its
-- gateway last reported; written when it changes, never per heartbeat.
ALTER TABLE devices ADD COLUMN link_up boolean NOT NULL DEFAULT false;
ALTER TABLE devices ADD CONSTRAINT devices_link_up_check CHECK (NOT link_up OR gateway_id IS NOT NULL);

-- One row per CIRA machine behind a gateway; also what a gateway's link reports update by.
CREATE UNIQUE INDEX devices_gateway_target ON devices (org_id, gateway_id, target) WHERE gateway_id IS NOT NULL;
