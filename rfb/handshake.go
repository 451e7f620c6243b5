package rfb

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
)

// Version is the protocol version the client settled on with the server.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// negotiateVersion reads the server's ProtocolVersion and answers the highest version both
// speak: 3.8, 3.7 or 3.3. Servers announcing something else (AMT says 4.0, Apple 3.889) get
// the nearest version at or below it.
func (c *Client) negotiateVersion() error {
	b, err := c.r.Next(12)
	if err != nil {
		return fmt.Errorf("rfb: read protocol version: %w", err)
	}
	if string(b[:4]) != "RFB " || b[7] != '.' || b[11] != '\n' {
		return protoErr("not an RFB server (it said %q)", b)
	}
	major, err1 := strconv.Atoi(string(b[4:7]))
	minor, err2 := strconv.Atoi(string(b[8:11]))
	if err1 != nil || err2 != nil || major < 3 {
		return protoErr("bad protocol version %q", b)
	}
	switch {
	case major > 3 || minor >= 8:
		c.version = Version{3, 8}
	case minor == 7:
		c.version = Version{3, 7}
	default:
		c.version = Version{3, 3}
	}
	return c.write([]byte(fmt.Sprintf("RFB %03d.%03d\n", c.version.Major, c.version.Minor)))
}

// negotiateSecurity picks a security type and authenticates.
func (c *Client) negotiateSecurity() error {
	var offered []uint8
	if c.version.Minor < 7 {
		t, err := c.r.U32()
		if err != nil {
			return fmt.Errorf("rfb: read security type: %w", err)
		}
		if t == SecurityInvalid {
			return c.refused()
		}
		if t > 255 {
			return protoErr("security type %d", t)
		}
		offered = []uint8{uint8(t)}
	} else {
		n, err := c.r.U8()
		if err != nil {
			return fmt.Errorf("rfb: read security types: %w", err)
		}
		if n == 0 {
			return c.refused()
		}
		b, err := c.r.Next(int(n))
		if err != nil {
			return fmt.Errorf("rfb: read security types: %w", err)
		}
		offered = slices.Clone(b)
	}
	var chosen uint8
	switch {
	case slices.Contains(offered, SecurityVNCAuth) && (c.cfg.Password != "" || !slices.Contains(offered, SecurityNone)):
		chosen = SecurityVNCAuth
	case slices.Contains(offered, SecurityNone):
		chosen = SecurityNone
	default:
		return fmt.Errorf("%w: the server offers %v, this client speaks None (1) and VNC authentication (2)", ErrSecurityUnsupported, offered)
	}
	if c.version.Minor >= 7 {
		if err := c.write([]byte{chosen}); err != nil {
			return err
		}
	}
	if chosen == SecurityVNCAuth {
		if c.cfg.Password == "" {
			return ErrPasswordRequired
		}
		challenge, err := c.r.Next(16)
		if err != nil {
			return fmt.Errorf("rfb: read VNC auth challenge: %w", err)
		}
		resp, err := vncAuthResponse(c.cfg.Password, challenge)
		if err != nil {
			return err
		}
		if err := c.write(resp); err != nil {
			return err
		}
	} else if c.version.Minor < 8 {
		// Before 3.8 there is no SecurityResult after None.
		return nil
	}
	result, err := c.r.U32()
	if err != nil {
		return fmt.Errorf("rfb: read security result: %w", err)
	}
	if result == 0 {
		return nil
	}
	reason := ""
	if c.version.Minor >= 8 {
		reason, _, _ = c.r.String(maxReason)
	}
	if reason != "" {
		return fmt.Errorf("%w: %s", ErrAuthFailed, sanitize(reason))
	}
	return ErrAuthFailed
}

// maxReason bounds the failure reasons servers send.
const maxReason = 1024

// refused reads the reason the server gives for refusing the connection.
func (c *Client) refused() error {
	reason, _, err := c.r.String(maxReason)
	if err != nil || reason == "" {
		return ErrRefused
	}
	return fmt.Errorf("%w: %s", ErrRefused, sanitize(reason))
}

// initialise sends ClientInit and reads ServerInit.
func (c *Client) initialise() error {
	if err := c.write([]byte{boolByte(!c.cfg.Exclusive)}); err != nil {
		return err
	}
	b, err := c.r.Next(24)
	if err != nil {
		return fmt.Errorf("rfb: read ServerInit: %w", err)
	}
	w, h := int(binary.BigEndian.Uint16(b)), int(binary.BigEndian.Uint16(b[2:]))
	c.serverPF = parsePixelFormat(b[4:20])
	nameLen := binary.BigEndian.Uint32(b[20:])
	if err := c.checkSize(w, h); err != nil {
		return err
	}
	keep := min(int(min(nameLen, 1<<20)), c.cfg.MaxNameLength)
	name, err := c.r.Next(keep)
	if err != nil {
		return fmt.Errorf("rfb: read desktop name: %w", err)
	}
	c.name = sanitize(string(name))
	if err := c.r.Discard(int64(nameLen) - int64(keep)); err != nil {
		return fmt.Errorf("rfb: read desktop name: %w", err)
	}
	c.resize(w, h)
	return nil
}

// sanitize keeps printable characters of server-supplied text for logs and messages.
func sanitize(s string) string {
	out := []rune{}
	for _, r := range s {
		if r >= ' ' && r != 0x7F && r != 0xFFFD {
			out = append(out, r)
		}
	}
	return string(out)
}
