package apf

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrBadGUID means a GUID string is not five dash-separated groups of 8-4-4-4-12 hex digits.
var ErrBadGUID = errors.New("apf: malformed GUID")

// GUID is an AMT system UUID in its textual byte order (the order of the hex digits in
// "12345678-9abc-def0-1234-56789abcdef0"). On the wire APF carries it in GUID byte order, the
// first three groups little-endian; AppendWire and FromWire convert.
type GUID [16]byte

// ParseGUID parses "12345678-9abc-def0-1234-56789abcdef0", upper or lower case.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("%w: %q", ErrBadGUID, s)
	}
	digits := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(g[:], []byte(digits)); err != nil {
		return GUID{}, fmt.Errorf("%w: %q", ErrBadGUID, s)
	}
	return g, nil
}

// String formats the GUID in lowercase, as MPS stores and compares it.
func (g GUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler.
func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *GUID) UnmarshalText(b []byte) error {
	p, err := ParseGUID(string(b))
	if err != nil {
		return err
	}
	*g = p
	return nil
}

// wire returns the GUID in GUID byte order: the first three groups reversed.
func (g GUID) wire() [16]byte {
	w := g
	w[0], w[1], w[2], w[3] = g[3], g[2], g[1], g[0]
	w[4], w[5] = g[5], g[4]
	w[6], w[7] = g[7], g[6]
	return w
}

// guidFromWire is the inverse of wire (the swap is its own inverse).
func guidFromWire(w [16]byte) GUID { return GUID(GUID(w).wire()) }
