// Package cli holds what kvmrelay's commands share: flags that fall back to environment
// variables, and parsing of the flag value types the commands use.
package cli

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// EnvName is the environment variable for a flag: prefix + upper-case name, dashes as
// underscores ("turn-listen" → "KVMRELAY_TURN_LISTEN").
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs that was not given on the command line from its environment
// variable, if that is set. Flags given explicitly win.
func ApplyEnv(fs *flag.FlagSet, prefix string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(prefix, f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(prefix, f.Name), v, e)
			}
		}
	})
	return err
}

// Prefixes parses a comma-separated list of CIDRs (or bare addresses, taken as /32 or /128).
func Prefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address: %w", part, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Size parses "WIDTHxHEIGHT", both even and within 16…7680 × 16…4320.
func Size(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		w, err = strconv.Atoi(ws)
		if err == nil {
			h, err = strconv.Atoi(hs)
		}
	}
	if !ok || err != nil || w < 16 || h < 16 || w > 7680 || h > 4320 || w%2 != 0 || h%2 != 0 {
		return 0, 0, fmt.Errorf("size %q: want WIDTHxHEIGHT with even numbers, e.g. 1920x1080", s)
	}
	return w, h, nil
}

// PortRange parses "LOW-HIGH" ("" is 0,0: any port).
func PortRange(s string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if ok {
		var x, y uint64
		x, err = strconv.ParseUint(a, 10, 16)
		if err == nil {
			y, err = strconv.ParseUint(b, 10, 16)
		}
		if err == nil && x > 0 && x <= y {
			return uint16(x), uint16(y), nil
		}
	}
	return 0, 0, fmt.Errorf("port range %q: want LOW-HIGH, e.g. 49152-65535", s)
}
