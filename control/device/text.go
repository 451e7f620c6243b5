package device

import (
	"fmt"
	"maps"
	"slices"

	"github.com/kvmrelay/kvmrelay/control/store"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
)

// Limits on what an admin may store about a device.
const (
	MaxNameLen   = 128 // bytes
	MaxLabels    = 32
	MaxLabelText = 64 // bytes, per key and per value
)

// CheckText refuses text an admin gives a device (what names it: "name", `label key "site"`)
// that is empty, longer than max bytes, not UTF-8, or holds a character safetext.Hidden
// reports — exactly what CleanText strips from agent text.
// The error says which character, at which position (counted in characters from 1), and what
// is allowed; it wraps store.ErrInvalid.
func CheckText(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1 to %d bytes (it is %d): %w", what, max, len(s), store.ErrInvalid)
	}
	if p, bad := safetext.First(s); bad {
		return fmt.Errorf("%s has %s; %s: %w", what, p, safetext.Allowed, store.ErrInvalid)
	}
	return nil
}

// CheckFields checks a device's name and labels as CheckText does, labels in key order so
// the same input always names the same problem.
func CheckFields(name string, labels map[string]string) error {
	if err := CheckText("name", name, MaxNameLen); err != nil {
		return err
	}
	if len(labels) > MaxLabels {
		return fmt.Errorf("at most %d labels (got %d): %w", MaxLabels, len(labels), store.ErrInvalid)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := CheckText(fmt.Sprintf("label key %q", k), k, MaxLabelText); err != nil {
			return err
		}
		if labels[k] == "" {
			continue // a label may have an empty value: "k=" selects on presence
		}
		if err := CheckText(fmt.Sprintf("label %q value", k), labels[k], MaxLabelText); err != nil {
			return err
		}
	}
	return nil
}
