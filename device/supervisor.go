package device

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/backoff"
	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/card"
)

// State is where a supervised source is.
type State string

// States of a supervised source.
const (
	// StateConnecting: the first connection attempt (or one after a clean stop) is under way.
	StateConnecting State = "connecting"
	// StateLive: connected; frames come from the machine.
	StateLive State = "live"
	// StateNoSignal: the last attempt or connection failed; the supervisor retries at Retry.
	StateNoSignal State = "no-signal"
	// StateStandby: an on-demand source (OnDemand) with no console watching; it connects
	// when one opens.
	StateStandby State = "standby"
)

// Health is what a supervised source reports to the relay (and the dashboard shows).
type Health struct {
	Source string    `json:"source"`
	State  State     `json:"state"`
	Since  time.Time `json:"since"`
	// Error is why the source is not live (empty when live).
	Error string `json:"error,omitempty"`
	// Retry is when the next attempt starts (while no-signal).
	Retry time.Time `json:"retry,omitzero"`
	// Width and Height are the size of the last frame.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Reconnects counts connections made after the first.
	Reconnects int `json:"reconnects,omitempty"`
}

// SupervisorConfig configures a Supervisor.
type SupervisorConfig struct {
	Source Source
	Logger *slog.Logger
	// RetryMin and RetryMax bound the reopen backoff; defaults 500 ms and 30 s.
	RetryMin, RetryMax time.Duration
	// StableAfter is how long a connection must have lived for the backoff to start over:
	// a server that accepts and drops at once is not retried in a tight loop. Default 10 s.
	StableAfter time.Duration
	// CardInterval is how often the no-signal card is handed out while the source is down
	// (default 500 ms): consoles keep getting frames and the countdown moves.
	CardInterval time.Duration
	// Width and Height size the card until the source delivered a frame; default 1280×720.
	Width, Height int
}

// Supervisor owns one source for the agent's lifetime: Run opens it and reopens it when it
// fails; Next hands out its frames, or the no-signal card while it is down; Input forwards
// input to the live connection.
type Supervisor struct {
	cfg SupervisorConfig
	log *slog.Logger

	mu      sync.Mutex
	conn    *Conn
	failed  chan error    // cap 1: Next tells Run the live connection failed
	changed chan struct{} // closed and replaced on every state change
	health  Health
	// cut is set when the picture source changed (the card came or went): the next frame
	// handed out is marked media.Frame.Cut.
	cut bool

	// layout is the target's keyboard layout the consoles named, handed to every connection
	// whose input translates keys (hid.LayoutSink).
	layout *hid.Layout

	// poweredOff: the last attempt found the machine off (the card says so).
	poweredOff bool
	// retry is signalled (cap 1) to cut a reconnect wait short (RetryNow).
	retry chan struct{}
	// demand counts the holders of Acquire; wake is closed and replaced when it changes.
	// Only an OnDemand source waits for it.
	demand int
	wake   chan struct{}

	cardMu   sync.Mutex // serializes card drawing (Next is one goroutine, but be safe)
	cardText card.Card
	cardImg  *image.YCbCr
	lastCard time.Time
}

// NewSupervisor makes a Supervisor; Run starts it.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 500 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = 10 * time.Second
	}
	if cfg.CardInterval <= 0 {
		cfg.CardInterval = 500 * time.Millisecond
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		cfg.Width, cfg.Height = 1280, 720
	}
	return &Supervisor{
		cfg:     cfg,
		log:     cfg.Logger.With("source", cfg.Source.String()),
		failed:  make(chan error, 1),
		changed: make(chan struct{}),
		wake:    make(chan struct{}),
		retry:   make(chan struct{}, 1),
		health:  Health{Source: cfg.Source.String(), State: StateConnecting, Since: time.Now()},
	}
}

// errNoDemand ends an on-demand source's connection when nobody watched it for its linger.
var errNoDemand = errors.New("no console watching")

// linger reports whether the source connects on demand, and how long it stays connected
// after the last holder released it.
func (s *Supervisor) linger() (time.Duration, bool) {
	if od, ok := s.cfg.Source.(OnDemand); ok {
		return max(od.Linger(), 0), true
	}
	return 0, false
}

// Acquire says a console watches the source until release is called. An OnDemand source is
// connected only while someone holds it (and its linger after); other sources ignore it.
func (s *Supervisor) Acquire() (release func()) {
	s.mu.Lock()
	s.demand++
	s.wakeLocked()
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.demand--
			s.wakeLocked()
			s.mu.Unlock()
		})
	}
}

func (s *Supervisor) wakeLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// waitDemand blocks until someone holds the source (reporting standby meanwhile); false
// when ctx ended first.
func (s *Supervisor) waitDemand(ctx context.Context) bool {
	for {
		s.mu.Lock()
		demand, wake := s.demand, s.wake
		if demand == 0 && s.health.State != StateStandby {
			s.health = Health{Source: s.health.Source, State: StateStandby, Since: time.Now(),
				Width: s.health.Width, Height: s.health.Height, Reconnects: s.health.Reconnects}
			s.notifyLocked()
		}
		if demand > 0 && s.health.State == StateStandby {
			s.health.State, s.health.Since = StateConnecting, time.Now()
			s.notifyLocked()
		}
		s.mu.Unlock()
		if demand > 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-wake:
		}
	}
}

// idle returns a channel that yields once an on-demand source has had no holder for its
// linger, and a stop function; for other sources it never yields.
func (s *Supervisor) idle(ctx context.Context) (<-chan struct{}, func()) {
	linger, onDemand := s.linger()
	out := make(chan struct{})
	if !onDemand {
		return out, func() {}
	}
	ctx, stop := context.WithCancel(ctx)
	go func() {
		for {
			s.mu.Lock()
			demand, wake := s.demand, s.wake
			s.mu.Unlock()
			var timeout <-chan time.Time
			var t *time.Timer
			if demand == 0 {
				t = time.NewTimer(linger)
				timeout = t.C
			}
			select {
			case <-ctx.Done():
				if t != nil {
					t.Stop()
				}
				return
			case <-wake:
				if t != nil {
					t.Stop()
				}
			case <-timeout:
				close(out)
				return
			}
		}
	}()
	return out, stop
}

// Run keeps the source connected until ctx ends, then closes the connection and returns. An
// OnDemand source is connected only while someone holds it (Acquire).
func (s *Supervisor) Run(ctx context.Context) {
	b := backoff.Backoff{Min: s.cfg.RetryMin, Max: s.cfg.RetryMax}
	connected := 0
	_, onDemand := s.linger()
	for {
		if onDemand && !s.waitDemand(ctx) {
			return
		}
		conn, err := s.open(ctx)
		if errors.Is(err, errNoDemand) {
			continue
		}
		if ctx.Err() != nil {
			if err == nil {
				_ = conn.Video.Close()
			}
			return
		}
		if err != nil {
			wait := b.Next()
			s.down(fmt.Errorf("cannot connect: %w", err), wait)
			if !s.sleep(ctx, wait) {
				return
			}
			continue
		}
		if connected > 0 {
			s.mu.Lock()
			s.health.Reconnects++
			s.mu.Unlock()
		}
		connected++
		up := time.Now()
		s.up(&conn)
		err = s.watch(ctx, &conn)
		s.mu.Lock()
		s.conn, s.cut = nil, true
		s.mu.Unlock()
		_ = conn.Video.Close()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errNoDemand) {
			s.log.Info("source disconnected: no console watching")
			b.Reset()
			continue
		}
		if time.Since(up) >= s.cfg.StableAfter {
			b.Reset()
		}
		wait := b.Next()
		s.down(fmt.Errorf("connection lost: %w", err), wait)
		if !s.sleep(ctx, wait) {
			return
		}
	}
}

// open opens the source; an on-demand source's attempt (which may wait long, for a person's
// consent) is abandoned when nobody has watched for its linger.
func (s *Supervisor) open(ctx context.Context) (Conn, error) {
	if _, onDemand := s.linger(); !onDemand {
		return s.cfg.Source.Open(ctx)
	}
	idle, stopIdle := s.idle(ctx)
	defer stopIdle()
	openCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	abandoned := make(chan struct{})
	go func() {
		select {
		case <-idle:
			close(abandoned)
			cancel()
		case <-openCtx.Done():
		}
	}()
	conn, err := s.cfg.Source.Open(openCtx)
	cancel()
	select {
	case <-abandoned:
		if err == nil {
			_ = conn.Video.Close()
		}
		return Conn{}, errNoDemand
	default:
	}
	return conn, err
}

// watch waits until the live connection fails (Next saw an error, or the connection says it
// is done) or ctx ends.
func (s *Supervisor) watch(ctx context.Context, conn *Conn) error {
	var done <-chan struct{}
	if w, ok := conn.Video.(Watched); ok {
		done = w.Done()
	}
	idle, stopIdle := s.idle(ctx)
	defer stopIdle()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-idle:
		return errNoDemand
	case err := <-s.failed:
		return err
	case <-done:
		if f, ok := conn.Video.(Failed); ok && f.Err() != nil {
			return f.Err()
		}
		return errors.New("the source closed the connection")
	}
}

func (s *Supervisor) up(conn *Conn) {
	s.mu.Lock()
	// A failure reported for the previous connection must not end this one, nor a retry
	// asked for it cut the next wait short.
	select {
	case <-s.failed:
	default:
	}
	select {
	case <-s.retry:
	default:
	}
	s.conn, s.cut = conn, true
	if ls, ok := conn.Input.(hid.LayoutSink); ok && s.layout != nil {
		ls.SetLayout(s.layout)
	}
	if sz, ok := conn.Video.(Sized); ok {
		if w, h := sz.Size(); w > 0 && h > 0 {
			s.health.Width, s.health.Height = w, h
		}
	}
	s.health.State, s.health.Since, s.health.Error, s.health.Retry = StateLive, time.Now(), "", time.Time{}
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Info("source connected")
}

func (s *Supervisor) down(err error, retryIn time.Duration) {
	now := time.Now()
	s.mu.Lock()
	if s.health.State != StateNoSignal {
		s.health.Since = now
	}
	s.health.State, s.health.Error, s.health.Retry = StateNoSignal, err.Error(), now.Add(retryIn)
	s.poweredOff = errors.Is(err, ErrPoweredOff)
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Warn("no signal from source", "err", err, "retry_in", retryIn.Round(time.Millisecond))
}

func (s *Supervisor) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Health reports the source's state now.
func (s *Supervisor) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Changed returns a channel closed at the next state change (for an immediate heartbeat).
func (s *Supervisor) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Size is the size of the last frame (or the card's configured size before any).
func (s *Supervisor) Size() (width, height int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.health.Width > 0 {
		return s.health.Width, s.health.Height
	}
	return s.cfg.Width, s.cfg.Height
}

// Codec reports the codec of an encoded source's frames; ok is false for raw sources.
func (s *Supervisor) Codec() (codec media.Codec, ok bool) {
	if e, isEnc := s.cfg.Source.(Encoded); isEnc {
		return e.Codec(), true
	}
	return "", false
}

// Next returns the next frame: the live connection's, or while there is none the no-signal
// card, every CardInterval. One goroutine at a time.
func (s *Supervisor) Next(ctx context.Context) (media.Frame, error) {
	for {
		s.mu.Lock()
		conn, changed := s.conn, s.changed
		s.mu.Unlock()
		if conn != nil {
			f, err := conn.Video.Next(ctx)
			if err == nil {
				s.mu.Lock()
				if w, h := f.Size(); w > 0 && h > 0 {
					s.health.Width, s.health.Height = w, h
				}
				f.Cut, s.cut = f.Cut || s.cut, false
				s.mu.Unlock()
				return f, nil
			}
			if ctx.Err() != nil {
				return media.Frame{}, ctx.Err()
			}
			s.fail(conn, err)
			continue
		}
		s.cardMu.Lock()
		due := s.lastCard.Add(s.cfg.CardInterval)
		s.cardMu.Unlock()
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return media.Frame{}, ctx.Err()
			case <-changed:
				t.Stop()
				continue
			case <-t.C:
			}
		}
		return s.card(), nil
	}
}

// fail reports that conn's video failed, if conn is still the live connection.
func (s *Supervisor) fail(conn *Conn, err error) {
	s.mu.Lock()
	live := s.conn == conn
	if live {
		s.conn, s.cut = nil, true
	}
	s.mu.Unlock()
	if live {
		select {
		case s.failed <- err:
		default:
		}
	}
}

// card returns the no-signal card as a frame, redrawn when its text changed.
func (s *Supervisor) card() media.Frame {
	h := s.Health()
	w, ht := s.Size()
	c := card.Card{Title: "No signal"}
	switch h.State {
	case StateConnecting:
		c.Title = "Connecting"
		c.Detail = []string{"connecting to " + h.Source}
	default:
		retry := "reconnecting to " + h.Source
		if in := time.Until(h.Retry).Round(time.Second); in > 0 {
			retry += fmt.Sprintf(" in %d s", int(in.Seconds()))
		} else {
			retry += " now"
		}
		// The reason without the source's name, which the line above already says.
		reason := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(h.Error, "cannot connect: "), "connection lost: "), h.Source+": ")
		c.Detail = []string{retry, reason, "since " + h.Since.UTC().Format("15:04:05 UTC")}
		s.mu.Lock()
		off := s.poweredOff
		s.mu.Unlock()
		if off {
			c.Title = "Powered off"
			c.Detail = []string{"the machine is off: an operator can power it on", "from the console's power menu", "checking again " + strings.TrimPrefix(retry, "reconnecting to "+h.Source+" ")}
		}
	}
	now := time.Now()
	s.mu.Lock()
	cut := s.cut
	s.cut = false
	s.mu.Unlock()
	s.cardMu.Lock()
	defer s.cardMu.Unlock()
	s.lastCard = now
	if s.cardImg == nil || !sameCard(s.cardText, c) || s.cardImg.Rect.Dx() != w+w%2 || s.cardImg.Rect.Dy() != ht+ht%2 {
		s.cardImg, s.cardText = card.Draw(w, ht, c), c
	}
	return media.Frame{Image: s.cardImg, CaptureTime: now, Cut: cut}
}

func sameCard(a, b card.Card) bool {
	if a.Title != b.Title || len(a.Detail) != len(b.Detail) {
		return false
	}
	for i := range a.Detail {
		if a.Detail[i] != b.Detail[i] {
			return false
		}
	}
	return true
}

// Refresh asks the live connection for a new picture at once (a new viewer needs a keyframe).
func (s *Supervisor) Refresh() {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		s.cardMu.Lock()
		s.lastCard = time.Time{}
		s.cardMu.Unlock()
		return
	}
	if r, ok := conn.Video.(media.Refresher); ok {
		r.Refresh()
	}
	if e, ok := conn.Video.(media.EncodedSource); ok {
		e.RequestKeyframe()
	}
}

// Input is the input of whichever connection is live: ErrNoSignal while none is, ErrNoInput
// when the source carries none.
func (s *Supervisor) Input() hid.Sink { return supervisedInput{s} }

type supervisedInput struct{ s *Supervisor }

func (in supervisedInput) sink() (hid.Sink, error) {
	in.s.mu.Lock()
	conn := in.s.conn
	in.s.mu.Unlock()
	switch {
	case conn == nil:
		return nil, ErrNoSignal
	case conn.Input == nil:
		return nil, ErrNoInput
	}
	return conn.Input, nil
}

// SetLayout hands the target's layout to the live connection's input, and to every later one.
func (in supervisedInput) SetLayout(l *hid.Layout) {
	in.s.mu.Lock()
	in.s.layout = l
	conn := in.s.conn
	in.s.mu.Unlock()
	if conn == nil {
		return
	}
	if ls, ok := conn.Input.(hid.LayoutSink); ok {
		ls.SetLayout(l)
	}
}

func (in supervisedInput) Key(u hid.Usage, down bool) error {
	sink, err := in.sink()
	if err != nil {
		return err
	}
	return sink.Key(u, down)
}

func (in supervisedInput) Pointer(ev hid.PointerEvent) error {
	sink, err := in.sink()
	if err != nil {
		return err
	}
	return sink.Pointer(ev)
}

// Reconnect ends the live connection and opens a new one at once (a source whose settings
// changed: another screen chosen).
func (s *Supervisor) Reconnect(reason string) {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		s.fail(conn, errors.New(reason))
	}
	s.RetryNow()
}

// RetryNow cuts the wait before the next connection attempt short (a machine was just
// powered on).
func (s *Supervisor) RetryNow() {
	select {
	case s.retry <- struct{}{}:
	default:
	}
}

// sleep waits d, or less when RetryNow is called, or until ctx ends; false when ctx ended.
func (s *Supervisor) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.retry:
		return true
	case <-t.C:
		return true
	}
}

// ProfileLevelID is the H.264 profile-level-id of the live connection's stream, for an encoded
// source that knows it (from its SPS); ok is false otherwise.
func (s *Supervisor) ProfileLevelID() (id string, ok bool) {
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		return "", false
	}
	if p, has := conn.Video.(interface{ ProfileLevelID() (string, bool) }); has {
		return p.ProfileLevelID()
	}
	return "", false
}
