package vnc

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/rfb"
)

// AttachConfig tunes a connection Attach serves; zero fields take defaults.
type AttachConfig struct {
	// FPS is the steady frame rate an unchanged picture is handed out again at.
	FPS int
	// KeyMap turns usages into keysyms; nil is the US layout until the console names one.
	KeyMap KeyMap
	Logger *slog.Logger
}

// Attach serves an RFB session that another transport opened and handshook (Intel AMT's
// redirection through MPS, or directly) as a device connection: the same damage-driven video
// and keysym input as a vnc:// source. conn is what client reads; closing the returned Video
// closes it.
func Attach(client *rfb.Client, conn net.Conn, cfg AttachConfig) (device.Conn, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v := newVideo(client, conn, videoConfig{FPS: cfg.FPS, Logger: cfg.Logger})
	if err := v.start(); err != nil {
		return device.Conn{}, fmt.Errorf("rfb: first update request: %w", err)
	}
	return v.deviceConn(cfg.KeyMap), nil
}

// deviceConn pairs an open video with its input.
func (v *Video) deviceConn(keymap KeyMap) device.Conn {
	in := newInput(v.client, v, keymap, v.repeat)
	return device.Conn{Video: &connVideo{Video: v, in: in}, Input: in}
}
