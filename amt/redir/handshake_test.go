package redir

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const rfbVersion = "RFB 003.008\n"

type transport struct {
	name string
	dial func(t *testing.T) (client, server net.Conn)
}

var transports = []transport{
	{"net.Pipe", func(t *testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	{"TCP", tcpPair},
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	s := <-accepted
	require.NotNil(t, s)
	return c, s
}

type outcome struct {
	info      Info
	clientErr error
	serverErr error
}

// runPair runs Handshake on client and Serve on server. After success the server writes an
// RFB version and the client must read exactly it: the stream carries RFB from then on. The
// server keeps its end open until the client is done, as a device would.
func runPair(t *testing.T, ctx context.Context, client, server net.Conn, ccfg ClientConfig, scfg ServerConfig) outcome {
	t.Helper()
	clientDone := make(chan struct{})
	serverErr := make(chan error, 1)
	go func() {
		err := Serve(ctx, server, scfg)
		if err == nil {
			_, err = server.Write([]byte(rfbVersion))
		}
		<-clientDone
		server.Close()
		serverErr <- err
	}()
	info, err := Handshake(ctx, client, ccfg)
	if err == nil {
		got := make([]byte, len(rfbVersion))
		_, rerr := io.ReadFull(client, got)
		require.NoError(t, rerr)
		assert.Equal(t, rfbVersion, string(got))
	}
	close(clientDone)
	client.Close()
	return outcome{info: info, clientErr: err, serverErr: <-serverErr}
}

// viaInterposer puts an Interposer (running Pipe) between the client and the server.
func viaInterposer(t *testing.T, ip *Interposer, dial func(*testing.T) (net.Conn, net.Conn)) (client, server net.Conn, wait func() error) {
	client, mpsFromClient := dial(t)
	mpsToDevice, server := dial(t)
	done := make(chan error, 1)
	go func() { done <- ip.Pipe(context.Background(), mpsFromClient, mpsToDevice) }()
	return client, server, func() error { return <-done }
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var account = ServerConfig{User: "admin", Password: "P@ssw0rd1!", Realm: tRealm}

func TestHandshake(t *testing.T) {
	direct := ClientConfig{User: "admin", Password: "P@ssw0rd1!"}
	with := func(f func(*ServerConfig)) ServerConfig {
		c := account
		f(&c)
		return c
	}
	tests := []struct {
		name      string
		client    ClientConfig
		server    ServerConfig
		clientErr error
		serverErr error
		authType  AuthType
	}{
		{name: "digest", client: direct, server: account, authType: AuthDigest},
		{name: "digest without qop when 4 is not offered", client: direct, authType: AuthDigestNoQOP,
			server: with(func(c *ServerConfig) { c.Types = []byte{1, 3} })},
		{name: "only user/password offered", client: direct, clientErr: ErrUnsupported,
			server: with(func(c *ServerConfig) { c.Types = []byte{1} })},
		{name: "wrong password", client: ClientConfig{User: "admin", Password: "wrong"}, server: account, clientErr: ErrAuthFailed},
		{name: "wrong user", client: ClientConfig{User: "root", Password: "P@ssw0rd1!"}, server: account, clientErr: ErrAuthFailed},
		{name: "via-MPS client without MPS", client: ClientConfig{ViaMPS: true}, server: account, clientErr: ErrAuthFailed},
		{name: "busy", client: direct, clientErr: ErrBusy, serverErr: ErrBusy,
			server: with(func(c *ServerConfig) { c.Status = StatusBusy })},
		{name: "unsupported", client: direct, clientErr: ErrUnsupported, serverErr: ErrUnsupported,
			server: with(func(c *ServerConfig) { c.Status = StatusUnsupported })},
		{name: "error", client: direct, clientErr: ErrRedirectionRefused, serverErr: ErrRedirectionRefused,
			server: with(func(c *ServerConfig) { c.Status = StatusError })},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				c, s := tr.dial(t)
				o := runPair(t, testCtx(t), c, s, tt.client, tt.server)
				if tt.clientErr != nil {
					require.ErrorIs(t, o.clientErr, tt.clientErr)
					require.Error(t, o.serverErr, "the server must not think KVM started")
					if tt.serverErr != nil {
						assert.ErrorIs(t, o.serverErr, tt.serverErr)
					}
					return
				}
				require.NoError(t, o.clientErr)
				require.NoError(t, o.serverErr)
				assert.Equal(t, tt.authType, o.info.AuthType)
				assert.Equal(t, uint32(343), o.info.OEMIANA)
			})
		}
	}
}

func TestHandshakeInfo(t *testing.T) {
	c, s := net.Pipe()
	scfg := account
	scfg.ProtocolVersion, scfg.FirmwareVersion, scfg.OEMData = 1, 0x0b02, []byte("oem")
	scfg.KVMStartReply = [7]byte{9, 8, 7, 6, 5, 4, 3}
	o := runPair(t, testCtx(t), c, s, ClientConfig{User: "admin", Password: "P@ssw0rd1!"}, scfg)
	require.NoError(t, o.clientErr)
	require.NoError(t, o.serverErr)
	assert.Equal(t, Info{
		ProtocolVersion: 1, FirmwareVersion: 0x0b02, OEMIANA: 343, OEMData: []byte("oem"),
		AuthTypes: []AuthType{AuthDigestNoQOP, AuthDigest}, AuthType: AuthDigest,
		KVMStartReply: [7]byte{9, 8, 7, 6, 5, 4, 3},
	}, o.info)
}

func TestHandshakeViaInterposer(t *testing.T) {
	tests := []struct {
		name      string
		vaultPass string
		client    ClientConfig
		clientErr error
	}{
		{name: "empty client credentials", vaultPass: "P@ssw0rd1!", client: ClientConfig{ViaMPS: true}},
		{name: "client credentials are replaced too", vaultPass: "P@ssw0rd1!", client: ClientConfig{User: "x", Password: "y"}},
		{name: "wrong vault password", vaultPass: "stale", client: ClientConfig{ViaMPS: true}, clientErr: ErrAuthFailed},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				ip := NewInterposer("admin", tt.vaultPass)
				c, s, wait := viaInterposer(t, ip, tr.dial)
				o := runPair(t, testCtx(t), c, s, tt.client, account)
				require.NoError(t, wait())
				if tt.clientErr != nil {
					require.ErrorIs(t, o.clientErr, tt.clientErr)
					require.Error(t, o.serverErr)
					assert.False(t, ip.Authenticated())
					return
				}
				require.NoError(t, o.clientErr)
				require.NoError(t, o.serverErr)
				assert.True(t, ip.Authenticated())
			})
		}
	}
}

// Real MPS never forwards a refusing start reply: the client sees silence until its deadline.
func TestHandshakeViaInterposerBusy(t *testing.T) {
	busy := account
	busy.Status = StatusBusy

	t.Run("as MPS: silence", func(t *testing.T) {
		c, s, wait := viaInterposer(t, NewInterposer("admin", "P@ssw0rd1!"), transports[0].dial)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		o := runPair(t, ctx, c, s, ClientConfig{ViaMPS: true}, busy)
		require.ErrorIs(t, o.clientErr, context.DeadlineExceeded)
		assert.ErrorIs(t, o.serverErr, ErrBusy)
		require.NoError(t, wait())
	})
	t.Run("ForwardRefusal", func(t *testing.T) {
		ip := NewInterposer("admin", "P@ssw0rd1!")
		ip.ForwardRefusal = true
		c, s, wait := viaInterposer(t, ip, transports[0].dial)
		o := runPair(t, testCtx(t), c, s, ClientConfig{ViaMPS: true}, busy)
		require.ErrorIs(t, o.clientErr, ErrBusy)
		require.NoError(t, wait())
	})
}

// A device that accepts the connection and then says nothing must not hang the client.
func TestHandshakeSilentServer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c, s := tr.dial(t)
			drained := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, s); close(drained) }()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := Handshake(ctx, c, ClientConfig{User: "admin", Password: "x"})
			require.ErrorIs(t, err, context.DeadlineExceeded)
			c.Close()
			<-drained
			s.Close()
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		c, s := net.Pipe()
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, s); close(drained) }()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := Handshake(ctx, c, ClientConfig{User: "admin", Password: "x"})
		require.ErrorIs(t, err, context.Canceled)
		c.Close()
		<-drained
	})
	t.Run("own timeout", func(t *testing.T) {
		c, s := net.Pipe()
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, s); close(drained) }()
		_, err := Handshake(context.Background(), c, ClientConfig{User: "admin", Password: "x", Timeout: 100 * time.Millisecond})
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		c.Close()
		<-drained
	})
	t.Run("stream without deadlines is closed", func(t *testing.T) {
		pr, pw := io.Pipe()
		rw := &pipeRW{r: pr, w: io.Discard}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := Handshake(ctx, rw, ClientConfig{User: "admin", Password: "x"})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		pw.Close()
	})
	t.Run("stream without deadlines, own timeout", func(t *testing.T) {
		pr, pw := io.Pipe()
		rw := &pipeRW{r: pr, w: io.Discard}
		_, err := Handshake(context.Background(), rw, ClientConfig{User: "admin", Password: "x", Timeout: 100 * time.Millisecond})
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		pw.Close()
	})
}

type pipeRW struct {
	r *io.PipeReader
	w io.Writer
}

func (p *pipeRW) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeRW) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeRW) Close() error                { return p.r.CloseWithError(errors.New("closed")) }

// The server must not hang on a client that stops talking either.
func TestServeSilentClient(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := Serve(ctx, s, account)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestHandshakeRequiresUser(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	_, err := Handshake(testCtx(t), c, ClientConfig{Password: "x"})
	require.Error(t, err)
}
