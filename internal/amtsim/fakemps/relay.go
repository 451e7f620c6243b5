package fakemps

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// relayPort is the only port the fake relays to (KVM, SOL and IDER all use 16994 on AMT).
	relayPort = "16994"
	// maxClientMessage bounds a client message (MPS's ws default maxPayload is 100 MiB; a
	// fake needs far less).
	maxClientMessage = 4 << 20
	// deviceChunk is how much device data one relay message carries at most.
	deviceChunk = 32 << 10
	// channelOpenTimeout bounds opening the channel to the device.
	channelOpenTimeout = 30 * time.Second
	// closeWait bounds waiting for the client's close reply after the device ended the session.
	closeWait = 5 * time.Second
)

// relayModes are the modes MPS tracks one session of per device.
var relayModes = []string{"kvm", "sol", "ider"}

// relay is /relay/webrelay.ashx. Its upgrade checks follow MPS's verifyClientToken: the
// Sec-WebSocket-Protocol header must be an HS256 token of ours, not expired, whose deviceId
// is the host parameter; the device must be connected and have no session of this mode. Every
// refusal is a bare 401, as from MPS.
func (s *Server) relay(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	host, mode := q.Get("host"), q.Get("mode")
	token := r.Header.Get("Sec-WebSocket-Protocol")
	refuse := func(why string) {
		s.log.Debug("fakemps: relay refused", "host", host, "mode", mode, "why", why)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	}
	dev, err := s.verify(token)
	switch {
	case err != nil:
		refuse("token: " + err.Error())
		return
	case dev != host:
		refuse("token is for device " + dev)
		return
	case q.Get("tls") != "0":
		// The real MPS upgrades and then never opens a channel (and keeps the device marked
		// busy); the fake refuses outright, which a test can see.
		refuse("tls must be 0")
		return
	case q.Get("port") != relayPort:
		refuse("the fake relays to port 16994 only")
		return
	}
	sess, why := s.reserve(host, mode)
	if sess == nil {
		refuse(why)
		return
	}
	defer s.untrack(sess)
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, http.Header{"Sec-Websocket-Protocol": {token}})
	if err != nil {
		s.release(sess)
		s.log.Debug("fakemps: relay upgrade", "host", host, "err", err)
		return
	}
	sess.setWS(ws)
	sess.run()
}

// reserve checks that the device is connected and free for this mode and, if so, takes the
// slot for a new session (MPS's updateDeviceConnection).
func (s *Server) reserve(guid, mode string) (*session, string) {
	if !s.cfg.Devices.Connected(guid) {
		return nil, "device not connected"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.stopping {
		return nil, "shutting down"
	}
	tracked := slices.Contains(relayModes, mode)
	if tracked || mode == "" {
		m := mode
		if !tracked {
			m = "kvm" // MPS: an unknown mode may open only while no KVM session is open
		}
		if s.slots[guid][m] != nil {
			return nil, "a " + m + " session is already open"
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{s: s, guid: guid, mode: mode, ctx: ctx, cancel: cancel}
	if tracked {
		if s.slots[guid] == nil {
			s.slots[guid] = map[string]*session{}
		}
		s.slots[guid][mode] = sess
	}
	s.sessions[sess] = struct{}{}
	s.sessionWG.Add(1)
	return sess, ""
}

// release frees the session's slot if it still holds it.
func (s *Server) release(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots[sess.guid][sess.mode] == sess {
		delete(s.slots[sess.guid], sess.mode)
	}
}

func (s *Server) untrack(sess *session) {
	s.release(sess)
	sess.cancel()
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.sessionWG.Done()
}

// session is one relay WebSocket and its channel to the device.
type session struct {
	s      *Server
	guid   string
	mode   string
	ctx    context.Context // canceled when the session ends or the server stops
	cancel context.CancelFunc

	mu       sync.Mutex
	ws       *websocket.Conn
	dev      net.Conn
	killed   bool
	linkDown atomic.Bool
}

func (ss *session) setWS(ws *websocket.Conn) {
	ss.mu.Lock()
	ss.ws = ws
	killed := ss.killed
	ss.mu.Unlock()
	if killed {
		ws.NetConn().Close()
	}
}

// kill cuts the session as a dying MPS process does: no close frame.
func (ss *session) kill() {
	ss.mu.Lock()
	ss.killed = true
	ws, dev := ss.ws, ss.dev
	ss.mu.Unlock()
	ss.cancel()
	if ws != nil {
		ws.NetConn().Close()
	}
	if dev != nil {
		dev.Close()
	}
}

// run relays until the WebSocket ends.
func (ss *session) run() {
	s, ws := ss.s, ss.ws
	defer ws.Close()
	dialCtx, cancel := context.WithTimeout(ss.ctx, channelOpenTimeout)
	dev, err := s.cfg.Devices.DialRedirection(dialCtx, ss.guid)
	cancel()
	if err != nil {
		// MPS: the channel open failed, so the channel state goes to 0 and MPS closes the
		// WebSocket without a status.
		s.log.Debug("fakemps: relay: open channel", "host", ss.guid, "err", err)
		s.release(ss)
		ss.closeNoStatus()
		ss.drain()
		return
	}
	ss.mu.Lock()
	ss.dev = dev
	killed := ss.killed
	ss.mu.Unlock()
	defer dev.Close()
	if killed {
		return
	}
	s.log.Debug("fakemps: relay open", "host", ss.guid, "mode", ss.mode)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ss.deviceToWeb(dev)
	}()
	ss.webToDevice(dev)
	dev.Close()
	<-done
	s.log.Debug("fakemps: relay closed", "host", ss.guid, "mode", ss.mode)
}

// deviceToWeb forwards device bytes, one message per read, as TEXT (one code point per byte)
// or BINARY frames. A device close ends the WebSocket; a CIRA link drop leaves it open.
func (ss *session) deviceToWeb(dev net.Conn) {
	s := ss.s
	buf := make([]byte, deviceChunk)
	var text []byte
	for {
		n, err := dev.Read(buf)
		if n > 0 {
			typ, msg := websocket.TextMessage, buf[:n]
			if s.cfg.BinaryFrames {
				typ = websocket.BinaryMessage
			} else {
				text = encodeText(text[:0], msg)
				msg = text
			}
			if werr := ss.ws.WriteMessage(typ, msg); werr != nil {
				return // the WebSocket is gone; webToDevice ends the session
			}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, ErrLinkDown) {
			// MPS forgets the device (a reconnect starts with no session) but never closes
			// the channel or the WebSocket: the client hears nothing more.
			s.log.Debug("fakemps: relay: CIRA link down, WebSocket left open", "host", ss.guid)
			ss.linkDown.Store(true)
			s.release(ss)
			return
		}
		if !errors.Is(err, io.EOF) {
			s.log.Debug("fakemps: relay: device read", "host", ss.guid, "err", err)
		}
		s.release(ss)
		ss.closeNoStatus()
		return
	}
}

// webToDevice forwards client messages as raw bytes (MPS takes a TEXT message's UTF-8 bytes
// as they are) until the WebSocket ends.
func (ss *session) webToDevice(dev net.Conn) {
	ss.ws.SetReadLimit(maxClientMessage)
	for {
		_, msg, err := ss.ws.ReadMessage()
		if err != nil {
			return
		}
		if ss.linkDown.Load() {
			continue // MPS writes into the dead channel; nothing arrives anywhere
		}
		if _, err := dev.Write(msg); err != nil {
			if errors.Is(err, ErrLinkDown) {
				continue
			}
			// MPS: "Attempted to write to a closed CIRA Channel", then it closes the socket.
			ss.s.release(ss)
			ss.closeNoStatus()
			ss.drain()
			return
		}
	}
}

// closeNoStatus sends a close frame without a status code (the client sees 1005), as MPS's
// ws.close() does, and gives the client closeWait to answer before the read side gives up.
func (ss *session) closeNoStatus() {
	_ = ss.ws.WriteControl(websocket.CloseMessage, nil, time.Now().Add(closeWait))
	_ = ss.ws.SetReadDeadline(time.Now().Add(closeWait))
}

// drain reads until the client's close reply (or the deadline) ends the WebSocket.
func (ss *session) drain() {
	for {
		if _, _, err := ss.ws.NextReader(); err != nil {
			return
		}
	}
}

// encodeText appends b as MPS sends it: each byte one code point, UTF-8 encoded.
func encodeText(dst, b []byte) []byte {
	for _, c := range b {
		if c < 0x80 {
			dst = append(dst, c)
		} else {
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
		}
	}
	return dst
}
