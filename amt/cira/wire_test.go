package cira_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/amt/cira"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// h decodes hex with spaces; odd-numbered parts are literal text: h("05 00000012", "auth@…").
func h(parts ...string) []byte {
	var out []byte
	for i, p := range parts {
		if i%2 == 1 {
			out = append(out, p...)
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(p, " ", ""))
		if err != nil {
			panic(err)
		}
		out = append(out, b...)
	}
	return out
}

// raw is one end of a CIRA link driven by hand, to check the other end's bytes exactly.
type raw struct {
	conn net.Conn
	br   *bufio.Reader
}

func newRaw(t *testing.T, conn net.Conn) *raw {
	t.Helper()
	require.NoError(t, conn.SetDeadline(time.Now().Add(waitLimit)))
	t.Cleanup(func() { _ = conn.Close() })
	return &raw{conn: conn, br: bufio.NewReader(conn)}
}

func (r *raw) send(t *testing.T, b []byte) {
	t.Helper()
	_, err := r.conn.Write(b)
	require.NoError(t, err)
}

// expect reads len(want) bytes and compares them with want.
func (r *raw) expect(t *testing.T, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	_, err := io.ReadFull(r.br, got)
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
}

func (r *raw) expectEOF(t *testing.T) {
	t.Helper()
	_, err := r.br.ReadByte()
	require.Error(t, err)
}

const pvGUIDA = "c0 00000001 00000000 00000000 78563412 bc9a f0de 1234 56789abcdef0"

func rawDevice(t *testing.T, m *mps) *raw {
	t.Helper()
	conn, err := tls.Dial("tcp", m.addr, m.client)
	require.NoError(t, err)
	return newRaw(t, conn)
}

// login runs a device's login by hand and checks MPS's answers byte for byte.
func (r *raw) login(t *testing.T) {
	t.Helper()
	r.send(t, h(pvGUIDA+strings.Repeat("00", 64)))
	r.send(t, h("05 00000012", "auth@amt.intel.com"))
	r.expect(t, h("06 00000012", "auth@amt.intel.com"))
	r.send(t, h("32 00000007", "mpsuser", "00000012", "pfwd@amt.intel.com", "00000008", "password", "00 00000009", "Sec-ret_1"))
	r.expect(t, h("34"))
	r.send(t, h("05 00000012", "pfwd@amt.intel.com"))
	r.expect(t, h("06 00000012", "pfwd@amt.intel.com"))
}

func TestServerWire(t *testing.T) {
	m := startMPS(t, nil)
	r := rawDevice(t, m)
	r.login(t)
	require.Equal(t, "connect "+guidA.String(), m.event(t))

	// tcpip-forward is answered with the port; only 5900 brings KEEPALIVE_OPTIONS (30 s, 0).
	r.send(t, h("50 0000000d", "tcpip-forward", "01 00000000 00004262"))
	r.expect(t, h("51 00004262"))
	r.send(t, h("d0 00000007"))
	r.expect(t, h("d1 00000007"))
	r.send(t, h("50 0000000d", "tcpip-forward", "01 00000000 0000170c"))
	r.expect(t, h("51 0000170c d2 0000001e 00000000"))
	r.send(t, h("d3 0000001e 00000000"))
	// cancel-tcpip-forward: a bare REQUEST_SUCCESS, as MPS sends.
	r.send(t, h("50 00000014", "cancel-tcpip-forward", "01 00000000 0000170c"))
	r.send(t, h("d0 00000008"))
	r.expect(t, h("51 d1 00000008"))

	// A device may not open channels: OPEN_FAILURE, unknown channel type.
	r.send(t, h("5a 0000000f", "forwarded-tcpip", "00000009 00001000 ffffffff 00000000 00000050 00000000 00000000"))
	r.expect(t, h("5c 00000009 00000003 00000000 00000000"))

	// Dial sends MPS's CHANNEL_OPEN: channel 4, window 81920, origin 1.2.3.4:1024.
	type dialed struct {
		c   net.Conn
		err error
	}
	dc := make(chan dialed, 1)
	go func() {
		c, err := m.srv.Dial(context.Background(), guidA, 16994)
		dc <- dialed{c, err}
	}()
	r.expect(t, h("5a 0000000f", "forwarded-tcpip", "00000004 00014000 ffffffff 00000000 00004262 00000007", "1.2.3.4", "00000400"))
	// The device grants a 10-byte window.
	r.send(t, h("5b 00000004 00000063 0000000a ffffffff"))
	res := <-dc
	require.NoError(t, res.err)
	ch := res.c
	defer ch.Close()

	wrote := make(chan error, 1)
	go func() {
		_, err := ch.Write([]byte("0123456789abcdefghijklmno"))
		wrote <- err
	}()
	r.expect(t, h("5e 00000063 0000000a", "0123456789"))
	r.send(t, h("5d 00000004 0000000f"))
	r.expect(t, h("5e 00000063 0000000f", "abcdefghijklmno"))
	require.NoError(t, <-wrote)

	// Device data: once the reader has consumed more than half of 81920, MPS grants it back.
	chunk := bytes.Repeat([]byte{'z'}, 40961)
	r.send(t, append(h("5e 00000004 0000a001"), chunk...))
	got := make([]byte, len(chunk))
	require.NoError(t, ch.SetReadDeadline(time.Now().Add(waitLimit)))
	_, err := io.ReadFull(ch, got)
	require.NoError(t, err)
	r.expect(t, h("5d 00000063 0000a001"))

	// Close: MPS sends CHANNEL_CLOSE with the device's number; the device answers.
	require.NoError(t, ch.Close())
	r.expect(t, h("61 00000063"))
	r.send(t, h("61 00000004"))

	// Data beyond the advertised window drops the link.
	go func() {
		c, err := m.srv.Dial(context.Background(), guidA, 16994)
		dc <- dialed{c, err}
	}()
	r.expect(t, h("5a 0000000f", "forwarded-tcpip", "00000005 00014000 ffffffff 00000000 00004262 00000007", "1.2.3.4", "00000401"))
	r.send(t, h("5b 00000005 00000064 00001000 ffffffff"))
	res = <-dc
	require.NoError(t, res.err)
	defer res.c.Close()
	r.send(t, append(h("5e 00000005 00014001"), make([]byte, 81921)...))
	r.expectEOF(t)
	assert.Equal(t, "disconnect "+guidA.String(), m.event(t))
}

func TestServerWireRefusals(t *testing.T) {
	m := startMPS(t, nil)

	// Unknown GUID: the link ends at PROTOCOL_VERSION, nothing is sent.
	r := rawDevice(t, m)
	r.send(t, h("c0 00000001 00000000 00000000 00000000 0000 0000 0000 000000000001"+strings.Repeat("00", 64)))
	r.expectEOF(t)

	// Wrong password: USERAUTH_FAILURE "password" 00 00, then the link ends.
	r = rawDevice(t, m)
	r.send(t, h(pvGUIDA+strings.Repeat("00", 64)))
	r.send(t, h("32 00000007", "mpsuser", "00000012", "pfwd@amt.intel.com", "00000008", "password", "00 00000005", "wrong"))
	r.expect(t, h("33 00000008", "password", "0000"))
	r.expectEOF(t)

	// Anything before PROTOCOL_VERSION, or channel business before login, ends the link.
	r = rawDevice(t, m)
	r.send(t, h("50 0000000d", "tcpip-forward", "01 00000000 00004262"))
	r.expectEOF(t)
	r = rawDevice(t, m)
	r.send(t, h(pvGUIDA+strings.Repeat("00", 64)))
	r.send(t, h("50 0000000d", "tcpip-forward", "01 00000000 00004262"))
	r.expectEOF(t)

	// Channel data over 1 MiB ends the link, as in MPS.
	r = rawDevice(t, m)
	r.login(t)
	require.Equal(t, "connect "+guidA.String(), m.event(t))
	r.send(t, h("5e 00000004 00100001"))
	r.expectEOF(t)
	require.Equal(t, "disconnect "+guidA.String(), m.event(t))
}

// rawMPS accepts one TLS link from a Client and returns its raw end and the device.
func rawMPS(t *testing.T, cfg cira.ClientConfig) (*raw, *device) {
	t.Helper()
	cert := testenv.SelfSignedCert(t, "")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.Pair}})
	require.NoError(t, err)
	defer ln.Close()
	m := &mps{addr: ln.Addr().String(), client: &tls.Config{RootCAs: cert.Pool, ServerName: "127.0.0.1"}}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
		}
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	d := startDevice(t, m, cfg)
	conn, ok := <-accepted
	require.True(t, ok)
	return newRaw(t, conn), d
}

func TestClientWire(t *testing.T) {
	cfg := deviceConfig(guidA, echo)
	cfg.Ports = []uint16{16992, 16994}
	r, d := rawMPS(t, cfg)

	// PROTOCOL_VERSION 1.0, trigger 0, GUID in GUID byte order, and the auth service request.
	r.expect(t, h(pvGUIDA+strings.Repeat("00", 64)))
	r.expect(t, h("05 00000012", "auth@amt.intel.com"))
	r.send(t, h("06 00000012", "auth@amt.intel.com"))
	r.expect(t, h("32 00000007", "mpsuser", "00000012", "pfwd@amt.intel.com", "00000008", "password", "00 00000009", "Sec-ret_1"))
	r.send(t, h("34"))
	r.expect(t, h("05 00000012", "pfwd@amt.intel.com"))
	r.send(t, h("06 00000012", "pfwd@amt.intel.com"))
	r.expect(t, h("50 0000000d", "tcpip-forward", "01 00000000 00004260"))
	// One forward at a time: a keep-alive is answered before the next forward is asked.
	r.send(t, h("d0 00000001"))
	r.expect(t, h("d1 00000001"))
	r.send(t, h("51 00004260"))
	r.expect(t, h("50 0000000d", "tcpip-forward", "01 00000000 00004262"))
	r.send(t, h("51 00004262"))
	d.ready(t)

	r.send(t, h("d2 0000001e 00000000"))
	r.expect(t, h("d3 0000001e 00000000"))

	// Channel opens: unforwarded port, unknown type, then a good one.
	r.send(t, h("5a 0000000f", "forwarded-tcpip", "00000004 00014000 ffffffff 00000000 0000026f 00000007", "1.2.3.4", "00000400"))
	r.expect(t, h("5c 00000004 00000001 00000000 00000000"))
	r.send(t, h("5a 0000000c", "direct-tcpip", "00000005 00014000 ffffffff 00000000 00004262 00000007", "1.2.3.4", "00000401"))
	r.expect(t, h("5c 00000005 00000003 00000000 00000000"))
	// MPS grants a 4-byte window: the echo comes back 4 bytes at a time, as adjusts allow.
	r.send(t, h("5a 0000000f", "forwarded-tcpip", "00000006 00000004 ffffffff 00000000 00004262 00000007", "1.2.3.4", "00000402"))
	r.expect(t, h("5b 00000006 00000001 00008000 ffffffff"))
	r.send(t, h("5e 00000001 00000006", "KVMR!!"))
	r.expect(t, h("5e 00000006 00000004", "KVMR"))
	r.send(t, h("5d 00000001 00000010"))
	r.expect(t, h("5e 00000006 00000002", "!!"))

	// Once the echo (reading 4096 at a time) has consumed more than half the device's 32 KiB
	// window, 6 + 4×4096 bytes, it grants that much back.
	r.send(t, append(h("5e 00000001 00004001"), bytes.Repeat([]byte{'q'}, 16385)...))
	echoed := 0
	for echoed < 16385 {
		m, err := apf.ReadMessage(r.br, 0)
		require.NoError(t, err)
		switch m := m.(type) {
		case *apf.ChannelData:
			require.Equal(t, uint32(6), m.Recipient)
			echoed += len(m.Data)
			r.send(t, (&apf.WindowAdjust{Recipient: 1, Bytes: uint32(len(m.Data))}).Marshal(nil))
		case *apf.WindowAdjust:
			assert.Equal(t, &apf.WindowAdjust{Recipient: 6, Bytes: 16390}, m)
		default:
			t.Fatalf("unexpected %T", m)
		}
	}

	// MPS closes the channel: the device answers with its own CHANNEL_CLOSE.
	r.send(t, h("61 00000001"))
	r.expect(t, h("61 00000006"))

	// DISCONNECT ends the link.
	r.send(t, h("01 0000000b 0000"))
	require.ErrorIs(t, d.result(t), cira.ErrLinkDown)
}

func TestClientWireWindowOverrun(t *testing.T) {
	cfg := deviceConfig(guidA, func(_ uint16, ch net.Conn) { _, _ = io.Copy(io.Discard, ch); _ = ch.Close() })
	cfg.Ports = []uint16{16994}
	cfg.Window = 8
	r, d := rawMPS(t, cfg)
	r.expect(t, h(pvGUIDA+strings.Repeat("00", 64)))
	r.expect(t, h("05 00000012", "auth@amt.intel.com"))
	r.send(t, h("06 00000012", "auth@amt.intel.com", "34 06 00000012", "pfwd@amt.intel.com", "51 00004262"))
	d.ready(t)
	r.send(t, h("5a 0000000f", "forwarded-tcpip", "00000004 00014000 ffffffff 00000000 00004262 00000000 00000000"))
	r.send(t, h("5e 00000001 00000009 000000000000000000"))
	require.ErrorIs(t, d.result(t), cira.ErrProtocol)
}
