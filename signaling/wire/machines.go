package wire

import "fmt"

// Machines is a gateway's report of the machines it reaches (Intel AMT machines whose CIRA
// link to MPS is up), agent → relay. A gateway reaching thousands of machines reports changes
// only: a full list when it connects (Reset on its first report, further reports continuing
// it), then the machines whose link came up or went down.
type Machines struct {
	// Reset starts a full list: machines not listed in it or in the reports that follow are
	// down.
	Reset bool     `json:"reset,omitempty"`
	Up    []string `json:"up,omitempty"`
	Down  []string `json:"down,omitempty"`
}

// Bounds of a machines report.
const (
	// MaxMachinesPerReport keeps a report well under MaxMessageSize (a GUID is 36 characters).
	MaxMachinesPerReport = 512
	// MaxTargetLen bounds a machine's address on its gateway.
	MaxTargetLen = 64
)

// Check reports whether the report is within bounds, each target a plain token.
func (m Machines) Check() error {
	if len(m.Up)+len(m.Down) > MaxMachinesPerReport {
		return fmt.Errorf("%w: %d machines in one report, at most %d", ErrBadMessage, len(m.Up)+len(m.Down), MaxMachinesPerReport)
	}
	for _, list := range [][]string{m.Up, m.Down} {
		for _, t := range list {
			if err := CheckTarget(t); err != nil {
				return err
			}
		}
	}
	return nil
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
