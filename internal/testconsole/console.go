// Package testconsole is a console written in Go for tests: it redeems a console link, speaks
// the signaling protocol exactly as the browser page does, answers the agent's offer with a
// pion peer connection (on the real network or pion's vnet), counts the video it receives and
// sends HID messages. Browser behaviour itself is tested with real Chromium (e2e).
package testconsole

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/signaling/sigclient"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ErrRefused: the relay answered the console's connection with an error instead of a welcome.
var ErrRefused = errors.New("testconsole: the relay refused the session")

// Config configures a test console.
type Config struct {
	// Relay is the relay's base URL.
	Relay string
	// Code is a one-time login (from a console link); Token a console token instead.
	Code, Token string
	// Origin is sent on the WebSocket upgrade (browsers always send one).
	Origin string
	// Net is pion's vnet (or nil for the real network).
	Net transport.Net
	// ForceRelay sets iceTransportPolicy "relay", as the page does with #relay=1.
	ForceRelay bool
	// Codecs the console claims to decode; default H.264 and VP8.
	Codecs []string
	// MungeAnswer, when set, rewrites the answer SDP before it is sent (attack tests).
	MungeAnswer func(sdp string) string
	// IncludeLoopback gathers 127.0.0.1 host candidates.
	IncludeLoopback bool
	// Receiver makes the console receive video as a browser does: NACKs, congestion
	// feedback, frame reassembly, PLIs while it cannot decode, decodable-frame times
	// (DecodableFrames, Freezes). Off, it only counts packets.
	Receiver bool
}

// Console is one connected test console.
type Console struct {
	cfg   Config
	sig   *sigclient.Client
	pc    *webrtc.PeerConnection
	sid   string
	start time.Time

	Welcome wire.Welcome

	mu        sync.Mutex
	hid, ptr  *webrtc.DataChannel
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	errors    []wire.ErrorMessage
	byes      []wire.Bye
	foreign   []string // session-bound messages that named another session
	rosters   []wire.Roster

	relayed      relayedVideo // the relay's video peer connection, when it offers one
	videoPackets atomic.Int64
	frames       frameLog
	waitingAgent atomic.Bool
	firstVideo   chan struct{}
	firstOnce    sync.Once
	connected    chan struct{}
	connOnce     sync.Once
	channelsOpen chan struct{}
	opened       atomic.Int32
	failed       chan struct{}
	failOnce     sync.Once
	// rosterChanged is signalled (without blocking) on every roster received.
	rosterChanged chan struct{}
	wg            sync.WaitGroup
}

// Redeem exchanges a one-time login for a console token.
func Redeem(ctx context.Context, relay, code string) (string, error) {
	body, _ := json.Marshal(map[string]string{"code": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(relay, "/")+"/api/v1/console/redeem", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("redeem: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Token   string `json:"token"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("redeem: decode: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("redeem: HTTP %d %s: %s", resp.StatusCode, out.Code, out.Message)
	}
	return out.Token, nil
}

// CodeFromLink extracts the one-time code from a console link.
func CodeFromLink(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", err
	}
	v, err := url.ParseQuery(u.Fragment)
	if err != nil {
		return "", err
	}
	if v.Get("code") == "" {
		return "", errors.New("link has no #code=")
	}
	return v.Get("code"), nil
}

// Open redeems (if needed), connects signaling, joins and starts answering. It returns once the
// welcome arrived; use WaitConnected and friends for the rest.
func Open(ctx context.Context, cfg Config) (*Console, error) {
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []string{"video/H264", "video/VP8"}
	}
	token := cfg.Token
	if token == "" {
		var err error
		if token, err = Redeem(ctx, cfg.Relay, cfg.Code); err != nil {
			return nil, err
		}
	}
	wsURL := "ws" + strings.TrimPrefix(strings.TrimRight(cfg.Relay, "/"), "http") + "/ws/console"
	c := &Console{
		cfg: cfg, start: time.Now(),
		firstVideo: make(chan struct{}), connected: make(chan struct{}),
		channelsOpen: make(chan struct{}), failed: make(chan struct{}), rosterChanged: make(chan struct{}, 1),
	}
	var err error
	c.sig, err = sigclient.Dial(ctx, sigclient.DialConfig{URL: wsURL, Token: token, Origin: cfg.Origin})
	if err != nil {
		return nil, err
	}
	env, err := c.sig.Recv()
	if err != nil {
		c.sig.Close()
		return nil, fmt.Errorf("waiting for welcome: %w", err)
	}
	if env.Type == wire.TypeError {
		// The relay may refuse the session before it welcomes it (it ended at once).
		var e wire.ErrorMessage
		_ = wire.DecodeData(env, &e)
		c.sig.Close()
		return nil, fmt.Errorf("%w: %s: %s", ErrRefused, e.Code, e.Message)
	}
	if env.Type != wire.TypeWelcome {
		c.sig.Close()
		return nil, fmt.Errorf("first message is %q, want welcome", env.Type)
	}
	if err := wire.DecodeData(env, &c.Welcome); err != nil {
		c.sig.Close()
		return nil, err
	}
	c.sid = c.Welcome.SID
	if err := c.newPeer(); err != nil {
		c.sig.Close()
		return nil, err
	}
	c.wg.Go(c.readLoop)
	if err := c.sig.Send(wire.TypeJoin, c.sid, wire.Join{Codecs: cfg.Codecs, ForceRelay: cfg.ForceRelay}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// newPeerConnection makes a peer connection as the page's: the welcome's ICE servers, its
// transport policy, a browser's codecs (and receiver behaviour when asked).
func (c *Console) newPeerConnection() (*webrtc.PeerConnection, error) {
	se := webrtc.SettingEngine{}
	if c.cfg.Net != nil {
		se.SetNet(c.cfg.Net)
	}
	se.SetIncludeLoopbackCandidate(c.cfg.IncludeLoopback)
	se.SetDTLSRetransmissionInterval(100 * time.Millisecond) // like a browser: retry lost flights soon
	se.SetSCTPRTOMax(time.Second)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	opts := []func(*webrtc.API){webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)}
	if c.cfg.Receiver {
		reg, err := receiverInterceptors(m)
		if err != nil {
			return nil, err
		}
		opts = append(opts, webrtc.WithInterceptorRegistry(reg))
	}
	api := webrtc.NewAPI(opts...)
	ice := make([]webrtc.ICEServer, 0, len(c.Welcome.ICEServers))
	for _, s := range c.Welcome.ICEServers {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	policy := webrtc.ICETransportPolicyAll
	if c.cfg.ForceRelay {
		policy = webrtc.ICETransportPolicyRelay
	}
	return api.NewPeerConnection(webrtc.Configuration{ICEServers: ice, ICETransportPolicy: policy})
}

func (c *Console) newPeer() error {
	pc, err := c.newPeerConnection()
	if err != nil {
		return err
	}
	c.pc = pc
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		c.mu.Lock()
		switch dc.Label() {
		case "hid":
			c.hid = dc
		case "pointer":
			c.ptr = dc
		}
		c.mu.Unlock()
		dc.OnOpen(func() {
			if c.opened.Add(1) == 2 {
				close(c.channelsOpen)
			}
		})
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if c.cfg.Receiver {
			c.wg.Go(func() { c.receive(tr, pc, nil) })
			return
		}
		c.wg.Go(func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				c.videoPackets.Add(1)
				c.firstOnce.Do(func() { close(c.firstVideo) })
			}
		})
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			_ = c.sig.Send(wire.TypeCandidate, c.sid, wire.Candidate{})
			return
		}
		init := cand.ToJSON()
		_ = c.sig.Send(wire.TypeCandidate, c.sid, wire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			c.connOnce.Do(func() { close(c.connected) })
		case webrtc.PeerConnectionStateFailed:
			c.failOnce.Do(func() { close(c.failed) })
		}
	})
	return nil
}

func (c *Console) readLoop() {
	for {
		env, err := c.sig.Recv()
		if err != nil {
			return
		}
		switch env.Type {
		case wire.TypeOffer, wire.TypeCandidate, wire.TypeBye, wire.TypeRoster, wire.TypeVideoOffer, wire.TypeVideoCandidate:
			// The relay must route these by session; one for another session is a routing
			// bug (SECURITY.md item 14): record it, and never apply it.
			if env.SID != c.sid {
				c.mu.Lock()
				c.foreign = append(c.foreign, fmt.Sprintf("%s for session %q", env.Type, env.SID))
				c.mu.Unlock()
				continue
			}
		}
		switch env.Type {
		case wire.TypeVideoOffer, wire.TypeVideoCandidate:
			c.relayedVideoMessage(env) // relayvideo.go
		case wire.TypeOffer:
			var d wire.SDP
			if wire.DecodeData(env, &d) != nil {
				continue
			}
			if err := c.answer(d.SDP); err != nil {
				c.recordError(wire.ErrorMessage{Code: "local", Message: err.Error()})
			}
		case wire.TypeCandidate:
			var cand wire.Candidate
			if wire.DecodeData(env, &cand) != nil || cand.Candidate == "" {
				continue
			}
			init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex}
			c.mu.Lock()
			if !c.remoteSet {
				c.pending = append(c.pending, init)
				c.mu.Unlock()
				continue
			}
			c.mu.Unlock()
			_ = c.pc.AddICECandidate(init)
		case wire.TypeError:
			var e wire.ErrorMessage
			_ = wire.DecodeData(env, &e)
			c.recordError(e)
			if e.Code == wire.CodeAgentOffline {
				c.waitingAgent.Store(true)
			}
		case wire.TypeAgentStatus:
			// Like the page: a join refused because the agent was away is repeated once it is back.
			var st wire.AgentStatus
			if wire.DecodeData(env, &st) == nil && st.Online && c.waitingAgent.CompareAndSwap(true, false) {
				_ = c.sig.Send(wire.TypeJoin, c.sid, wire.Join{Codecs: c.cfg.Codecs, ForceRelay: c.cfg.ForceRelay})
			}
		case wire.TypeBye:
			var b wire.Bye
			_ = wire.DecodeData(env, &b)
			c.mu.Lock()
			c.byes = append(c.byes, b)
			c.mu.Unlock()
		case wire.TypeRoster:
			var r wire.Roster
			if wire.DecodeData(env, &r) != nil || r.Check() != nil {
				c.recordError(wire.ErrorMessage{Code: "local", Message: "malformed roster"})
				continue
			}
			c.mu.Lock()
			c.rosters = append(c.rosters, r)
			c.mu.Unlock()
			select {
			case c.rosterChanged <- struct{}{}:
			default:
			}
		}
	}
}

func (c *Console) answer(sdp string) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return err
	}
	out := ans.SDP
	if c.cfg.MungeAnswer != nil {
		out = c.cfg.MungeAnswer(out)
	}
	c.mu.Lock()
	pending := c.pending
	c.pending, c.remoteSet = nil, true
	c.mu.Unlock()
	for _, p := range pending {
		_ = c.pc.AddICECandidate(p)
	}
	return c.sig.Send(wire.TypeAnswer, c.sid, wire.SDP{SDP: out})
}

func (c *Console) recordError(e wire.ErrorMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors = append(c.errors, e)
}

// Errors returns the error messages received so far.
func (c *Console) Errors() []wire.ErrorMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.ErrorMessage(nil), c.errors...)
}

// Byes returns the byes received for this console's session so far.
func (c *Console) Byes() []wire.Bye {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Bye(nil), c.byes...)
}

// Foreign returns the offers, candidates and byes that arrived naming another session than
// this console's (dropped, not applied). A correct relay delivers none.
func (c *Console) Foreign() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.foreign...)
}

// Rosters returns the rosters the agent sent this console so far, oldest first.
func (c *Console) Rosters() []wire.Roster {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wire.Roster(nil), c.rosters...)
}

// WaitRoster waits until the latest roster satisfies ok, and returns it.
func (c *Console) WaitRoster(ctx context.Context, what string, ok func(wire.Roster) bool) (wire.Roster, error) {
	for {
		c.mu.Lock()
		var last wire.Roster
		have := len(c.rosters) > 0
		if have {
			last = c.rosters[len(c.rosters)-1]
		}
		c.mu.Unlock()
		if have && ok(last) {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("waiting for a roster where %s: %w (last: %+v)", what, ctx.Err(), last)
		case <-c.rosterChanged:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Control sends a control move for this console's session.
func (c *Console) Control(move wire.Control) error {
	return c.sig.Send(wire.TypeControl, c.sid, move)
}

// SID is the console session id.
func (c *Console) SID() string { return c.sid }

// Signaling exposes the signaling client (tests send crafted messages through it).
func (c *Console) Signaling() *sigclient.Client { return c.sig }

func wait(ctx context.Context, ch <-chan struct{}, failed <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-failed:
		return fmt.Errorf("peer connection failed before %s", what)
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
}

// WaitConnected waits until the peer connection is connected.
func (c *Console) WaitConnected(ctx context.Context) error {
	return wait(ctx, c.connected, c.failed, "connection")
}

// WaitVideo waits for the first video packet and returns how long after Open it came.
func (c *Console) WaitVideo(ctx context.Context) (time.Duration, error) {
	if err := wait(ctx, c.firstVideo, c.failed, "video"); err != nil {
		return 0, err
	}
	return time.Since(c.start), nil
}

// WaitChannels waits until both HID data channels are open.
func (c *Console) WaitChannels(ctx context.Context) error {
	return wait(ctx, c.channelsOpen, c.failed, "data channels")
}

// VideoPackets counts RTP packets received.
func (c *Console) VideoPackets() int64 { return c.videoPackets.Load() }

// SendHID sends one message on the reliable hid channel.
func (c *Console) SendHID(b []byte) error {
	c.mu.Lock()
	dc := c.hid
	c.mu.Unlock()
	if dc == nil {
		return errors.New("hid channel not open")
	}
	return dc.Send(b)
}

// SendPointer sends one message on the unreliable pointer channel.
func (c *Console) SendPointer(b []byte) error {
	c.mu.Lock()
	dc := c.ptr
	c.mu.Unlock()
	if dc == nil {
		return errors.New("pointer channel not open")
	}
	return dc.Send(b)
}

// Path reports the selected candidate pair's local and remote candidate types
// ("host", "srflx", "prflx", "relay").
func (c *Console) Path() (local, remote string, ok bool) {
	for _, s := range c.pc.GetStats() {
		pair, isPair := s.(webrtc.ICECandidatePairStats)
		if !isPair || !pair.Nominated || pair.State != webrtc.StatsICECandidatePairStateSucceeded {
			continue
		}
		stats := c.pc.GetStats()
		l, lok := stats[pair.LocalCandidateID].(webrtc.ICECandidateStats)
		r, rok := stats[pair.RemoteCandidateID].(webrtc.ICECandidateStats)
		if lok && rok {
			return l.CandidateType.String(), r.CandidateType.String(), true
		}
	}
	return "", "", false
}

// PeerConnection exposes the pion peer connection.
func (c *Console) PeerConnection() *webrtc.PeerConnection { return c.pc }

// Close hangs up: bye, then close.
func (c *Console) Close() {
	_ = c.sig.Send(wire.TypeBye, c.sid, wire.Bye{Reason: "test console closed"})
	_ = c.pc.Close()
	c.sig.Close()
	c.closeRelayedVideo()
	c.wg.Wait()
}
