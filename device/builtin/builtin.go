// Package builtin is the catalog of every video source and input device this build can open,
// by URL scheme. Only cmd/ imports it: the agent and the device seam know no protocol.
package builtin

import (
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
	}
}

// Selection is what the --source and --hid flags chose, ready for agent.Config.
type Selection struct {
	Source device.Source
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
	src, err := c.Source(sourceSpec, opts)
	if err != nil {
		return Selection{}, err
	}
	sink, viewOnly, err := c.Input(hidSpec)
	if err != nil {
		return Selection{}, err
	}
	return Selection{Source: src, Kind: device.Kind(sourceSpec), Input: sink, ViewOnly: viewOnly}, nil
}
