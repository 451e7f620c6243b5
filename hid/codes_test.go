package hid_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
)

var update = flag.Bool("update", false, "rewrite testdata/codes.json from CodeToUsage")

// TestCodesJSON keeps hid/testdata/codes.json, the web console's copy of the table, in sync:
// go test ./hid -run TestCodesJSON -update regenerates it.
func TestCodesJSON(t *testing.T) {
	want, err := json.MarshalIndent(hid.CodeToUsage(), "", "  ") // keys sorted
	require.NoError(t, err)
	want = append(want, '\n')
	path := filepath.Join("testdata", "codes.json")
	if *update {
		require.NoError(t, os.WriteFile(path, want, 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run: go test ./hid -run TestCodesJSON -update")
}

func TestCodeToUsage(t *testing.T) {
	codes := hid.CodeToUsage()
	// The 104 keys of a US keyboard.
	us104 := []string{
		"Escape", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12",
		"PrintScreen", "ScrollLock", "Pause",
		"Backquote", "Digit1", "Digit2", "Digit3", "Digit4", "Digit5", "Digit6", "Digit7", "Digit8",
		"Digit9", "Digit0", "Minus", "Equal", "Backspace",
		"Tab", "KeyQ", "KeyW", "KeyE", "KeyR", "KeyT", "KeyY", "KeyU", "KeyI", "KeyO", "KeyP",
		"BracketLeft", "BracketRight", "Backslash",
		"CapsLock", "KeyA", "KeyS", "KeyD", "KeyF", "KeyG", "KeyH", "KeyJ", "KeyK", "KeyL",
		"Semicolon", "Quote", "Enter",
		"ShiftLeft", "KeyZ", "KeyX", "KeyC", "KeyV", "KeyB", "KeyN", "KeyM", "Comma", "Period",
		"Slash", "ShiftRight",
		"ControlLeft", "MetaLeft", "AltLeft", "Space", "AltRight", "MetaRight", "ContextMenu",
		"ControlRight",
		"Insert", "Home", "PageUp", "Delete", "End", "PageDown",
		"ArrowUp", "ArrowLeft", "ArrowDown", "ArrowRight",
		"NumLock", "NumpadDivide", "NumpadMultiply", "NumpadSubtract",
		"Numpad7", "Numpad8", "Numpad9", "NumpadAdd", "Numpad4", "Numpad5", "Numpad6",
		"Numpad1", "Numpad2", "Numpad3", "NumpadEnter", "Numpad0", "NumpadDecimal",
	}
	require.Len(t, us104, 104)
	seen := map[hid.Usage]string{}
	for _, code := range us104 {
		u, ok := codes[code]
		require.True(t, ok, code)
		require.Empty(t, seen[u], "%s and %s share usage %#x", code, seen[u], u)
		seen[u] = code
	}
	for _, code := range []string{"IntlBackslash", "IntlRo", "IntlYen", "AudioVolumeMute", "F24", "Lang1"} {
		assert.Contains(t, codes, code)
	}
	assert.Equal(t, hid.Usage(0x04), codes["KeyA"])
	assert.Equal(t, hid.Usage(0x27), codes["Digit0"])
	assert.Equal(t, hid.Usage(0x62), codes["Numpad0"])
	assert.Equal(t, hid.Usage(0x73), codes["F24"])
	assert.Equal(t, hid.UsageRightGUI, codes["MetaRight"])

	for code, u := range codes {
		assert.True(t, u.Valid(), "%s → %#x", code, u)
		assert.NotZero(t, hid.UsageToKeysym(u, false), "%s (%#x) has no keysym", code, u)
	}

	codes["KeyA"] = 0x99
	assert.Equal(t, hid.Usage(0x04), hid.CodeToUsage()["KeyA"], "every call returns a fresh map")
}
