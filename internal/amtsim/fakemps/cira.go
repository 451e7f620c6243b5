package fakemps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/amt/cira"
	"github.com/kvmrelay/kvmrelay/amt/redir"
	"github.com/kvmrelay/kvmrelay/amt/wsman"
)

// Ports of AMT that MPS opens channels to.
const (
	portWSMan       = 16992
	portRedirection = 16994
)

// Record is what MPS keeps of one device: its CIRA login and the AMT credentials its vault
// injects into redirection and WS-Man.
type Record struct {
	Info        DeviceInfo
	MPSPassword string
	// AMTUser is the AMT account ("admin" when empty), AMTPassword its password.
	AMTUser, AMTPassword string
}

// CIRADevices are devices that reach the fake MPS over CIRA, as real AMT does: a
// cira.Server admits them against their records, and each REST or relay request opens a
// channel to the device, as MPS does.
type CIRADevices struct {
	cira *cira.Server
	log  *slog.Logger

	mu      sync.Mutex
	records map[string]Record // by lowercase GUID
}

// NewCIRADevices makes the registry and its CIRA server; Serve it on the CIRA listener.
func NewCIRADevices(records []Record, log *slog.Logger) (*CIRADevices, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &CIRADevices{log: log, records: map[string]Record{}}
	for _, r := range records {
		g, err := apf.ParseGUID(r.Info.GUID)
		if err != nil {
			return nil, fmt.Errorf("fakemps: device %q: %w", r.Info.GUID, err)
		}
		r.Info.GUID = g.String()
		if r.AMTUser == "" {
			r.AMTUser = "admin"
		}
		if r.MPSPassword == "" || r.AMTPassword == "" || r.Info.MPSUsername == "" {
			return nil, fmt.Errorf("fakemps: device %s needs an MPS user, an MPS password and an AMT password (MPS stores all three)", r.Info.GUID)
		}
		d.records[r.Info.GUID] = r
	}
	d.cira = cira.NewServer(cira.ServerConfig{
		Known: func(g apf.GUID) bool { _, ok := d.record(g.String()); return ok },
		Authenticate: func(g apf.GUID, user, password string) bool {
			r, ok := d.record(g.String())
			return ok && user == r.Info.MPSUsername && password == r.MPSPassword
		},
		OnConnect:    func(g apf.GUID) { log.Info("fakemps: device connected over CIRA", "guid", g.String()) },
		OnDisconnect: func(g apf.GUID) { log.Info("fakemps: device's CIRA link ended", "guid", g.String()) },
		Logger:       log.With("component", "cira"),
	})
	return d, nil
}

// Serve accepts CIRA links on ln (TLS: the caller wraps it) until ctx ends or Close.
func (d *CIRADevices) Serve(ctx context.Context, ln net.Listener) error { return d.cira.Serve(ctx, ln) }

// Close ends every CIRA link.
func (d *CIRADevices) Close() error { return d.cira.Close() }

// Disconnect cuts a device's CIRA link (DELETE /devices/disconnect/{guid}).
func (d *CIRADevices) Disconnect(guid string) error {
	g, err := apf.ParseGUID(guid)
	if err != nil {
		return err
	}
	d.cira.Disconnect(g)
	return nil
}

func (d *CIRADevices) record(guid string) (Record, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.records[guid]
	return r, ok
}

// Known implements Devices.
func (d *CIRADevices) Known(guid string) bool { _, ok := d.record(guid); return ok }

// Connected implements Devices.
func (d *CIRADevices) Connected(guid string) bool {
	g, err := apf.ParseGUID(guid)
	return err == nil && d.cira.Connected(g)
}

// List implements Devices.
func (d *CIRADevices) List() []DeviceInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DeviceInfo, 0, len(d.records))
	for _, r := range d.records {
		out = append(out, r.Info)
	}
	return out
}

func (d *CIRADevices) dial(ctx context.Context, guid string, port uint16) (net.Conn, Record, error) {
	r, ok := d.record(guid)
	if !ok {
		return nil, Record{}, fmt.Errorf("fakemps: unknown device %s", guid)
	}
	g, err := apf.ParseGUID(guid)
	if err != nil {
		return nil, Record{}, err
	}
	conn, err := d.cira.Dial(ctx, g, port)
	if err != nil {
		return nil, Record{}, err
	}
	return conn, r, nil
}

// DialRedirection implements Devices: a channel to port 16994 through which the client's
// redirection digest is replaced by one computed from the vault's AMT password, as MPS does
// with p=2.
func (d *CIRADevices) DialRedirection(ctx context.Context, guid string) (net.Conn, error) {
	conn, r, err := d.dial(ctx, guid, portRedirection)
	if err != nil {
		return nil, err
	}
	return &interposed{Conn: conn, ip: redir.NewInterposer(r.AMTUser, r.AMTPassword)}, nil
}

// Management implements Devices: WS-Man over a new port-16992 channel per call batch.
func (d *CIRADevices) Management(guid string) Management {
	r, _ := d.record(guid)
	c := wsman.NewClient(func(ctx context.Context) (net.Conn, error) {
		conn, _, err := d.dial(ctx, guid, portWSMan)
		return conn, err
	}, r.AMTUser, r.AMTPassword, wsman.WithHost(guid))
	return wsmanManagement{c}
}

// interposed is MPS's end of a redirection channel: bytes pass through the digest
// interposer, and a dropped CIRA link reads as ErrLinkDown.
type interposed struct {
	net.Conn
	ip  *redir.Interposer
	mu  sync.Mutex
	buf []byte
}

func (c *interposed) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.buf) == 0 {
		n, err := c.Conn.Read(p)
		if n > 0 {
			out, ierr := c.ip.FromDevice(p[:n])
			if ierr != nil {
				return 0, ierr
			}
			c.buf = append(c.buf[:0], out...)
		}
		if err != nil && len(c.buf) == 0 {
			if errors.Is(err, cira.ErrLinkDown) {
				return 0, fmt.Errorf("%w: %w", ErrLinkDown, err)
			}
			if errors.Is(err, cira.ErrPeerClosed) {
				return 0, io.EOF
			}
			return 0, err
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *interposed) Write(p []byte) (int, error) {
	out, err := c.ip.FromClient(p)
	if err != nil {
		return 0, err
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// wsmanManagement adapts the WS-Man client to what the REST routes ask.
type wsmanManagement struct{ c *wsman.Client }

func (m wsmanManagement) PowerState(ctx context.Context) (int, error) { return m.c.PowerState(ctx) }
func (m wsmanManagement) RequestPowerStateChange(ctx context.Context, state int) (int, error) {
	return m.c.RequestPowerStateChange(ctx, state)
}
func (m wsmanManagement) StartOptIn(ctx context.Context) (int, error) { return m.c.StartOptIn(ctx) }
func (m wsmanManagement) SendOptInCode(ctx context.Context, code int) (int, error) {
	return m.c.SendOptInCode(ctx, code)
}
func (m wsmanManagement) CancelOptIn(ctx context.Context) (int, error) { return m.c.CancelOptIn(ctx) }
func (m wsmanManagement) SetDefaultDisplay(ctx context.Context, index int) error {
	return m.c.SetDefaultDisplay(ctx, index)
}

func (m wsmanManagement) Features(ctx context.Context) (Features, error) {
	f, err := m.c.Features(ctx)
	if err != nil {
		return Features{}, err
	}
	return Features{OptInRequired: f.OptInRequired, OptInState: f.OptInState, Redirection: f.Redirection(),
		SOL: f.SOL(), IDER: f.IDER(), KVM: f.KVM(), KVMAvailable: f.KVMAvailable}, nil
}

func (m wsmanManagement) Displays(ctx context.Context) ([]Display, error) {
	ds, err := m.c.Displays(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Display, len(ds))
	for i, d := range ds {
		out[i] = Display{Index: d.Index, Active: d.IsActive, UpperLeftX: d.UpperLeftX, UpperLeftY: d.UpperLeftY,
			ResolutionX: d.ResolutionX, ResolutionY: d.ResolutionY, Default: d.IsDefault, Role: d.Role}
	}
	return out, nil
}

var _ Devices = (*CIRADevices)(nil)
