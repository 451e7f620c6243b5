package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/client"
)

// TestDevicesCreateGateway: --gateway creates a gateway, --amt-gateway with --amt-guid a
// machine it serves; each says what comes next, and the request carries what the API takes.
func TestDevicesCreateGateway(t *testing.T) {
	f := newFakeRelay(t)
	r := withKey(t, f, "devices", "create", "mps-gw", "--gateway")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Created gateway mps-gw (d0000000-0000-4000-8000-000000000009).")
	assert.Contains(t, r.stdout, "kvmctl devices enroll-token d0000000-0000-4000-8000-000000000009")
	assert.Contains(t, r.stdout, "kvmctl devices create NAME --amt-gateway d0000000-0000-4000-8000-000000000009 --amt-guid GUID")
	assert.Contains(t, f.seen(), `POST /api/v1/devices {"kind":"gateway","labels":{},"name":"mps-gw"}`)

	r = withKey(t, f, "devices", "create", "amt-1", "--amt-gateway", "mps-gw", "--amt-guid", "12345678-9ABC-DEF0-1234-56789ABCDEF0", "--label", "site=fra1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Created device amt-1 (d0000000-0000-4000-8000-000000000009): AMT machine 12345678-9abc-def0-1234-56789abcdef0 via gateway mps-gw.")
	assert.Contains(t, r.stdout, "no agent of its own")
	assert.Contains(t, f.seen(), `POST /api/v1/devices {"amt":{"gateway":"mps-gw","guid":"12345678-9ABC-DEF0-1234-56789ABCDEF0"},"labels":{"site":"fra1"},"name":"amt-1"}`)

	r = withKey(t, f, "devices", "create", "amt-2", "--amt-gateway", "nope", "--amt-guid", "12345678-9abc-def0-1234-56789abcdef0", "-o", "json")
	assert.Equal(t, client.ExitError, r.code)
	assert.Contains(t, r.stderr, `No gateway "nope" in your organization`)

	r = withKey(t, f, "devices", "create", "amt-3", "--amt-gateway", "mps-gw", "--amt-guid", "12345678-9abc-def0-1234-56789abcdef3", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var d client.Device
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d))
	assert.Equal(t, "mps-gw", d.GatewayName)
	assert.Equal(t, "12345678-9abc-def0-1234-56789abcdef3", d.AMTGUID)

	usage := []struct {
		name string
		args []string
		want string
	}{
		{"gateway and machine", []string{"--gateway", "--amt-gateway", "gw", "--amt-guid", "x"}, "give one or the other"},
		{"gateway without GUID", []string{"--amt-gateway", "gw"}, "--amt-gateway and --amt-guid go together"},
		{"GUID without gateway", []string{"--amt-guid", "x"}, "--amt-gateway and --amt-guid go together"},
	}
	before := len(f.seen())
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			r := withKey(t, f, append([]string{"devices", "create", "x"}, tc.args...)...)
			assert.Equal(t, client.ExitUsage, r.code)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
	assert.Len(t, f.seen(), before, "no usage error reached the server")
}

// TestDevicesListGateways: the KIND column says agent, gateway, or which gateway serves an AMT
// machine (its name, escaped like all server text).
func TestDevicesListGateways(t *testing.T) {
	f := newFakeRelay(t)
	f.devices = append(f.devices,
		map[string]any{"id": "d0000000-0000-4000-8000-00000000000a", "name": "mps-gw", "kind": "gateway", "labels": map[string]string{},
			"created_at": tCreated, "online": true, "last_seen": tCreated, "agent_version": "2.0"},
		map[string]any{"id": "d0000000-0000-4000-8000-00000000000b", "name": "amt-1", "kind": "agent", "labels": map[string]string{},
			"created_at": tCreated, "online": false, "gateway": "d0000000-0000-4000-8000-00000000000a", "gateway_name": "mps\x1b[2J-gw",
			"amt_guid": "12345678-9abc-def0-1234-56789abcdef0"},
	)
	r := withKey(t, f, "devices", "list")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 6)
	assert.Regexp(t, `^d0000000-0000-4000-8000-00000000000a\s+mps-gw\s+gateway\s+online\s`, lines[4])
	assert.Regexp(t, `^d0000000-0000-4000-8000-00000000000b\s+amt-1\s+amt via mps\\x1b\[2J-gw\s+never seen\s`, lines[5])
	assert.Regexp(t, `^d0000000-0000-4000-8000-000000000002\s+db\s+agent\s`, lines[2], "a device without a kind (an older server) is an agent")
	assert.NotContains(t, r.stdout, "\x1b")
}

// TestDevicesGatewayTags: --amt-tag gives a new gateway MPS tags (only with --gateway);
// retag replaces them as relabel replaces labels (none given: none); the list shows them,
// escaped like all server text; the server's refusal for a device that is not a gateway is
// shown as sent.
func TestDevicesGatewayTags(t *testing.T) {
	f := newFakeRelay(t)
	f.devices = append(f.devices, map[string]any{"id": "d0000000-0000-4000-8000-00000000000a", "name": "mps-gw", "kind": "gateway",
		"labels": map[string]string{}, "created_at": tCreated, "online": true, "amt_tags": []string{"rack7", "lab\x1b[2J"}})

	r := withKey(t, f, "devices", "create", "gw-2", "--gateway", "--amt-tag", "rack7", "--amt-tag", "lab")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, f.seen(), `POST /api/v1/devices {"amt_tags":["rack7","lab"],"kind":"gateway","labels":{},"name":"gw-2"}`)
	assert.Contains(t, r.stdout, "Created gateway gw-2 (d0000000-0000-4000-8000-000000000009) with AMT tags rack7,lab.")
	assert.Contains(t, r.stdout, "every machine it reports with one of these MPS tags gets its device")

	r = withKey(t, f, "devices", "create", "gw-3", "--gateway", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, f.seen(), `POST /api/v1/devices {"kind":"gateway","labels":{},"name":"gw-3"}`, "no --amt-tag: none sent")

	before := len(f.seen())
	for name, args := range map[string][]string{
		"an agent":       {"devices", "create", "x", "--amt-tag", "rack7"},
		"an AMT machine": {"devices", "create", "x", "--amt-gateway", "mps-gw", "--amt-guid", "12345678-9abc-def0-1234-56789abcdef0", "--amt-tag", "rack7"},
	} {
		t.Run(name, func(t *testing.T) {
			r := withKey(t, f, args...)
			assert.Equal(t, client.ExitUsage, r.code)
			assert.Contains(t, r.stderr, "--amt-tag goes with --gateway")
		})
	}
	assert.Len(t, f.seen(), before, "no usage error reached the server")

	r = withKey(t, f, "devices", "retag", "mps-gw", "--amt-tag", "row-b", "--amt-tag", "lab")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, f.seen(), `PATCH /api/v1/devices/d0000000-0000-4000-8000-00000000000a {"amt_tags":["row-b","lab"]}`)
	assert.Contains(t, r.stdout, "Gateway mps-gw (d0000000-0000-4000-8000-00000000000a) now adopts the machines it reports with MPS tags: row-b,lab")
	r = withKey(t, f, "devices", "retag", "mps-gw")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, f.seen(), `PATCH /api/v1/devices/d0000000-0000-4000-8000-00000000000a {"amt_tags":[]}`, "no --amt-tag clears them")
	assert.Contains(t, r.stdout, "has no AMT tags now: it adopts no more machines (those it adopted stay).")
	r = withKey(t, f, "devices", "retag", "web1", "--amt-tag", "rack7")
	assert.Equal(t, client.ExitError, r.code)
	assert.Contains(t, r.stderr, `Device "web1" is not a gateway, and only a gateway has AMT tags`)

	r = withKey(t, f, "devices", "list")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 5)
	assert.Regexp(t, `^d0000000-0000-4000-8000-00000000000a\s+mps-gw\s+gateway\s+online\s.*\s+rack7,lab\\x1b\[2J$`, lines[4])
	assert.NotContains(t, r.stdout, "\x1b")
	r = withKey(t, f, "devices", "list", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var ds []client.Device
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ds))
	assert.Equal(t, []string{"rack7", "lab\x1b[2J"}, ds[3].AMTTags)
	assert.Nil(t, ds[0].AMTTags)
}
