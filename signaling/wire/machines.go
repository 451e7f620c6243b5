package wire

import (
	"fmt"

	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// Machines is a gateway's report of the machines it reaches (Intel AMT machines whose CIRA
// link to MPS is up), agent → relay. A gateway reaching thousands of machines reports changes
// only: a full list when it connects (Reset on its first report, further reports continuing
// it), then the machines whose link came up or went down.
type Machines struct {
	// Reset starts a full list: machines not listed in it or in the reports that follow are
	// down. More marks every part of a full list but its last.
	Reset bool      `json:"reset,omitempty"`
	More  bool      `json:"more,omitempty"`
	Up    []Machine `json:"up,omitempty"`
	Down  []string  `json:"down,omitempty"`
}

// Machine is one machine whose link is up, as the gateway's service lists it: the relay
// creates the device rows of machines whose tags the gateway was told to serve.
type Machine struct {
	Target string   `json:"target"`
	Name   string   `json:"name,omitempty"`
	Tags   []string `json:"tags,omitempty"`
}

// Bounds of a machines report.
const (
	// MaxMachinesPerReport bounds a report's entries; senders also keep a report's encoding
	// under MaxMachinesReportBytes.
	MaxMachinesPerReport = 512
	// MaxMachinesReportBytes is what a sender fills a report up to, well under MaxMessageSize.
	MaxMachinesReportBytes = 48 << 10
	// MaxTargetLen bounds a machine's address on its gateway.
	MaxTargetLen = 64
	// MaxMachineName, MaxMachineTags and MaxMachineTag bound what the service says of it.
	MaxMachineName = 64
	MaxMachineTags = 8
	MaxMachineTag  = 64
)

// Check reports whether the report is within bounds: each target a plain token, names and
// tags printable text within their bounds.
func (m Machines) Check() error {
	if len(m.Up)+len(m.Down) > MaxMachinesPerReport {
		return fmt.Errorf("%w: %d machines in one report, at most %d", ErrBadMessage, len(m.Up)+len(m.Down), MaxMachinesPerReport)
	}
	for _, u := range m.Up {
		if err := u.Check(); err != nil {
			return err
		}
	}
	for _, t := range m.Down {
		if err := CheckTarget(t); err != nil {
			return err
		}
	}
	return nil
}

// Check reports whether one machine is within bounds.
func (m Machine) Check() error {
	if err := CheckTarget(m.Target); err != nil {
		return err
	}
	if len(m.Name) > MaxMachineName {
		return fmt.Errorf("%w: machine name of %d bytes", ErrBadMessage, len(m.Name))
	}
	if p, bad := safetext.First(m.Name); bad {
		return fmt.Errorf("%w: machine name has %s", ErrBadMessage, p)
	}
	if len(m.Tags) > MaxMachineTags {
		return fmt.Errorf("%w: %d tags", ErrBadMessage, len(m.Tags))
	}
	for _, tag := range m.Tags {
		if tag == "" || len(tag) > MaxMachineTag {
			return fmt.Errorf("%w: tag of %d bytes", ErrBadMessage, len(tag))
		}
		if p, bad := safetext.First(tag); bad {
			return fmt.Errorf("%w: tag has %s", ErrBadMessage, p)
		}
	}
	return nil
}

// Clean bounds what a service said of a machine to what Check accepts (hostile text is
// stripped, not refused: the machine stays reachable).
func (m Machine) Clean() Machine {
	out := Machine{Target: m.Target, Name: safetext.Clean(m.Name, MaxMachineName)}
	for _, tag := range m.Tags {
		if tag = safetext.Clean(tag, MaxMachineTag); tag != "" && len(out.Tags) < MaxMachineTags {
			out.Tags = append(out.Tags, tag)
		}
	}
	return out
}

// CheckTarget reports whether t can be a machine's address on a gateway: 1 to MaxTargetLen
// letters, digits, '-', '.', ':' or '_'.
func CheckTarget(t string) error {
	if t == "" || len(t) > MaxTargetLen {
		return fmt.Errorf("%w: target of %d bytes", ErrBadMessage, len(t))
	}
	for _, c := range []byte(t) {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '.', c == ':', c == '_':
		default:
			return fmt.Errorf("%w: target has a byte %q", ErrBadMessage, c)
		}
	}
	return nil
}
