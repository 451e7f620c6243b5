package agent

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// ErrSourceNotSupported is returned for a --source this build cannot open yet.
var ErrSourceNotSupported = errors.New("video source not supported")

// OpenDevice opens the device a --source spec names. Specs are URL-ish so sources to come fit:
// "testpattern", "mjpeg+http://pikvm.local/streamer/stream", "vnc://host:5900",
// "amt+mps://mps.example.com/GUID". It returns the device and the source kind to report.
func OpenDevice(spec string, width, height, fps int) (Device, string, error) {
	kind, _, _ := strings.Cut(spec, ":")
	switch kind {
	case "testpattern":
		src, err := testpattern.New(testpattern.Config{Width: width, Height: height, FPS: fps})
		if err != nil {
			return nil, "", fmt.Errorf("agent: open test pattern: %w", err)
		}
		return src, "testpattern", nil
	case "mjpeg+http", "mjpeg+https", "vnc", "amt+mps", "v4l2":
		return nil, "", fmt.Errorf("%w: %q is planned but not built yet; use --source testpattern", ErrSourceNotSupported, spec)
	}
	return nil, "", fmt.Errorf("%w: %q; use testpattern (later: mjpeg+http://…, vnc://…, amt+mps://…)", ErrSourceNotSupported, spec)
}
