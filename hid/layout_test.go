package hid_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/hidtest"
)

func TestLayoutEnUSTypesPrintableASCII(t *testing.T) {
	l := hid.LayoutEnUS()
	for r := rune(' '); r <= '~'; r++ {
		k, ok := l.Strokes(r)
		require.True(t, ok, "%q", r)
		require.Zero(t, k.Dead, "%q needs no dead key", r)
		assert.False(t, k.Key.AltGr, "%q", r)
		// ASCII keysyms equal code points, so the keysym table checks the layout.
		assert.Equal(t, uint32(r), hid.UsageToKeysym(k.Key.Usage, k.Key.Shift), "%q typed as %+v", r, k)
	}
}

func TestLayoutEnUS(t *testing.T) {
	tests := []struct {
		r    rune
		want hid.Stroke
		ok   bool
	}{
		{'a', hid.Stroke{Usage: hid.UsageA}, true},
		{'Z', hid.Stroke{Usage: hid.UsageZ, Shift: true}, true},
		{'0', hid.Stroke{Usage: hid.Usage0}, true},
		{')', hid.Stroke{Usage: hid.Usage0, Shift: true}, true},
		{'\\', hid.Stroke{Usage: 0x31}, true}, // Backslash, not Non-US #
		{'<', hid.Stroke{Usage: 0x36, Shift: true}, true},
		{' ', hid.Stroke{Usage: hid.UsageSpace}, true},
		{'\n', hid.Stroke{Usage: hid.UsageEnter}, true},
		{'\r', hid.Stroke{Usage: hid.UsageEnter}, true},
		{'\t', hid.Stroke{Usage: hid.UsageTab}, true},
		{'\x00', hid.Stroke{}, false},
		{'\x1b', hid.Stroke{}, false},
		{'\x7f', hid.Stroke{}, false},
		{'é', hid.Stroke{}, false},
		{'€', hid.Stroke{}, false},
	}
	for _, tt := range tests {
		k, ok := hid.LayoutEnUS().Strokes(tt.r)
		assert.Equal(t, tt.ok, ok, "%q", tt.r)
		assert.Equal(t, hid.Keystroke{Key: tt.want}, k, "%q", tt.r)
	}
}

// UsageToKeysym stays the US fast path: the generated en-US table agrees with it everywhere.
func TestLayoutEnUSKeysymsMatchUsageToKeysym(t *testing.T) {
	l := hid.LayoutEnUS()
	for u := hid.Usage(0); u <= 0xFF; u++ {
		for _, shift := range []bool{false, true} {
			assert.Equal(t, hid.UsageToKeysym(u, shift), l.Keysym(u, shift, false), "usage %#x shift %t", u, shift)
			assert.Equal(t, hid.UsageToKeysym(u, shift), hid.KeysymFor(nil, u, shift, false), "usage %#x shift %t", u, shift)
		}
	}
}

func TestLayoutByName(t *testing.T) {
	assert.Equal(t, []string{"en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "sv-SE", "ja-JP"}, hid.LayoutNames())
	for _, name := range hid.LayoutNames() {
		l, err := hid.LayoutByName(name)
		require.NoError(t, err)
		assert.Equal(t, name, l.Name())
	}
	for alias, want := range map[string]string{"de-de": "de-DE", "DE": "de-DE", "se": "sv-SE", "jp": "ja-JP", "gb": "en-GB"} {
		l, err := hid.LayoutByName(alias)
		require.NoError(t, err, alias)
		assert.Equal(t, want, l.Name(), alias)
	}
	_, err := hid.LayoutByName("klingon")
	require.ErrorIs(t, err, hid.ErrUnknownLayout)
	assert.Contains(t, err.Error(), "known: en-US, en-GB")
}

func TestLayoutUntypable(t *testing.T) {
	de, err := hid.LayoutByName("de-DE")
	require.NoError(t, err)
	assert.Equal(t, []rune{'日', '本', 'ℵ'}, de.Untypable("Grüße, é€@日本ℵ日\n"))
	assert.Nil(t, de.Untypable("ok"))
}

func TestWalkText(t *testing.T) {
	var got []hid.Stroke
	typed, skipped, done := hid.WalkText(hid.LayoutEnUS(), "a\r\nb\rc\n\né€\x00", func(s hid.Stroke) bool {
		got = append(got, s)
		return true
	})
	enter := hid.Stroke{Usage: hid.UsageEnter}
	assert.Equal(t, []hid.Stroke{{Usage: hid.UsageA}, enter, {Usage: 0x05}, enter, {Usage: 0x06}, enter, enter}, got)
	assert.Equal(t, 7, typed)
	assert.Equal(t, 3, skipped)
	assert.True(t, done)

	typed, _, done = hid.WalkText(hid.LayoutEnUS(), "abc", func(hid.Stroke) bool { return false })
	assert.Zero(t, typed)
	assert.False(t, done)

	// A dead key sequence is two presses for one character.
	de, err := hid.LayoutByName("de-DE")
	require.NoError(t, err)
	got = nil
	typed, skipped, done = hid.WalkText(de, "é", func(s hid.Stroke) bool { got = append(got, s); return true })
	assert.Equal(t, []hid.Stroke{{Usage: 0x2E}, {Usage: 0x08}}, got)
	assert.Equal(t, 1, typed)
	assert.Zero(t, skipped)
	assert.True(t, done)
}

func TestDispatcherTypesThroughLayout(t *testing.T) {
	de, err := hid.LayoutByName("de-DE")
	require.NoError(t, err)
	f := newFixture(t, hid.Config{Layout: de})
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "zÜ@è"}))
	require.True(t, f.d.TypeNext(context.Background()))
	const altGr = hid.UsageRightAlt
	assert.Equal(t, []hidtest.Event{
		down(0x1C), up(0x1C), // z is where a US keyboard has Y
		down(shift), down(0x2F), up(0x2F), up(shift), // Ü
		down(altGr), down(0x14), up(0x14), up(altGr), // @ is AltGr+Q
		down(shift), down(0x2E), up(0x2E), up(shift), down(0x08), up(0x08), // è: dead grave (Shift+´), then e
	}, f.rec.Events())
	assert.EqualValues(t, 4, f.d.Stats().Snapshot().TextTyped)

	f.d.SetLayout(nil)
	assert.Equal(t, "en-US", f.d.Layout().Name())
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "z"}))
	require.True(t, f.d.TypeNext(context.Background()))
	assert.Equal(t, []hidtest.Event{down(0x1D), up(0x1D)}, f.rec.Events()[16:])
}

// The console names the target's layout with LAYOUT: TEXT types through it, the callback hands
// it to key-translating sinks, and an unknown name changes nothing and is counted.
func TestDispatcherLayoutMessage(t *testing.T) {
	var got []string
	f := newFixture(t, hid.Config{OnLayout: func(l *hid.Layout) { got = append(got, l.Name()) }})
	f.d.HandleHID(enc(t, hid.LayoutMsg{Name: "de-DE"}))
	assert.Equal(t, "de-DE", f.d.Layout().Name())
	assert.Equal(t, []string{"de-DE"}, got)
	f.d.HandleHID(enc(t, hid.TextMsg{Text: "z"}))
	require.True(t, f.d.TypeNext(context.Background()))
	assert.Equal(t, []hidtest.Event{down(0x1C), up(0x1C)}, f.rec.Events(), "z where a US keyboard has Y")

	f.d.HandleHID(enc(t, hid.LayoutMsg{Name: "xx-XX"}))
	assert.Equal(t, "de-DE", f.d.Layout().Name(), "an unknown layout changes nothing")
	assert.Equal(t, []string{"de-DE"}, got)
	assert.EqualValues(t, 1, f.d.Stats().Snapshot().HID.Dropped[hid.DropOutOfRange])
}
