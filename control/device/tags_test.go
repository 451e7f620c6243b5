package device

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// amtGUID is the n-th test GUID in canonical lower case; its first 8 hex digits are n's.
func amtGUID(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", n) }

func TestCheckTags(t *testing.T) {
	many := make([]string, MaxAMTTags+1)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	tests := []struct {
		name string
		in   []string
		want []string
		err  string // "" when accepted
	}{
		{"none", nil, nil, ""},
		{"empty list", []string{}, nil, ""},
		{"kept in order", []string{"rack7", "lab", "Rack7"}, []string{"rack7", "lab", "Rack7"}, ""},
		{"duplicates removed, first kept", []string{"lab", "rack7", "lab", "rack7"}, []string{"lab", "rack7"}, ""},
		{"as many as allowed", many[:MaxAMTTags], many[:MaxAMTTags], ""},
		{"duplicates do not count", append(many[:MaxAMTTags:MaxAMTTags], "t0"), many[:MaxAMTTags], ""},
		{"printable text", []string{"<script>", "bâtiment 7", "a,b=c"}, []string{"<script>", "bâtiment 7", "a,b=c"}, ""},
		{"too many", many, nil, "at most 32 AMT tags (got 33)"},
		{"empty tag", []string{"rack7", ""}, nil, `AMT tag "" must be 1 to 64 bytes (it is 0)`},
		{"too long", []string{strings.Repeat("x", 65)}, nil, "must be 1 to 64 bytes (it is 65)"},
		{"control character", []string{"rack\x1b[2J7"}, nil, `AMT tag "rack\x1b[2J7" has an escape (ESC) (U+001B) at character 5`},
		{"bidi override", []string{"lab\u202e"}, nil, "a right-to-left override (U+202E) at character 4"},
		{"invalid UTF-8", []string{"a\xffb"}, nil, "invalid UTF-8 at character 2"},
		{"surrounding space", []string{"rack7", " lab"}, nil, `AMT tag " lab" starts or ends with a space`},
		{"trailing space", []string{"lab "}, nil, `AMT tag "lab " starts or ends with a space`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckTags(tc.in)
			if tc.err != "" {
				require.ErrorIs(t, err, store.ErrInvalid)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestCreateWithTags: a gateway keeps its tags, checked and deduplicated, and the entry says
// them; any other device given tags is refused with a sentence, nothing stored.
func TestCreateWithTags(t *testing.T) {
	e := newServiceEnv(t)
	ctx := context.Background()
	gw := e.create(t, NewDevice{Name: "gw", Kind: store.DeviceGateway, AMTTags: []string{"rack7", "lab", "rack7"}})
	assert.Equal(t, []string{"rack7", "lab"}, gw.AMTTags)
	assert.Equal(t, []string{"rack7", "lab"}, e.device(t, gw.ID).AMTTags)
	plain := e.create(t, NewDevice{Name: "gw-untagged", Kind: store.DeviceGateway, AMTTags: []string{}})
	assert.Nil(t, e.device(t, plain.ID).AMTTags)
	created := e.audit(t, store.AuditDeviceCreate)
	require.Len(t, created, 2)
	assert.Equal(t, map[string]string{"name": "gw", "labels": "", "kind": "gateway", "amt_tags": `["rack7","lab"]`}, created[0].Details)
	assert.NotContains(t, created[1].Details, "amt_tags")

	tests := []struct {
		name string
		nd   NewDevice
		want error
		msg  string
	}{
		{"an agent", NewDevice{Name: "rack1", AMTTags: []string{"rack7"}}, ErrTagsNotGateway,
			`Device "rack1" is not a gateway, and only a gateway has AMT tags`},
		{"a served machine", NewDevice{Name: "amt1", AMTTags: []string{"rack7"}, AMT: &AMT{Gateway: "gw", GUID: amtGUID(1)}}, ErrTagsNotGateway,
			`Device "amt1" is not a gateway`},
		{"a hidden character", NewDevice{Name: "gw2", Kind: store.DeviceGateway, AMTTags: []string{"rack\u200b7"}}, store.ErrInvalid,
			"a zero-width space (U+200B) at character 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Create(ctx, e.admin, tc.nd)
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, store.ErrInvalid, "a request to change: a 400")
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	assert.Len(t, e.audit(t, store.AuditDeviceCreate), 2, "nothing refused was created")
}

// TestUpdateTags: a gateway's tags are replaced (empty: none) and audited before and after;
// the same tags again change nothing; any other device is refused, even an empty list.
func TestUpdateTags(t *testing.T) {
	e := newServiceEnv(t)
	ctx := context.Background()
	gw := e.create(t, NewDevice{Name: "gw", Kind: store.DeviceGateway, AMTTags: []string{"rack7"}})
	agent := e.create(t, NewDevice{Name: "rack1"})
	tags := func(ts ...string) *[]string { return &ts }

	got, err := e.svc.Update(ctx, e.admin, gw.ID, Change{AMTTags: tags("lab", "rack9", "lab")})
	require.NoError(t, err)
	assert.Equal(t, []string{"lab", "rack9"}, got.AMTTags)
	assert.Equal(t, []string{"lab", "rack9"}, e.device(t, gw.ID).AMTTags)
	name := "gw-fra"
	_, err = e.svc.Update(ctx, e.admin, gw.ID, Change{Name: &name})
	require.NoError(t, err)
	assert.Equal(t, []string{"lab", "rack9"}, e.device(t, gw.ID).AMTTags, "a rename leaves the tags")
	_, err = e.svc.Update(ctx, e.admin, gw.ID, Change{AMTTags: tags("lab", "rack9")})
	require.NoError(t, err)
	_, err = e.svc.Update(ctx, e.admin, gw.ID, Change{AMTTags: tags()})
	require.NoError(t, err)
	assert.Nil(t, e.device(t, gw.ID).AMTTags, "no tags: it adopts nothing more")

	updates := e.audit(t, store.AuditDeviceUpdate)
	require.Len(t, updates, 3, "the same tags again is no change and no entry")
	assert.Equal(t, map[string]string{"name": "gw", "amt_tags_before": `["rack7"]`, "amt_tags_after": `["lab","rack9"]`}, updates[0].Details)
	assert.Equal(t, map[string]string{"name_before": "gw", "name_after": "gw-fra", "name": "gw-fra"}, updates[1].Details)
	assert.Equal(t, map[string]string{"name": "gw-fra", "amt_tags_before": `["lab","rack9"]`, "amt_tags_after": "[]"}, updates[2].Details)

	for name, ch := range map[string]Change{
		"tags":       {AMTTags: tags("rack7")},
		"empty list": {AMTTags: tags()},
	} {
		t.Run("agent "+name, func(t *testing.T) {
			_, err := e.svc.Update(ctx, e.admin, agent.ID, ch)
			require.ErrorIs(t, err, ErrTagsNotGateway)
			assert.EqualError(t, err, `Device "rack1" is not a gateway, and only a gateway has AMT tags (the MPS tags of the machines it adopts); leave the tags out, or give them to a gateway.`)
		})
	}
	_, err = e.svc.Update(ctx, e.admin, gw.ID, Change{AMTTags: tags("ok", "bad\x00")})
	require.ErrorIs(t, err, store.ErrInvalid)
	assert.Contains(t, err.Error(), `AMT tag "bad\x00" has a NUL`)
	assert.Len(t, e.audit(t, store.AuditDeviceUpdate), 3, "nothing refused was changed")
}

// adoptEnv is a service with a tagged gateway: labels site=fra1, tags rack7 then lab.
type adoptEnv struct {
	serviceEnv
	gw Device
}

func newAdoptEnv(t *testing.T) adoptEnv {
	e := newServiceEnv(t)
	gw := e.create(t, NewDevice{Name: "mps-gw", Kind: store.DeviceGateway, Labels: map[string]string{"site": "fra1"},
		AMTTags: []string{"rack7", "lab"}})
	return adoptEnv{serviceEnv: e, gw: gw}
}

// served maps the gateway's rows by target.
func (e adoptEnv) served(t *testing.T) map[string]store.Device {
	t.Helper()
	out := map[string]store.Device{}
	require.NoError(t, e.st.Read(context.Background(), e.admin.OrgID, func(tx store.Tx) error {
		ds, err := tx.ServedDevices(context.Background(), e.gw.ID)
		for _, d := range ds {
			out[d.Target] = d
		}
		return err
	}))
	return out
}

func (e adoptEnv) adopt(t *testing.T, found ...Discovered) int {
	t.Helper()
	n, err := e.svc.Adopt(context.Background(), e.admin.OrgID, e.gw.ID, found)
	require.NoError(t, err)
	return n
}

// TestAdoptTaggedMachines: of the machines a gateway reports, those carrying one of its tags
// and without a row of the gateway (a revoked one included) get one, labelled with the
// gateway's labels and the first of its tags they carry, audited as created by the gateway's
// agent; GUIDs that do not parse are skipped; reporting them again adopts nothing more.
func TestAdoptTaggedMachines(t *testing.T) {
	e := newAdoptEnv(t)
	ctx := context.Background()
	existing := e.create(t, NewDevice{Name: "by-hand", AMT: &AMT{Gateway: "mps-gw", GUID: amtGUID(1)}})
	revoked := e.create(t, NewDevice{Name: "revoked-by-admin", AMT: &AMT{Gateway: "mps-gw", GUID: amtGUID(2)}})
	require.NoError(t, e.svc.Revoke(ctx, e.admin, revoked.ID))
	other := e.create(t, NewDevice{Name: "other-gw", Kind: store.DeviceGateway, AMTTags: []string{"rack7"}})
	e.create(t, NewDevice{Name: "on-other-gw", AMT: &AMT{Gateway: "other-gw", GUID: amtGUID(3)}})

	found := []Discovered{
		{Target: amtGUID(1), Name: "node1", Tags: []string{"rack7"}},                  // has a row
		{Target: strings.ToUpper(amtGUID(2)), Name: "node2", Tags: []string{"rack7"}}, // revoked row: stays revoked
		{Target: amtGUID(3), Name: "node3", Tags: []string{"lab", "x", "rack7"}},      // another gateway's row does not count
		{Target: amtGUID(4), Name: "node4", Tags: []string{"other"}},                  // no tag of the gateway
		{Target: amtGUID(5), Name: "node5"},                                           // no tags at all
		{Target: "not-a-guid", Name: "node6", Tags: []string{"rack7"}},                // skipped
		{Target: strings.ToUpper(amtGUID(7)), Name: "node7", Tags: []string{"lab"}},   // any case
		{Target: amtGUID(7), Name: "node7-again", Tags: []string{"lab"}},              // reported twice: one row
		{Target: amtGUID(8), Name: "node8", Tags: []string{"RACK7", "rack7 "}},        // tags match exactly
	}
	assert.Equal(t, 2, e.adopt(t, found...))

	rows := e.served(t)
	require.Len(t, rows, 4)
	assert.Equal(t, existing.ID, rows[amtGUID(1)].ID)
	assert.Equal(t, "revoked-by-admin", rows[amtGUID(2)].Name)
	assert.NotNil(t, rows[amtGUID(2)].RevokedAt, "an admin's revocation sticks")
	n3, n7 := rows[amtGUID(3)], rows[amtGUID(7)]
	assert.Equal(t, "node3", n3.Name)
	assert.Equal(t, map[string]string{"site": "fra1", "mps-tag": "rack7"}, n3.Labels, "the first of the gateway's tags, in its order")
	assert.Equal(t, store.DeviceAgent, n3.Kind)
	assert.Nil(t, n3.AMTTags)
	assert.Nil(t, n3.RevokedAt)
	assert.Equal(t, "node7", n7.Name)
	assert.Equal(t, map[string]string{"site": "fra1", "mps-tag": "lab"}, n7.Labels)
	assert.Equal(t, map[string]string{"site": "fra1"}, e.device(t, e.gw.ID).Labels, "the gateway's own labels are not touched")

	created := e.audit(t, store.AuditDeviceCreate)
	var adopted []store.AuditRecord
	for _, r := range created {
		if r.Details["adopted_by_tag"] != "" {
			adopted = append(adopted, r)
		}
	}
	require.Len(t, adopted, 2)
	assert.Equal(t, "device:"+e.gw.ID, adopted[0].Actor)
	assert.Equal(t, "agent mps-gw", adopted[0].ActorName)
	assert.Equal(t, "device:"+n3.ID, adopted[0].Target)
	assert.Equal(t, map[string]string{"name": "node3", "labels": "mps-tag=rack7,site=fra1", "kind": "agent", "gateway": e.gw.ID,
		"gateway_name": "mps-gw", "target": amtGUID(3), "adopted_by_tag": "rack7"}, adopted[0].Details)
	assert.Equal(t, "device:"+n7.ID, adopted[1].Target)
	assert.Equal(t, "lab", adopted[1].Details["adopted_by_tag"])

	assert.Zero(t, e.adopt(t, found...), "reported again: nothing more")
	assert.Len(t, e.audit(t, store.AuditDeviceCreate), len(created))
	// The other gateway adopts by its own tags, into its own rows.
	n, err := e.svc.Adopt(ctx, e.admin.OrgID, other.ID, found)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "node1 and node2: the first gateway's rows are not its; node3 it serves; node8's tags are not rack7")
	require.NoError(t, e.st.Read(ctx, e.admin.OrgID, func(tx store.Tx) error {
		ds, err := tx.ServedDevices(ctx, other.ID)
		require.NoError(t, err)
		got := map[string]map[string]string{}
		for _, d := range ds {
			got[d.Name] = d.Labels
		}
		assert.Equal(t, map[string]map[string]string{"node1": {"mps-tag": "rack7"}, "node2": {"mps-tag": "rack7"}, "on-other-gw": {}}, got)
		return err
	}))
}

// TestAdoptNames: a machine's name is cleaned to what a device name may hold (hostile text
// included); nothing left gives amt-<8 hex digits>; a name taken (ignoring case, also within
// one report) gets the GUID's 8 hex digits appended; when that is taken too the machine is
// skipped and the others are adopted.
func TestAdoptNames(t *testing.T) {
	e := newAdoptEnv(t)
	e.create(t, NewDevice{Name: "rack1"})
	e.create(t, NewDevice{Name: "web"})
	e.create(t, NewDevice{Name: "Web-0000000c"})
	hostile := "\x1b[31m<script>alert(1)</script>\u202e\x00" + strings.Repeat("x", 500)
	tagged := []string{"rack7"}
	found := []Discovered{
		{Target: amtGUID(1), Name: hostile, Tags: tagged},
		{Target: amtGUID(2), Name: "", Tags: tagged},
		{Target: amtGUID(3), Name: "\x00\u200b \t", Tags: tagged},
		{Target: amtGUID(4), Name: "RACK1", Tags: tagged},
		{Target: amtGUID(5), Name: "dup", Tags: tagged},
		{Target: amtGUID(6), Name: "DUP", Tags: tagged},
		{Target: amtGUID(7), Name: "dup", Tags: tagged},
		{Target: amtGUID(0xc), Name: "web", Tags: tagged},
		{Target: amtGUID(0xd), Name: "a\xffb", Tags: tagged},
		{Target: amtGUID(0xe), Name: strings.Repeat("é", 100), Tags: tagged},
	}
	assert.Equal(t, 9, e.adopt(t, found...), "all but the machine whose name and name-with-digits are taken")

	rows := e.served(t)
	names := map[string]string{}
	for target, d := range rows {
		names[target] = d.Name
		require.NoError(t, CheckFields(d.Name, d.Labels), "%q: a name an admin could have given", d.Name)
	}
	cleaned := "[31m<script>alert(1)</script>" + strings.Repeat("x", MaxNameLen-len("[31m<script>alert(1)</script>"))
	assert.Equal(t, map[string]string{
		amtGUID(1):   cleaned,
		amtGUID(2):   "amt-00000002",
		amtGUID(3):   "amt-00000003",
		amtGUID(4):   "RACK1-00000004",
		amtGUID(5):   "dup",
		amtGUID(6):   "DUP-00000006",
		amtGUID(7):   "dup-00000007",
		amtGUID(0xd): "a\uFFFDb",
		amtGUID(0xe): strings.Repeat("é", MaxNameLen/2),
	}, names)
	assert.NotContains(t, rows, amtGUID(0xc), `"web" and "Web-0000000c" are taken`)
	assert.Len(t, cleaned, MaxNameLen)

	// A long name that is taken is cut to leave room for the digits.
	e.create(t, NewDevice{Name: strings.Repeat("n", MaxNameLen)})
	assert.Equal(t, 1, e.adopt(t, Discovered{Target: amtGUID(0xf), Name: strings.Repeat("n", 300), Tags: tagged}))
	assert.Equal(t, strings.Repeat("n", MaxNameLen-9)+"-0000000f", e.served(t)[amtGUID(0xf)].Name)
}

// TestAdoptNothing: a revoked gateway, one without tags (never had, or emptied) and a device
// that is not a gateway adopt nothing, without error; an unknown gateway is an error.
func TestAdoptNothing(t *testing.T) {
	e := newAdoptEnv(t)
	ctx := context.Background()
	found := []Discovered{{Target: amtGUID(1), Name: "node1", Tags: []string{"rack7", "lab"}}}
	untagged := e.create(t, NewDevice{Name: "untagged", Kind: store.DeviceGateway})
	emptied := e.create(t, NewDevice{Name: "emptied", Kind: store.DeviceGateway, AMTTags: []string{"rack7"}})
	_, err := e.svc.Update(ctx, e.admin, emptied.ID, Change{AMTTags: &[]string{}})
	require.NoError(t, err)
	agent := e.create(t, NewDevice{Name: "rack1"})
	revoked := e.create(t, NewDevice{Name: "revoked", Kind: store.DeviceGateway, AMTTags: []string{"rack7"}})
	require.NoError(t, e.svc.Revoke(ctx, e.admin, revoked.ID))
	before := len(e.audit(t, store.AuditDeviceCreate))

	for name, id := range map[string]string{"untagged": untagged.ID, "emptied": emptied.ID, "agent": agent.ID, "revoked": revoked.ID} {
		t.Run(name, func(t *testing.T) {
			n, err := e.svc.Adopt(ctx, e.admin.OrgID, id, found)
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
	_, err = e.svc.Adopt(ctx, e.admin.OrgID, store.NewID(), found)
	assert.ErrorIs(t, err, store.ErrNotFound)
	n, err := e.svc.Adopt(ctx, e.admin.OrgID, e.gw.ID, nil)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing reported")
	assert.Len(t, e.audit(t, store.AuditDeviceCreate), before)
}

// TestAdoptBounds: a gateway serving ServiceConfig.MaxServed rows (revoked ones count) adopts
// no more; one report is considered up to MaxAdoptBatch machines.
func TestAdoptBounds(t *testing.T) {
	e := newAdoptEnv(t)
	ctx := context.Background()
	svc, err := NewService(ServiceConfig{Store: e.st, Sessions: e.ss, Agents: e.agents, MaxServed: 3, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	revoked := e.create(t, NewDevice{Name: "amt1", AMT: &AMT{Gateway: "mps-gw", GUID: amtGUID(1)}})
	require.NoError(t, e.svc.Revoke(ctx, e.admin, revoked.ID))
	var found []Discovered
	for i := range 5 {
		found = append(found, Discovered{Target: amtGUID(100 + i), Tags: []string{"lab"}})
	}
	n, err := svc.Adopt(ctx, e.admin.OrgID, e.gw.ID, found)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "3 rows at most, the revoked one included")
	n, err = svc.Adopt(ctx, e.admin.OrgID, e.gw.ID, found)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Len(t, e.served(t), 3)

	found = found[:0]
	for i := range MaxAdoptBatch + 10 {
		found = append(found, Discovered{Target: amtGUID(1000 + i), Tags: []string{"rack7"}})
	}
	assert.Equal(t, MaxAdoptBatch, e.adopt(t, found...))
	assert.Len(t, e.served(t), 3+MaxAdoptBatch)
}
