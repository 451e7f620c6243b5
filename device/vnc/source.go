// Package vnc is the VNC video source and input sink: vnc://[:PASSWORD@]HOST[:PORT] (port
// 5900 by default). The password may instead come from KVMAGENT_VNC_PASSWORD (through
// device.Options.Lookup), which keeps it off the command line; a password in the spec wins.
// Frames come as the server sends updates, converted to I420 only where they changed; input
// goes to the server as RFB key and pointer events.
package vnc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// Scheme is the --source scheme of VNC servers.
const Scheme = "vnc"

// PasswordEnv names the secret that holds the VNC password when the spec has none.
const PasswordEnv = "KVMAGENT_VNC_PASSWORD"

// DefaultPort is the VNC port of display :0.
const DefaultPort = 5900

// writeTimeout bounds one write to the server: a server that stops reading ends the
// connection instead of blocking input forever.
const writeTimeout = 10 * time.Second

// Source is a VNC server a spec names.
type Source struct {
	addr     string
	password string
	opts     device.Options
	// KeyMap turns usages into keysyms; nil is the US layout (hid.UsageToKeysym).
	KeyMap KeyMap
	// RFB tunes the protocol client (pixel format, encodings); its Password is ignored.
	RFB rfb.Config
}

const specHelp = "want vnc://[:PASSWORD@]HOST[:PORT]"

// NewSource is the device.SourceFactory of vnc:// specs.
func NewSource(spec *url.URL, opts device.Options) (device.Source, error) {
	if spec.Opaque != "" || spec.Host == "" {
		return nil, fmt.Errorf("vnc: no host; %s", specHelp)
	}
	if spec.Path != "" && spec.Path != "/" || spec.RawQuery != "" || spec.Fragment != "" {
		return nil, fmt.Errorf("vnc: unexpected path or query; %s", specHelp)
	}
	host, port := spec.Hostname(), spec.Port()
	if port == "" {
		port = strconv.Itoa(DefaultPort)
	} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("vnc: bad port %q; %s", port, specHelp)
	}
	s := &Source{addr: net.JoinHostPort(host, port), opts: opts}
	if pw, ok := spec.User.Password(); ok && pw != "" {
		s.password = pw
	} else if opts.Lookup != nil {
		if pw, ok := opts.Lookup(PasswordEnv); ok {
			s.password = pw
		}
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.Default()
	}
	if s.opts.DialTimeout <= 0 {
		s.opts.DialTimeout = 10 * time.Second
	}
	return s, nil
}

// String names the server without its password.
func (s *Source) String() string { return "vnc://" + s.addr }

// Open dials the server, runs the RFB handshake and starts reading updates.
func (s *Source) Open(ctx context.Context) (device.Conn, error) {
	v, err := s.open(ctx)
	if err != nil {
		return device.Conn{}, err
	}
	return v.deviceConn(s.KeyMap), nil
}

func (s *Source) open(ctx context.Context) (*Video, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot reach the VNC server: %w", s, err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	// The handshake stops when ctx does, not only at its deadline.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	cfg := s.RFB
	cfg.Password = s.password
	client, err := rfb.NewClient(writeDeadline{nc}, cfg)
	stop()
	if err != nil {
		_ = nc.Close()
		return nil, s.explain(err)
	}
	_ = nc.SetDeadline(time.Time{})
	v := newVideo(client, nc, videoConfig{FPS: s.opts.FPS, Logger: s.opts.Logger.With("source", s.String())})
	if err := v.start(); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	w, h := client.Size()
	s.opts.Logger.Info("vnc connected", "source", s.String(), "desktop", client.Name(),
		"size", fmt.Sprintf("%dx%d", w, h), "protocol", client.Version().String(),
		"server_pixel_format", client.ServerPixelFormat().String())
	return v, nil
}

// explain words a handshake failure for the operator, in one line.
func (s *Source) explain(err error) error {
	set := fmt.Sprintf("set it with vnc://:PASSWORD@%s or %s", s.addr, PasswordEnv)
	switch {
	case errors.Is(err, rfb.ErrAuthFailed):
		return fmt.Errorf("%s: the VNC server refused the password; %s: %w", s, set, err)
	case errors.Is(err, rfb.ErrPasswordRequired):
		return fmt.Errorf("%s: the VNC server requires a password; %s: %w", s, set, err)
	case errors.Is(err, rfb.ErrSecurityUnsupported):
		return fmt.Errorf("%s: enable VNC password or no authentication on the server: %w", s, err)
	case errors.Is(err, rfb.ErrPixelFormat):
		return fmt.Errorf("%s: pixel format not supported: %w", s, err)
	case errors.Is(err, rfb.ErrRefused):
		return fmt.Errorf("%s: %w", s, err)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("%s: the server did not complete the VNC handshake in time (is it a VNC server?): %w", s, err)
	}
	return fmt.Errorf("%s: VNC handshake: %w", s, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeDeadline gives every write to the server its own deadline.
type writeDeadline struct{ net.Conn }

func (c writeDeadline) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Conn.Write(b)
}

// connVideo is the Video of a device.Conn: closing it also stops the input's motion timer.
type connVideo struct {
	*Video
	in *input
}

func (c *connVideo) Close() error {
	c.in.close()
	return c.Video.Close()
}
