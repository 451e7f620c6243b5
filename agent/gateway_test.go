package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// fakeGateway is a gateway whose machines are test sources and whose links the test sets.
type fakeGateway struct {
	mu     sync.Mutex
	links  []device.Link
	err    error
	opened []string
}

func (g *fakeGateway) String() string { return "fake://mps" }

func (g *fakeGateway) Source(target string, _ *device.Consent) (device.Source, error) {
	if target == "bad" {
		return nil, errors.New("not a GUID")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = append(g.opened, target)
	return &fakeSource{name: "machine " + target}, nil
}

func (g *fakeGateway) Links(context.Context) ([]device.Link, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]device.Link(nil), g.links...), g.err
}

func (g *fakeGateway) set(err error, links ...device.Link) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.links, g.err = links, err
}

// fakeSource never connects: the tests here are about which machine a console gets.
type fakeSource struct{ name string }

func (s *fakeSource) Open(ctx context.Context) (device.Conn, error) {
	<-ctx.Done()
	return device.Conn{}, ctx.Err()
}
func (s *fakeSource) String() string { return s.name }

// reports records what a fleet sends.
type reports struct {
	mu  sync.Mutex
	got []wire.Machines
	err error
}

func (r *reports) Send(t wire.Type, _ string, data any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if t == wire.TypeMachines {
		r.got = append(r.got, data.(wire.Machines))
	}
	return nil
}

func (r *reports) take() []wire.Machines {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

func guid(i int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", i) }

// TestFleetReports: the whole list on each connection (in bounded parts, Reset on the first
// only), then changes only; a service that cannot be asked has no machine up, and the
// gateway's health says why.
func TestFleetReports(t *testing.T) {
	gw := &fakeGateway{}
	f := newFleet(gw, slog.Default())
	var links []device.Link
	for i := range 1200 {
		links = append(links, device.Link{Target: guid(i), Up: i%2 == 0, Name: fmt.Sprintf("rack7-amt%d", i), Tags: []string{"rack7"}})
	}
	links = append(links, device.Link{Target: "bad target", Up: true})
	gw.set(nil, links...)
	ctx := context.Background()

	r := &reports{}
	f.connected(r)
	assert.Equal(t, []wire.Machines{{Reset: true}}, r.take(), "connected before the first look: an empty list")
	f.poll(ctx)
	first := r.take()
	require.Greater(t, len(first), 1, "600 machines up: more than one report")
	var all []wire.Machine
	for _, m := range first {
		require.NoError(t, m.Check())
		assert.False(t, m.Reset)
		assert.False(t, m.More, "changes are not a full list")
		all = append(all, m.Up...)
	}
	assert.Len(t, all, 600)
	assert.Equal(t, wire.Machine{Target: guid(0), Name: "rack7-amt0", Tags: []string{"rack7"}}, first[0].Up[0], "what MPS says of the machine")
	assert.Equal(t, device.StateLive, f.health().State)

	f.poll(ctx)
	assert.Empty(t, r.take(), "nothing changed, nothing sent")

	links[1].Up, links[0].Up = true, false
	links[2].Tags = []string{"rack7", "lab"}
	gw.set(nil, links...)
	f.poll(ctx)
	assert.Equal(t, []wire.Machines{{Up: []wire.Machine{
		{Target: guid(1), Name: "rack7-amt1", Tags: []string{"rack7"}},
		{Target: guid(2), Name: "rack7-amt2", Tags: []string{"rack7", "lab"}},
	}, Down: []string{guid(0)}}}, r.take(), "up, down, and retagged")

	// A new connection gets the whole list again.
	r2 := &reports{}
	f.connected(r2)
	whole := r2.take()
	require.Greater(t, len(whole), 1)
	all = nil
	for i, m := range whole {
		assert.Equal(t, i == 0, m.Reset, "Reset on the first part only")
		assert.Equal(t, i < len(whole)-1, m.More, "More on every part but the last")
		all = append(all, m.Up...)
	}
	assert.Len(t, all, 600)
	assert.Equal(t, guid(1), whole[0].Up[0].Target)

	changed := f.changed()
	gw.set(errors.New("mps: login as \"ops\": unauthorized"))
	f.poll(ctx)
	down := r2.take()
	require.Len(t, down, 2, "every machine down")
	assert.Len(t, append(down[0].Down, down[1].Down...), 600)
	h := f.health()
	assert.Equal(t, device.StateNoSignal, h.State)
	assert.Contains(t, h.Error, "unauthorized")
	select {
	case <-changed:
	default:
		t.Fatal("the heartbeat was not told the gateway's state changed")
	}
}

// TestGatewayMachines: a gateway serves the machine a session names, one per target, and
// forgets machines no console watched for GatewayIdle; a session naming none is refused with
// a sentence, as is a machine session sent to an agent of one machine.
func TestGatewayMachines(t *testing.T) {
	gw := &fakeGateway{}
	a, err := New(Config{Server: "http://127.0.0.1:1", Token: "t", Gateway: gw, GatewayIdle: time.Minute,
		NewEncoder: func(media.EncoderConfig) (media.Encoder, error) { return nil, errors.New("unused") }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	a.machineCtx = ctx
	defer func() { cancel(); a.closeMachines() }()

	_, err = a.machineFor("")
	require.ErrorIs(t, err, ErrNotServed)
	assert.Contains(t, err.Error(), "open one of the machines it serves")
	_, err = a.machineFor("bad")
	require.ErrorIs(t, err, ErrNotServed)

	m1, err := a.machineFor(guid(1))
	require.NoError(t, err)
	again, err := a.machineFor(guid(1))
	require.NoError(t, err)
	assert.Same(t, m1, again)
	m2, err := a.machineFor(guid(2))
	require.NoError(t, err)
	assert.NotSame(t, m1, m2)
	assert.Equal(t, []string{guid(1), guid(2)}, gw.opened)

	a.mu.Lock()
	a.sessions["s_1"] = &session{sid: "s_1", machine: m1}
	a.mu.Unlock()
	assert.Empty(t, a.takeIdleMachines(time.Now()), "just used")
	idle := a.takeIdleMachines(time.Now().Add(2 * time.Minute))
	require.Len(t, idle, 1, "the machine with a session stays")
	assert.Same(t, m2, idle[0])
	idle[0].close()
	m2again, err := a.machineFor(guid(2))
	require.NoError(t, err)
	assert.NotSame(t, m2, m2again, "a forgotten machine is made anew")

	own, err := New(Config{Server: "http://127.0.0.1:1", Token: "t", Source: &fakeSource{name: "vnc://kvm"},
		NewEncoder: func(media.EncoderConfig) (media.Encoder, error) { return nil, errors.New("unused") }})
	require.NoError(t, err)
	_, err = own.machineFor(guid(1))
	require.ErrorIs(t, err, ErrNotServed)
	assert.Contains(t, err.Error(), "serves one machine (vnc://kvm)")
	m, err := own.machineFor("")
	require.NoError(t, err)
	assert.Same(t, own.own, m)
}

// TestFleetReportSize: hostile names and tags are cleaned, and reports stay under the
// message limit however much text the service attaches to its machines.
func TestFleetReportSize(t *testing.T) {
	gw := &fakeGateway{}
	f := newFleet(gw, slog.Default())
	var links []device.Link
	tags := []string{}
	for i := range 20 {
		tags = append(tags, strings.Repeat("\x01\"", 40)+fmt.Sprint(i))
	}
	for i := range 700 {
		links = append(links, device.Link{Target: guid(i), Up: true, Name: strings.Repeat("\"<", 100), Tags: tags})
	}
	gw.set(nil, links...)
	r := &reports{}
	f.connected(r)
	r.take()
	f.poll(context.Background())
	got := r.take()
	require.Greater(t, len(got), 2)
	n := 0
	for _, m := range got {
		require.NoError(t, m.Check())
		msg, err := wire.Encode(wire.TypeMachines, "", m)
		require.NoError(t, err)
		assert.Less(t, len(msg), wire.MaxMessageSize)
		n += len(m.Up)
	}
	assert.Equal(t, 700, n)
}
