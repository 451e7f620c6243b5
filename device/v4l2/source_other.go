//go:build !(linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64))

package v4l2

import (
	"fmt"
	"net/url"
	"runtime"

	"github.com/kvmrelay/kvmrelay/device"
)

// NewDeviceSource is the v4l2 scheme's factory where there is no V4L2: it checks the spec and
// says so.
func NewDeviceSource(spec *url.URL, opts device.Options) (device.Source, error) {
	if _, err := ParseSpec(spec, opts); err != nil {
		return nil, err
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%w; this agent runs on %s: use a USB capture dongle on a Linux machine, or an MJPEG/RTSP stream", ErrNeedsLinux, runtime.GOOS)
	}
	return nil, fmt.Errorf("v4l2: capture is not built for %s; use an MJPEG or RTSP stream from the device instead", runtime.GOARCH)
}
