package fakemps_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/amtsim/fakemps"
)

func TestRelayUpgradeRefusals(t *testing.T) {
	q := func(host, extra string) string {
		return "p=2&host=" + host + "&port=16994&tls=0&tls1only=0&mode=kvm" + extra
	}
	tests := []struct {
		name  string
		query string
		token func(e *env, t *testing.T) string
	}{
		{"no token", relayQuery, func(*env, *testing.T) string { return "" }},
		{"not a token", relayQuery, func(*env, *testing.T) string { return "garbage" }},
		{"bad signature", relayQuery, func(e *env, t *testing.T) string {
			tok := e.redirectionToken(t, guid)
			return tok[:len(tok)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(tok, "AA")]
		}},
		{"login token", relayQuery, func(e *env, t *testing.T) string { return e.login(t) }},
		{"token for another device", q(guid, ""), func(e *env, t *testing.T) string { return e.redirectionToken(t, offline) }},
		{"expired", relayQuery, func(e *env, t *testing.T) string {
			tok := e.redirectionToken(t, guid)
			e.clock.Add(5 * time.Minute)
			return tok
		}},
		{"tls=1", strings.Replace(relayQuery, "tls=0", "tls=1", 1), func(e *env, t *testing.T) string { return e.redirectionToken(t, guid) }},
		{"no tls", strings.Replace(relayQuery, "&tls=0", "", 1), func(e *env, t *testing.T) string { return e.redirectionToken(t, guid) }},
		{"port 16995", strings.Replace(relayQuery, "16994", "16995", 1), func(e *env, t *testing.T) string { return e.redirectionToken(t, guid) }},
		{"not connected", q(offline, ""), func(e *env, t *testing.T) string { return e.redirectionToken(t, offline) }},
		{"uppercase host", q(strings.ToUpper(guid), ""), func(e *env, t *testing.T) string {
			// MPS compares the token's deviceId and looks the device up verbatim.
			s, b := e.do(t, http.MethodGet, "/api/v1/authorize/redirection/"+strings.ToUpper(guid), "", "")
			require.Equal(t, http.StatusNotFound, s, b)
			return e.redirectionToken(t, guid)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			ws, resp, err := e.dialRaw(t, tt.query, tt.token(e, t))
			require.Error(t, err)
			require.Nil(t, ws)
			require.NotNil(t, resp)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.False(t, e.fake.KVMConnected(guid))
		})
	}
}

func TestRelayOneKVMSessionPerDevice(t *testing.T) {
	e := newEnv(t, nil)
	ws, _ := e.open(t)
	assert.True(t, e.fake.KVMConnected(guid))
	s, b := e.do(t, http.MethodGet, "/api/v1/devices/redirectstatus/"+guid, "", "")
	require.Equal(t, http.StatusOK, s)
	assert.JSONEq(t, `{"isKVMConnected":true,"isSOLConnected":false,"isIDERConnected":false}`, b)

	_, resp, err := e.dialRaw(t, relayQuery, e.redirectionToken(t, guid))
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// Another mode is tracked apart (MPS keeps kvm, sol and ider flags).
	sol, _, err := e.dialRaw(t, strings.Replace(relayQuery, "mode=kvm", "mode=sol", 1), e.redirectionToken(t, guid))
	require.NoError(t, err)
	d, err := e.dev.Accept(ctxT(t))
	require.NoError(t, err)
	d.Close()
	sol.Close()

	require.NoError(t, ws.Close())
	require.Eventually(t, func() bool { return !e.fake.KVMConnected(guid) }, 10*time.Second, 5*time.Millisecond)
	e.open(t) // free again
}

func TestRelayTextFrames(t *testing.T) {
	e := newEnv(t, nil)
	ws, devEnd := e.open(t)
	// Bytes 00 41 7F 80 BF C0 E9 FF, each one code point in UTF-8.
	_, err := devEnd.Write([]byte{0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xE9, 0xFF})
	require.NoError(t, err)
	typ, msg, err := ws.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, websocket.TextMessage, typ)
	assert.Equal(t, []byte{0x00, 0x41, 0x7F, 0xC2, 0x80, 0xC2, 0xBF, 0xC3, 0x80, 0xC3, 0xA9, 0xC3, 0xBF}, msg)

	// Client messages reach the device as their raw bytes, TEXT ones too (MPS reads
	// msg.data.toString('binary')).
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("é")))
	assert.Equal(t, []byte{0xC3, 0xA9}, readFullBytes(t, devEnd, 2))
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, []byte{0x10, 0x01, 0x00, 0x00, 'K', 'V', 'M', 'R'}))
	assert.Equal(t, []byte{0x10, 0x01, 0x00, 0x00, 'K', 'V', 'M', 'R'}, readFullBytes(t, devEnd, 8))
}

func TestRelayBinaryFrames(t *testing.T) {
	e := newEnv(t, func(c *fakemps.Config) { c.BinaryFrames = true })
	ws, devEnd := e.open(t)
	_, err := devEnd.Write([]byte{0x11, 0x00, 0xE9, 0xFF})
	require.NoError(t, err)
	typ, msg, err := ws.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, websocket.BinaryMessage, typ)
	assert.Equal(t, []byte{0x11, 0x00, 0xE9, 0xFF}, msg)
}

func TestRelayExpiryOnlyAtUpgrade(t *testing.T) {
	e := newEnv(t, nil)
	ws, devEnd := e.open(t)
	e.clock.Add(time.Hour)
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, []byte("still")))
	assert.Equal(t, "still", string(readFullBytes(t, devEnd, 5)))
	_, err := devEnd.Write([]byte("here"))
	require.NoError(t, err)
	_, msg, err := ws.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "here", string(msg))
}

func TestRelayDeviceCloseClosesWithoutStatus(t *testing.T) {
	e := newEnv(t, nil)
	ws, devEnd := e.open(t)
	require.NoError(t, devEnd.Close())
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseNoStatusReceived, ce.Code, "an empty close frame (1005)")
	assert.False(t, e.fake.KVMConnected(guid))
}

func TestRelayLinkDropLeavesSocketOpen(t *testing.T) {
	e := newEnv(t, nil)
	ws, _ := e.open(t)
	e.dev.SetConnected(false)
	require.Eventually(t, func() bool { return !e.fake.KVMConnected(guid) }, 10*time.Second, 5*time.Millisecond,
		"MPS forgets the device's sessions")
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, []byte("into the void")))
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, _, err := ws.ReadMessage()
	var ne net.Error
	require.ErrorAs(t, err, &ne, "silence, not a close: %v", err)
	assert.True(t, ne.Timeout())
}

// dialFails is MemDevices whose channels cannot open (AMT refused the CHANNEL_OPEN).
type dialFails struct{ *fakemps.MemDevices }

func (dialFails) DialRedirection(context.Context, string) (net.Conn, error) {
	return nil, errors.New("channel open failure")
}

func TestRelayChannelOpenFailure(t *testing.T) {
	var e *env
	e = newEnv(t, func(c *fakemps.Config) { c.Devices = dialFails{c.Devices.(*fakemps.MemDevices)} })
	ws, _, err := e.dialRaw(t, relayQuery, e.redirectionToken(t, guid))
	require.NoError(t, err, "MPS upgrades before it opens the channel")
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseNoStatusReceived, ce.Code)
	require.Eventually(t, func() bool { return !e.fake.KVMConnected(guid) }, 10*time.Second, 5*time.Millisecond)
}

func TestRestart(t *testing.T) {
	devs := fakemps.NewMemDevices()
	dev := devs.Add(fakemps.DeviceInfo{GUID: guid})
	dev.SetConnected(true)
	fake, err := fakemps.New(fakemps.Config{Devices: devs, Listen: []string{"127.0.0.1:0", "127.0.0.1:0"}})
	require.NoError(t, err)
	require.NoError(t, fake.Start())
	defer fake.Close()
	addrs := fake.Addrs()
	require.Len(t, addrs, 2)

	ctx := ctxT(t)
	tokURL := fake.URL().String() + "/api/v1/authorize/redirection/" + guid
	getToken := func() string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, tokURL, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return token(t, resp.StatusCode, string(b))
	}
	tok := getToken()
	dial := func() *websocket.Conn {
		ws, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addrs[1]+"/relay/webrelay.ashx?"+relayQuery,
			http.Header{"Sec-Websocket-Protocol": {tok}})
		if resp != nil {
			resp.Body.Close()
		}
		require.NoError(t, err)
		d, err := dev.Accept(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close(); ws.Close() })
		return ws
	}
	ws := dial()
	require.True(t, fake.KVMConnected(guid))

	require.NoError(t, fake.Restart())
	assert.Equal(t, addrs, fake.Addrs())
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, websocket.CloseAbnormalClosure, ce.Code, "cut without a close frame")
	assert.False(t, fake.KVMConnected(guid), "a restarted MPS remembers no session")

	dial() // the token from before the restart still works
}
