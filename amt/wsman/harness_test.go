package wsman

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testUser     = "admin"
	testPassword = "P@ssw0rd"
	testRealm    = "Digest:34BF4B5A0561F95248F58509A406E046"
)

var testNow = time.Date(2022, 1, 10, 20, 37, 48, 0, time.UTC)

// fakeFirmware is a small AMT: power, consent state machine, displays.
type fakeFirmware struct {
	mu        sync.Mutex
	power     int
	powerReqs []int
	features  Features
	code      int
	displays  []Display
}

func newFakeFirmware() *fakeFirmware {
	return &fakeFirmware{
		power: PowerOn,
		features: Features{
			RedirectionState:  RedirectionBase | RedirectionSOL | RedirectionIDER,
			ListenerEnabled:   true,
			KVMAvailable:      true,
			KVMEnabledState:   KVMEnabledOffline,
			KVMRequestedState: 2,
			OptInRequired:     OptInKVM,
		},
		code: 123456,
		displays: []Display{
			{Index: 0, IsActive: true, ResolutionX: 1920, ResolutionY: 1080, IsDefault: true, Role: RolePrimary},
			{Index: 1, IsActive: true, UpperLeftX: 1920, ResolutionX: 1280, ResolutionY: 1024, Role: RoleSecondary},
		},
	}
}

func (f *fakeFirmware) PowerState() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.power
}

func (f *fakeFirmware) RequestPowerStateChange(state int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.powerReqs = append(f.powerReqs, state)
	switch state {
	case PowerOn, PowerMasterBusReset, PowerCycleSoft:
		f.power = PowerOn
	case PowerOffSoft, PowerOffHard:
		f.power = PowerOffSoft
	default:
		return ReturnInvalidParameter
	}
	return ReturnSuccess
}

func (f *fakeFirmware) Features() Features {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.features
}

func (f *fakeFirmware) StartOptIn() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.features.OptInState != OptInStateNotStarted {
		return ReturnNotReady
	}
	f.features.OptInState = OptInStateDisplayed
	return ReturnSuccess
}

func (f *fakeFirmware) SendOptInCode(code int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.features.OptInState != OptInStateDisplayed {
		return ReturnNotReady
	}
	if code != f.code {
		return ReturnUnsupported
	}
	f.features.OptInState = OptInStateReceived
	return ReturnSuccess
}

func (f *fakeFirmware) CancelOptIn() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.features.OptInState = OptInStateNotStarted
	return ReturnSuccess
}

func (f *fakeFirmware) Displays() []Display {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Display(nil), f.displays...)
}

func (f *fakeFirmware) SetDefaultDisplay(index int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if index < 0 || index >= len(f.displays) {
		return fmt.Errorf("no display %d", index)
	}
	for i := range f.displays {
		f.displays[i].IsDefault = i == index
	}
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestServer(t testing.TB, fw Firmware) *Server {
	t.Helper()
	s, err := NewServer(fw, testUser, testPassword, testRealm, WithLogger(discardLogger()))
	require.NoError(t, err)
	s.now = func() time.Time { return testNow }
	return s
}

// recorder keeps every byte the client wrote, per connection.
type recorder struct {
	mu    sync.Mutex
	conns []*bytes.Buffer
	dials int
}

type recordingConn struct {
	net.Conn
	buf *bytes.Buffer
	mu  *sync.Mutex
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// requests parses everything the client sent into requests with bodies.
func (r *recorder) requests(t *testing.T) []recordedRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedRequest
	for _, b := range r.conns {
		br := bufio.NewReader(bytes.NewReader(b.Bytes()))
		for {
			req, err := http.ReadRequest(br)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			body, err := io.ReadAll(req.Body)
			require.NoError(t, err)
			out = append(out, recordedRequest{req: req, body: string(body)})
		}
	}
	return out
}

type recordedRequest struct {
	req  *http.Request
	body string
}

// harness runs a Client against a Server over net.Pipe, one Serve per dial.
type harness struct {
	fw     *fakeFirmware
	srv    *Server
	client *Client
	rec    *recorder
}

func newHarness(t *testing.T, password string) *harness {
	t.Helper()
	h := &harness{fw: newFakeFirmware(), rec: &recorder{}}
	h.srv = newTestServer(t, h.fw)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	dial := func(context.Context) (net.Conn, error) {
		c1, c2 := net.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = h.srv.Serve(ctx, c2)
		}()
		h.rec.mu.Lock()
		defer h.rec.mu.Unlock()
		h.rec.dials++
		buf := &bytes.Buffer{}
		h.rec.conns = append(h.rec.conns, buf)
		return &recordingConn{Conn: c1, buf: buf, mu: &h.rec.mu}, nil
	}
	h.client = NewClient(dial, testUser, password, WithHost("d2b0d0c4-a1b2-4c3d-8e9f-0a1b2c3d4e5f"))
	t.Cleanup(func() {
		_ = h.client.Close()
		cancel()
		wg.Wait()
	})
	return h
}

func (h *harness) dials() int {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return h.rec.dials
}
