package fakemps

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
)

// MemDevices is an in-memory Devices for tests and demos without CIRA: each redirection
// channel is a net.Pipe whose device end a test takes with Accept. Safe for concurrent use.
type MemDevices struct {
	mu   sync.Mutex
	devs map[string]*MemDevice
}

// NewMemDevices makes an empty MemDevices.
func NewMemDevices() *MemDevices { return &MemDevices{devs: map[string]*MemDevice{}} }

// MemDevice is one device of MemDevices.
type MemDevice struct {
	Info DeviceInfo
	Mgmt *MemManagement

	accept chan net.Conn // device ends of new channels

	mu        sync.Mutex
	connected bool
	links     map[*linkConn]struct{} // open channels, cut when the link drops
}

// Add registers a device (not connected) and returns it.
func (m *MemDevices) Add(info DeviceInfo) *MemDevice {
	d := &MemDevice{
		Info:   info,
		Mgmt:   NewMemManagement(),
		accept: make(chan net.Conn),
		links:  map[*linkConn]struct{}{},
	}
	m.mu.Lock()
	m.devs[info.GUID] = d
	m.mu.Unlock()
	return d
}

func (m *MemDevices) get(guid string) *MemDevice {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.devs[guid]
}

func (m *MemDevices) Known(guid string) bool { return m.get(guid) != nil }

func (m *MemDevices) Connected(guid string) bool {
	d := m.get(guid)
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connected
}

func (m *MemDevices) List() []DeviceInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]DeviceInfo, 0, len(m.devs))
	for _, d := range m.devs {
		out = append(out, d.Info)
	}
	return out
}

func (m *MemDevices) Management(guid string) Management {
	if d := m.get(guid); d != nil {
		return d.Mgmt
	}
	return nil
}

// DialRedirection opens a channel: it waits (bounded by ctx) for the test to Accept it.
func (m *MemDevices) DialRedirection(ctx context.Context, guid string) (net.Conn, error) {
	d := m.get(guid)
	if d == nil || !m.Connected(guid) {
		return nil, fmt.Errorf("memdevices: %s is not connected", guid)
	}
	mpsEnd, devEnd := net.Pipe()
	lc := &linkConn{Conn: mpsEnd, owner: d}
	d.mu.Lock()
	d.links[lc] = struct{}{}
	d.mu.Unlock()
	select {
	case d.accept <- devEnd:
		return lc, nil
	case <-ctx.Done():
		lc.Close()
		return nil, ctx.Err()
	}
}

// Accept returns the device end of the next redirection channel MPS opens to d.
func (d *MemDevice) Accept(ctx context.Context) (net.Conn, error) {
	select {
	case c := <-d.accept:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SetConnected brings the CIRA link up or drops it. A drop cuts every open channel: MPS's
// end reads ErrLinkDown, the device end reads io.EOF (as when MPS closes the channel).
func (d *MemDevice) SetConnected(up bool) {
	d.mu.Lock()
	d.connected = up
	var cut []*linkConn
	if !up {
		for lc := range d.links {
			cut = append(cut, lc)
		}
		clear(d.links)
	}
	d.mu.Unlock()
	for _, lc := range cut {
		lc.drop()
	}
}

// linkConn is MPS's end of a channel; it tells a link drop (ErrLinkDown) from a channel
// close by the device (io.EOF).
type linkConn struct {
	net.Conn
	owner *MemDevice
	mu    sync.Mutex
	down  bool
}

// Close closes MPS's end; the device end reads io.EOF.
func (c *linkConn) Close() error {
	c.owner.mu.Lock()
	delete(c.owner.links, c)
	c.owner.mu.Unlock()
	return c.Conn.Close()
}

func (c *linkConn) drop() {
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	c.Conn.Close()
}

func (c *linkConn) isDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down
}

func (c *linkConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.isDown() {
		return n, fmt.Errorf("memdevices: %w", ErrLinkDown)
	}
	return n, err
}

func (c *linkConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && c.isDown() {
		return n, fmt.Errorf("memdevices: %w", ErrLinkDown)
	}
	return n, err
}

// MemManagement is an in-memory AMT management side with IPS_OptInService's state machine,
// set up through its Set methods. Safe for concurrent use.
type MemManagement struct {
	mu         sync.Mutex
	features   Features
	power      int
	code       int
	displays   []Display
	wrongCode  int // the ReturnValue for a wrong code: AMT's own value is unconfirmed
	lastAction int
	err        error
}

// NewMemManagement is a powered-on machine that requires consent for KVM, with one display.
func NewMemManagement() *MemManagement {
	return &MemManagement{
		features:  Features{OptInRequired: OptInKVM, Redirection: true, KVM: true, KVMAvailable: true},
		power:     2,
		wrongCode: 2,
		displays:  []Display{{Index: 0, Active: true, ResolutionX: 1024, ResolutionY: 768, Default: true, Role: "primary"}},
	}
}

// SetFeatures replaces the features (OptInState included).
func (m *MemManagement) SetFeatures(f Features) { m.mu.Lock(); m.features = f; m.mu.Unlock() }

// SetPower sets the reported power state.
func (m *MemManagement) SetPower(state int) { m.mu.Lock(); m.power = state; m.mu.Unlock() }

// SetDisplays replaces the displays.
func (m *MemManagement) SetDisplays(ds []Display) { m.mu.Lock(); m.displays = ds; m.mu.Unlock() }

// SetError makes every call fail with err (nil mends it).
func (m *MemManagement) SetError(err error) { m.mu.Lock(); m.err = err; m.mu.Unlock() }

// Code is the consent code on the "screen" (0 when none).
func (m *MemManagement) Code() int { m.mu.Lock(); defer m.mu.Unlock(); return m.code }

// LastPowerAction is the last state RequestPowerStateChange was asked for.
func (m *MemManagement) LastPowerAction() int { m.mu.Lock(); defer m.mu.Unlock(); return m.lastAction }

func (m *MemManagement) PowerState(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.power, m.err
}

func (m *MemManagement) RequestPowerStateChange(_ context.Context, state int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	m.lastAction = state
	switch state {
	case 2, 5, 10:
		m.power = 2
	case 8, 12:
		m.power = 8
	default:
		return 0x24, nil // INVALID_PARAMETER
	}
	return 0, nil
}

func (m *MemManagement) Features(context.Context) (Features, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.features, m.err
}

// StartOptIn shows a new code (states 0–2 → 2); once the code was accepted (3, 4) it answers
// 2, invalid state.
func (m *MemManagement) StartOptIn(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if m.features.OptInState >= 3 {
		return 2, nil
	}
	m.code = 100000 + rand.IntN(900000)
	m.features.OptInState = 2
	return 0, nil
}

func (m *MemManagement) SendOptInCode(_ context.Context, code int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if m.features.OptInState != 2 {
		return 2, nil
	}
	if code != m.code {
		return m.wrongCode, nil
	}
	m.features.OptInState = 3
	m.code = 0
	return 0, nil
}

func (m *MemManagement) CancelOptIn(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	m.features.OptInState, m.code = 0, 0
	return 0, nil
}

func (m *MemManagement) Displays(context.Context) ([]Display, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Display(nil), m.displays...), m.err
}

func (m *MemManagement) SetDefaultDisplay(_ context.Context, index int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	found := false
	for i := range m.displays {
		m.displays[i].Default = m.displays[i].Index == index
		found = found || m.displays[i].Index == index
	}
	if !found {
		return errors.New("memdevices: no such display")
	}
	return nil
}

var _ Devices = (*MemDevices)(nil)
