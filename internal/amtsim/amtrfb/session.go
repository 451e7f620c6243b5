package amtrfb

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// session is one client's connection after the handshake. Everything but reading the
// client's messages runs on Serve's goroutine.
type session struct {
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	screen Screen
	cfg    Config
	log    *slog.Logger

	pf    rfb.PixelFormat
	tiles *tileEncoder
	pay   payloader
	encs  encodingSet

	zlibOn     bool
	decimation byte

	size   image.Point // the size the client knows
	cur    *image.RGBA // the picture being served
	shadow *image.RGBA // what the client has, where known says so
	known  []bool      // per 64×64 tile of the grid: the client has shadow's pixels
	stride int         // tiles per row of known

	pending bool
	full    bool
	region  image.Rectangle
}

// Decimation modes of KvmExtCmd 2.
const (
	decimationOff  = 1
	decimationAuto = 2
	decimationOn   = 3
)

func (s *session) setFormat(pf rfb.PixelFormat) {
	s.pf = pf
	if s.tiles == nil {
		s.tiles = &tileEncoder{}
	}
	s.tiles.enc = newEncoder(pf)
}

// run serves updates and input until the client leaves, ctx ends or a fault strikes.
func (s *session) run(ctx context.Context) error {
	msgs := make(chan clientMsg)
	errc := make(chan error, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := readMsg(s.r)
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-done:
				return
			}
		}
	}()
	defer func() {
		close(done)
		_ = s.conn.Close()
		wg.Wait()
	}()

	var idle <-chan time.Time
	var timer *time.Timer
	if d := s.cfg.InactivityTimeout; d > 0 {
		timer = time.NewTimer(d)
		defer timer.Stop()
		idle = timer.C
	}
	changed, dirty := s.screen.Changed(), true
	for {
		if s.pending && (s.full || dirty) {
			changed, dirty = s.screen.Changed(), false
			if err := s.update(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case <-changed:
			changed, dirty = nil, true
		case <-idle:
			return fmt.Errorf("%w (%v)", ErrInactive, s.cfg.InactivityTimeout)
		case m := <-msgs:
			if (m.kind == msgKeyEvent || m.kind == msgPointerEvent) && timer != nil {
				timer.Reset(s.cfg.InactivityTimeout)
			}
			if err := s.handle(m); err != nil {
				return err
			}
		}
	}
}

func (s *session) handle(m clientMsg) error {
	switch m.kind {
	case msgSetPixelFormat:
		if !accepted(m.pf) {
			return fmt.Errorf("%w: %s", ErrPixelFormat, m.pf)
		}
		if s.cfg.oversize(m.pf, s.size.X, s.size.Y) {
			return fmt.Errorf("%w: %dx%d at %d bpp", ErrOversize, s.size.X, s.size.Y, m.pf.BitsPerPixel)
		}
		s.setFormat(m.pf)
	case msgSetEncodings:
		if !m.encodings.raw {
			return ErrNoRaw
		}
		announce := m.encodings.kvmData && !s.encs.kvmData
		s.encs = m.encodings
		if announce {
			// The data channel is open: an empty message, which Intel's and MeshCentral's
			// clients take as "ready" (unconfirmed on hardware).
			return s.cutText(rfb.KvmData(nil))
		}
	case msgFramebufferUpdateRequest:
		if s.pending {
			s.region, s.full = s.region.Union(m.rect), s.full || !m.incremental
		} else {
			s.region, s.full, s.pending = m.rect, !m.incremental, true
		}
	case msgKeyEvent:
		if err := s.screen.KeyEvent(m.keysym, m.down); err != nil {
			s.log.Warn("amtrfb: key not passed to the screen", "keysym", m.keysym, "err", err)
		}
	case msgPointerEvent:
		if err := s.screen.PointerEvent(m.mask, m.x, m.y); err != nil {
			s.log.Warn("amtrfb: pointer not passed to the screen", "err", err)
		}
	case msgClientCutText:
		return s.extension(m.text)
	}
	return nil
}

// extension answers Intel's cut-text extensions; plain clipboard text is ignored, as AMT
// has no clipboard.
func (s *session) extension(text []byte) error {
	if cmd, vals, ok := rfb.ParseKvmExtCmd(text); ok {
		return s.kvmExtCmd(cmd, vals)
	}
	payload, _, ok := rfb.ParseKvmData(text)
	if !ok || len(payload) == 0 {
		return nil // clipboard, or the client's keep-alive: nothing comes back
	}
	if s.cfg.KvmData != nil {
		s.cfg.KvmData(payload)
	}
	// Acknowledged with the prefix's last byte non-zero, which is what the reference clients
	// wait for before sending more (unconfirmed on hardware).
	ack := []byte(rfb.KvmDataChannelPrefix)
	ack[len(ack)-1] = 1
	return s.cutText(ack)
}

// kvmExtCmd answers a KvmExtCmd as the reference clients expect: a get with the value, a set
// with its command and the value set.
func (s *session) kvmExtCmd(cmd rfb.KvmExtCmd, vals []byte) error {
	switch cmd {
	case rfb.KvmExtGetDecimation:
		return s.cutText(rfb.KvmExtCmdText(cmd, s.decimation, 0)) // mode, state: not decimating
	case rfb.KvmExtSetDecimation:
		if len(vals) == 0 {
			return nil
		}
		if v := vals[0]; v >= decimationOff && v <= decimationOn {
			s.decimation = v
		}
		return s.cutText(rfb.KvmExtCmdText(cmd, vals[0]))
	case rfb.KvmExtGetZlib:
		return s.cutText(rfb.KvmExtCmdText(cmd, boolByte(s.zlibOn)))
	case rfb.KvmExtSetZlib:
		if len(vals) == 0 {
			return nil
		}
		if on := vals[0] != 0; on != s.zlibOn {
			s.zlibOn = on
			s.pay.reset() // switched back on, compression starts a new stream
		}
		return s.cutText(rfb.KvmExtCmdText(cmd, vals[0]))
	}
	return nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// cutText sends ServerCutText.
func (s *session) cutText(text []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		return fmt.Errorf("amtrfb: send cut text: %w", err)
	}
	hdr := []byte{3, 0, 0, 0, 0, 0, 0, 0}
	hdr[4], hdr[5], hdr[6], hdr[7] = byte(len(text)>>24), byte(len(text)>>16), byte(len(text)>>8), byte(len(text))
	_, _ = s.w.Write(hdr)
	_, _ = s.w.Write(text)
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("amtrfb: send cut text: %w", err)
	}
	return nil
}
