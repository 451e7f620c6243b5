// Package builtin is the catalog of every video source and input device this build can open,
// by URL scheme. Only cmd/ imports it: the agent and the device seam know no protocol.
package builtin

import (
	"errors"
	"fmt"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/device/amt"
	"github.com/kvmrelay/kvmrelay/device/h264http"
	"github.com/kvmrelay/kvmrelay/device/mjpeg"
	"github.com/kvmrelay/kvmrelay/device/rtsp"
	"github.com/kvmrelay/kvmrelay/device/usbgadget"
	"github.com/kvmrelay/kvmrelay/device/v4l2"
	"github.com/kvmrelay/kvmrelay/device/vnc"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// Catalog returns the built-in factories.
func Catalog() device.Catalog {
	return device.Catalog{
		Sources: map[string]device.SourceFactory{
			testpattern.Scheme:   testpattern.NewDeviceSource,
			vnc.Scheme:           vnc.NewSource,
			mjpeg.SchemeHTTP:     mjpeg.NewSource,
			mjpeg.SchemeHTTPS:    mjpeg.NewSource,
			h264http.SchemeHTTP:  h264http.NewSource,
			h264http.SchemeHTTPS: h264http.NewSource,
			rtsp.Scheme:          rtsp.NewSource,
			rtsp.SchemeTLS:       rtsp.NewSource,
			// V4L2's MJPEG frames go through the same decoder as MJPEG streams: libjpeg-turbo
			// when built with cgo.
			v4l2.Scheme: v4l2.NewDeviceSource,
			// Intel AMT, through MPS or directly.
			amt.SchemeMPS:     amt.NewSource,
			amt.SchemeMPSHTTP: amt.NewSource,
			amt.SchemeDirect:  amt.NewSource,
		},
		Sinks: map[string]device.SinkFactory{
			usbgadget.Scheme: usbgadget.NewSink,
		},
		// An amt+mps spec without a GUID: every machine of the MPS, each its own device.
		Gateways: map[string]device.GatewayFactory{
			amt.SchemeMPS:     amt.NewGateway,
			amt.SchemeMPSHTTP: amt.NewGateway,
		},
	}
}

// Selection is what the --source and --hid flags chose, ready for agent.Config.
type Selection struct {
	// Source is the machine; nil when Gateway is set.
	Source device.Source
	// Gateway serves many machines (an MPS's AMT machines), each a device of its own.
	Gateway device.Gateway
	// Kind is the source's scheme, reported to the relay.
	Kind string
	// Input is an input device of its own (nil: the source's own input).
	Input device.Sink
	// ViewOnly drops all input (--hid none).
	ViewOnly bool
}

// Close releases the input device, if one was opened.
func (s Selection) Close() error {
	if s.Input != nil {
		return s.Input.Close()
	}
	return nil
}

// Open resolves the --source and --hid flags through the built-in catalog. Nothing connects
// yet: the agent's supervisor does, and keeps retrying a source that is down.
func Open(sourceSpec, hidSpec string, opts device.Options) (Selection, error) {
	c := Catalog()
	sel := Selection{Kind: device.Kind(sourceSpec)}
	gw, err := c.Gateway(sourceSpec, opts)
	switch {
	case err == nil:
		sel.Gateway = gw
	case errors.Is(err, device.ErrUnknownScheme), errors.Is(err, device.ErrOneMachine):
		if sel.Source, err = c.Source(sourceSpec, opts); err != nil {
			return Selection{}, err
		}
	default:
		return Selection{}, err
	}
	if sel.Input, sel.ViewOnly, err = c.Input(hidSpec); err != nil {
		return Selection{}, err
	}
	if sel.Gateway != nil && sel.Input != nil {
		_ = sel.Input.Close()
		return Selection{}, fmt.Errorf("--hid %s: a gateway's machines bring their own input (AMT's); use --hid source or none", hidSpec)
	}
	return sel, nil
}
