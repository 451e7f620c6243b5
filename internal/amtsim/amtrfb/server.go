package amtrfb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/rfb"
)

// Serve speaks AMT's RFB to the client on conn, showing screen, until the client leaves
// (nil), ctx ends (ctx.Err()), or a fault or error ends the session. It owns conn and closes
// it when it returns.
func Serve(ctx context.Context, conn net.Conn, screen Screen, cfg Config) error {
	cfg = cfg.withDefaults()
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	s := &session{
		conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriterSize(conn, 64<<10),
		screen: screen, cfg: cfg, log: cfg.Logger, zlibOn: !cfg.ZlibOff,
		decimation: decimationAuto,
	}
	s.setFormat(*cfg.PixelFormat)
	err := s.handshake()
	if err == nil {
		err = s.run(ctx)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return nil // the client closed between messages
	}
	return err
}

// handshake runs version, security None, ClientInit and ServerInit, with the faults that
// strike there.
func (s *session) handshake() error {
	if err := s.conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout)); err != nil {
		return fmt.Errorf("amtrfb: handshake: %w", err)
	}
	if _, err := io.WriteString(s.conn, s.cfg.Version); err != nil {
		return fmt.Errorf("amtrfb: send version: %w", err)
	}
	var v [12]byte
	if _, err := io.ReadFull(s.r, v[:]); err != nil {
		return fmt.Errorf("amtrfb: read client version: %w", err)
	}
	minor, err := strconv.Atoi(string(v[8:11]))
	if string(v[:8]) != "RFB 003." || v[11] != '\n' || err != nil || minor < 3 {
		return fmt.Errorf("%w: client version %q", ErrProtocol, v[:])
	}
	if minor >= 7 {
		if _, err := s.conn.Write([]byte{1, rfb.SecurityNone}); err != nil {
			return fmt.Errorf("amtrfb: send security types: %w", err)
		}
		t, err := s.r.ReadByte()
		if err != nil {
			return fmt.Errorf("amtrfb: read security type: %w", err)
		}
		if t != rfb.SecurityNone {
			return fmt.Errorf("%w: security type %d (only None is offered)", ErrProtocol, t)
		}
		if minor >= 8 {
			if _, err := s.conn.Write([]byte{0, 0, 0, 0}); err != nil {
				return fmt.Errorf("amtrfb: send security result: %w", err)
			}
		}
	} else if _, err := s.conn.Write([]byte{0, 0, 0, rfb.SecurityNone}); err != nil {
		return fmt.Errorf("amtrfb: send security type: %w", err)
	}
	if _, err := s.r.ReadByte(); err != nil { // ClientInit: shared or not, AMT has one viewer
		return fmt.Errorf("amtrfb: read ClientInit: %w", err)
	}
	s.cur = s.screen.Snapshot(s.cur)
	w, h := s.cur.Rect.Dx(), s.cur.Rect.Dy()
	if s.cfg.oversize(s.pf, w, h) {
		// AMT closes here when its display buffer cannot hold the screen: MeshCentral reads a
		// close at exactly this point as "needs 8 bpp or an unsupported GPU".
		return fmt.Errorf("%w: %dx%d at %d bpp", ErrOversize, w, h, s.pf.BitsPerPixel)
	}
	init := make([]byte, 0, 24+len(s.cfg.Name))
	init = binary.BigEndian.AppendUint16(init, uint16(w))
	init = binary.BigEndian.AppendUint16(init, uint16(h))
	init = append(init, s.pf.Marshal()...)
	init = binary.BigEndian.AppendUint32(init, uint32(len(s.cfg.Name)))
	if _, err := s.conn.Write(append(init, s.cfg.Name...)); err != nil {
		return fmt.Errorf("amtrfb: send ServerInit: %w", err)
	}
	s.size = image.Pt(w, h)
	if s.cfg.DropAfterServerInit {
		return ErrDropped
	}
	if err := s.conn.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("amtrfb: handshake: %w", err)
	}
	s.log.Debug("amtrfb: session started", "width", w, "height", h, "client_minor", minor)
	return nil
}
