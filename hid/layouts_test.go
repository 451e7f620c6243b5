package hid_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/internal/xkb"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

func key(u hid.Usage) hid.Stroke        { return hid.Stroke{Usage: u} }
func shifted(u hid.Usage) hid.Stroke    { return hid.Stroke{Usage: u, Shift: true} }
func altGr(u hid.Usage) hid.Stroke      { return hid.Stroke{Usage: u, AltGr: true} }
func altGrShift(u hid.Usage) hid.Stroke { return hid.Stroke{Usage: u, Shift: true, AltGr: true} }
func one(s hid.Stroke) hid.Keystroke    { return hid.Keystroke{Key: s} }
func dead(d, k hid.Stroke) hid.Keystroke {
	return hid.Keystroke{Dead: d, Key: k}
}

// Usages by their US legend, to make the tables readable: kQ is the key a US keyboard labels Q.
const (
	kA, kB, kC, kD, kE, kF, kG, kH, kI, kJ hid.Usage = 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D
	kK, kL, kM, kN, kO, kP, kQ, kR, kS, kT hid.Usage = 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17
	kU, kV, kW, kX, kY, kZ                 hid.Usage = 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D
	k1, k2, k3, k4, k5, k6, k7, k8, k9, k0 hid.Usage = 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27
	kSpace, kMinus, kEqual, kLBracket      hid.Usage = 0x2C, 0x2D, 0x2E, 0x2F
	kRBracket, kBackslash, kSemicolon      hid.Usage = 0x30, 0x31, 0x33
	kQuote, kGrave, kComma, kPeriod        hid.Usage = 0x34, 0x35, 0x36, 0x37
	kSlash, kIntlBackslash, kRo, kYen      hid.Usage = 0x38, 0x64, 0x87, 0x89
)

type strokeCase struct {
	r    rune
	want hid.Keystroke
}

// layoutStrokes are characters per layout with the keys that type them, as the xkb layouts
// place them (checked against libxkbcommon by TestLayoutStrokesAgreeWithXkbcommon).
func layoutStrokes() map[string][]strokeCase {
	return map[string][]strokeCase{
		"en-GB": {
			{'#', one(key(kBackslash))}, {'~', one(shifted(kBackslash))}, {'£', one(shifted(k3))},
			{'@', one(shifted(kQuote))}, {'"', one(shifted(k2))}, {'\\', one(key(kIntlBackslash))},
			{'|', one(shifted(kIntlBackslash))}, {'€', one(altGr(k4))}, {'¬', one(shifted(kGrave))},
			{'é', dead(altGr(kSemicolon), key(kE))}, // AltGr+; is dead_acute
		},
		"de-DE": {
			{'z', one(key(kY))}, {'y', one(key(kZ))}, {'Z', one(shifted(kY))}, {'ß', one(key(kMinus))},
			{'ü', one(key(kLBracket))}, {'ö', one(key(kSemicolon))}, {'ä', one(key(kQuote))},
			{'Ä', one(shifted(kQuote))}, {'@', one(altGr(kQ))}, {'€', one(altGr(kE))},
			{'\\', one(altGr(kMinus))}, {'{', one(altGr(k7))}, {'~', one(altGr(kRBracket))},
			{'|', one(altGr(kIntlBackslash))}, {'<', one(key(kIntlBackslash))}, {'"', one(shifted(k2))},
			{'#', one(key(kBackslash))}, {'\'', one(shifted(kBackslash))}, {'&', one(shifted(k6))},
			{'é', dead(key(kEqual), key(kE))}, {'è', dead(shifted(kEqual), key(kE))},
			{'ê', dead(key(kGrave), key(kE))}, {'^', dead(key(kGrave), key(kSpace))},
			{'`', dead(shifted(kEqual), key(kSpace))}, {'´', dead(key(kEqual), key(kEqual))},
		},
		"fr-FR": {
			{'a', one(key(kQ))}, {'q', one(key(kA))}, {'z', one(key(kW))}, {'w', one(key(kZ))},
			{'m', one(key(kSemicolon))}, {'M', one(shifted(kSemicolon))}, {',', one(key(kM))},
			{'1', one(shifted(k1))}, {'0', one(shifted(k0))}, {'&', one(key(k1))},
			{'é', one(key(k2))}, {'è', one(key(k7))}, {'à', one(key(k0))}, {'ç', one(key(k9))},
			{'ù', one(key(kQuote))}, {'@', one(altGr(k0))}, {'€', one(altGr(kE))},
			{'#', one(altGr(k3))}, {'~', one(shifted(kGrave))}, {'$', one(key(kRBracket))},
			{'ê', dead(key(kLBracket), key(kE))}, {'ë', dead(shifted(kLBracket), key(kE))},
			{'^', one(altGr(k9))}, {'Ê', dead(key(kLBracket), shifted(kE))},
			{'¨', dead(shifted(kLBracket), shifted(kLBracket))}, // X11: dead_diaeresis+space is "
		},
		"es-ES": {
			{'ñ', one(key(kSemicolon))}, {'Ñ', one(shifted(kSemicolon))}, {'ç', one(key(kBackslash))},
			{'¿', one(shifted(kEqual))}, {'¡', one(key(kEqual))}, {'@', one(altGr(k2))},
			{'#', one(altGr(k3))}, {'[', one(altGr(kLBracket))}, {'€', one(altGr(kE))},
			{'á', dead(key(kQuote), key(kA))}, {'ü', dead(shifted(kQuote), key(kU))},
			{'à', dead(key(kLBracket), key(kA))}, {'â', dead(shifted(kLBracket), key(kA))},
		},
		"it-IT": {
			{'è', one(key(kLBracket))}, {'é', one(shifted(kLBracket))}, {'à', one(key(kQuote))},
			{'ò', one(key(kSemicolon))}, {'ù', one(key(kBackslash))}, {'ì', one(key(kEqual))},
			{'@', one(altGr(kSemicolon))}, {'#', one(altGr(kQuote))}, {'[', one(altGr(kLBracket))},
			{'\\', one(key(kGrave))}, {'|', one(shifted(kGrave))},
		},
		"sv-SE": {
			{'å', one(key(kLBracket))}, {'ä', one(key(kQuote))}, {'ö', one(key(kSemicolon))},
			{'Å', one(shifted(kLBracket))}, {'@', one(altGr(k2))}, {'€', one(altGr(kE))},
			{'$', one(altGr(k4))}, {'{', one(altGr(k7))}, {'\\', one(altGr(kMinus))},
			{'é', dead(key(kEqual), key(kE))}, {'ü', dead(key(kRBracket), key(kU))},
			{'ñ', dead(altGr(kRBracket), key(kN))}, {'â', dead(shifted(kRBracket), key(kA))},
		},
		"ja-JP": {
			{'\\', one(key(kRo))}, {'_', one(shifted(kRo))}, {'|', one(shifted(kYen))},
			{'@', one(key(kLBracket))}, {'`', one(shifted(kLBracket))}, {'"', one(shifted(k2))},
			{':', one(key(kQuote))}, {'*', one(shifted(kQuote))}, {'^', one(key(kEqual))},
			{'=', one(shifted(kMinus))}, {'[', one(key(kRBracket))}, {']', one(key(kBackslash))},
		},
	}
}

func layout(t *testing.T, name string) *hid.Layout {
	t.Helper()
	l, err := hid.LayoutByName(name)
	require.NoError(t, err)
	return l
}

func TestLayoutStrokes(t *testing.T) {
	for name, cases := range layoutStrokes() {
		l := layout(t, name)
		for _, c := range cases {
			got, ok := l.Strokes(c.r)
			require.True(t, ok, "%s %q", name, c.r)
			assert.Equal(t, c.want, got, "%s %q", name, c.r)
		}
	}
}

func TestLayoutCannotType(t *testing.T) {
	for name, runes := range map[string]string{
		"en-US": "é€£", "de-DE": "ñ", // ~ is no dead key on German keyboards
		"ja-JP": "é¥", // the Yen key types \ under xkb
		"fr-FR": "ñ", "sv-SE": "日",
	} {
		l := layout(t, name)
		for _, r := range runes {
			_, ok := l.Strokes(r)
			assert.False(t, ok, "%s %q", name, r)
		}
		assert.Equal(t, []rune(runes), l.Untypable(runes+"abc"), name)
	}
}

// keyNames maps usages to xkb key names.
func keyNames() map[hid.Usage]string {
	m := map[hid.Usage]string{}
	for _, k := range xkb.Keys() {
		m[hid.Usage(k.Usage)] = k.Name
	}
	return m
}

// Every stroke of the tables above is checked against libxkbcommon's own answer to "how do I
// type this keysym" on the same layout: the expectations are xkb's, not ours.
func TestLayoutStrokesAgreeWithXkbcommon(t *testing.T) {
	xkbcli := testenv.LookPath(t, "xkbcli", "libxkbcommon-tools")
	names := keyNames()
	xkbName := map[string]string{}
	for _, l := range xkb.Layouts() {
		xkbName[l.Name] = l.XKB
	}
	for name, cases := range layoutStrokes() {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // a few hundred short processes
			checkWithXkbcommon(t, xkbcli, xkbName[name], layout(t, name), cases, names)
		})
	}
}

func checkWithXkbcommon(t *testing.T, xkbcli, xkbName string, l *hid.Layout, cases []strokeCase, names map[hid.Usage]string) {
	name := l.Name()
	{
		for _, c := range cases {
			k, ok := l.Strokes(c.r)
			if !ok {
				continue
			}
			for _, s := range k.Strokes() {
				ks := l.Keysym(s.Usage, s.Shift, s.AltGr)
				out, err := exec.Command(xkbcli, "how-to-type", "--keysym", "--model", "pc105",
					"--layout", xkbName, fmt.Sprintf("%#x", ks)).Output()
				require.NoError(t, err, "%s %q keysym %#x", name, c.r, ks)
				mods := "[ ]"
				switch {
				case s.Shift && s.AltGr:
					mods = "[ Shift Mod5 ]"
				case s.Shift:
					mods = "[ Shift ]"
				case s.AltGr:
					mods = "[ Mod5 ]"
				}
				found := false
				for _, line := range strings.Split(string(out), "\n") {
					f := strings.Fields(line)
					if len(f) > 1 && f[1] == names[s.Usage] && strings.HasSuffix(strings.Join(strings.Fields(line), " "), mods) {
						found = true
					}
				}
				assert.True(t, found, "%s %q: xkbcommon does not type keysym %#x with %s %s:\n%s", name, c.r, ks, names[s.Usage], mods, out)
			}
		}
	}
}

func TestLayoutKeysyms(t *testing.T) {
	type ks struct {
		u            hid.Usage
		shift, altgr bool
		want         uint32
	}
	tests := map[string][]ks{
		"de-DE": {
			{kY, false, false, 'z'}, {kZ, false, false, 'y'}, {kY, true, false, 'Z'},
			{kMinus, false, false, 0xDF}, {kLBracket, false, false, 0xFC}, {kLBracket, true, false, 0xDC},
			{kSemicolon, false, false, 0xF6}, {kQuote, false, false, 0xE4}, {kQ, false, true, '@'},
			{kE, false, true, 0x20AC},                                     // EuroSign
			{kEqual, false, false, 0xFE51}, {kEqual, true, false, 0xFE50}, // dead_acute, dead_grave
			{kGrave, false, false, 0xFE52}, {kGrave, true, false, 0xB0}, // dead_circumflex, degree
			{kGrave, false, true, 0x1002032},          // ′ PRIME, a Unicode keysym
			{kLBracket, false, true, 0xFE57},          // dead_diaeresis
			{0x32, false, false, '#'},                 // Non-US # is Backslash
			{hid.UsageRightAlt, false, false, 0xFE03}, // ISO_Level3_Shift
			{0x63, false, false, 0xFFAC},              // KP_Separator: the keypad has a comma
			{hid.UsageF1, true, true, 0xFFBE}, {hid.UsageEnter, false, false, 0xFF0D},
		},
		"fr-FR": {
			{kQ, false, false, 'a'}, {kA, false, false, 'q'}, {kW, false, false, 'z'}, {kZ, false, false, 'w'},
			{kSemicolon, false, false, 'm'}, {kM, false, false, ','},
			{k1, false, false, '&'}, {k1, true, false, '1'}, {k2, false, false, 0xE9}, {k7, false, false, 0xE8},
			{k0, false, false, 0xE0}, {k9, false, false, 0xE7}, {kLBracket, false, false, 0xFE52},
			{kLBracket, true, false, 0xFE57}, {k0, false, true, '@'},
		},
		"en-GB": {
			{kBackslash, false, false, '#'}, {kBackslash, true, false, '~'}, {k3, true, false, 0xA3},
			{kQuote, true, false, '@'}, {k2, true, false, '"'}, {kIntlBackslash, false, false, '\\'},
			{k4, false, true, 0x20AC}, {kQuote, false, true, 0xFE52},
		},
		"ja-JP": {
			{kRo, false, false, '\\'}, {kRo, true, false, '_'}, {kYen, false, false, '\\'}, {kYen, true, false, '|'},
			{kGrave, false, false, 0xFF2A}, // Zenkaku_Hankaku
			{kQ, false, true, 'q'},         // no AltGr on the Japanese layout
			{hid.UsageRightAlt, false, false, 0xFFEA}, {kLBracket, false, false, '@'}, {kEqual, false, false, '^'},
			{0x8A, false, false, 0xFF23}, // Henkan
		},
		"sv-SE": {
			{kLBracket, false, false, 0xE5}, {kLBracket, true, false, 0xC5}, {kQuote, false, false, 0xE4},
			{kSemicolon, false, false, 0xF6}, {kEqual, false, false, 0xFE51}, {kRBracket, false, false, 0xFE57},
			{kRBracket, true, false, 0xFE52}, {kRBracket, false, true, 0xFE53}, // dead_diaeresis, _circumflex, _tilde
			{kSpace, true, true, 0xA0}, // nobreakspace
		},
		"es-ES": {
			{kSemicolon, false, false, 0xF1}, {kQuote, false, false, 0xFE51}, {kQuote, true, false, 0xFE57},
			{kLBracket, false, false, 0xFE50}, {kLBracket, true, false, 0xFE52}, {k4, false, true, '~'},
		},
		"it-IT": {
			{kLBracket, false, false, 0xE8}, {kLBracket, true, false, 0xE9}, {kSemicolon, false, true, '@'},
		},
		"en-US": {
			{kQ, false, true, 'q'}, {hid.UsageRightAlt, false, false, 0xFFEA}, {0x63, false, false, 0xFFAE},
		},
	}
	for name, cases := range tests {
		l := layout(t, name)
		for _, c := range cases {
			assert.Equal(t, fmt.Sprintf("%#x", c.want), fmt.Sprintf("%#x", hid.KeysymFor(l, c.u, c.shift, c.altgr)),
				"%s usage %#x shift %t altgr %t", name, c.u, c.shift, c.altgr)
		}
	}
}

// Every character a layout says it types, typed through its strokes and read back through the
// keysyms those keys produce (and the dead key's composition), is that character.
func TestLayoutRoundTrip(t *testing.T) {
	for _, name := range hid.LayoutNames() {
		l := layout(t, name)
		runes := l.Runes()
		slices.Sort(runes)
		require.NotEmpty(t, runes)
		for _, r := range runes {
			k, ok := l.Strokes(r)
			require.True(t, ok)
			got := l.Keysym(k.Key.Usage, k.Key.Shift, k.Key.AltGr)
			if k.Dead.Usage == 0 {
				assert.Equal(t, r, hid.KeysymRune(got), "%s %q typed as %+v: keysym %#x", name, r, k, got)
				continue
			}
			d := l.Keysym(k.Dead.Usage, k.Dead.Shift, k.Dead.AltGr)
			assert.True(t, d >= 0xFE50 && d <= 0xFE8F, "%s %q: %+v is not a dead key (%#x)", name, r, k.Dead, d)
			composed, ok := l.Compose(d, got)
			assert.True(t, ok && composed == r, "%s %q: dead %#x then %#x gives %q", name, r, d, got, composed)
		}
		t.Logf("%s types %d characters", name, len(runes))
	}
}

// Every layout types all of printable ASCII: a password pasted into a login screen must not lose
// characters on any of them.
func TestLayoutsTypeASCII(t *testing.T) {
	for _, name := range hid.LayoutNames() {
		l := layout(t, name)
		var missing []rune
		for r := rune(' '); r <= '~'; r++ {
			if _, ok := l.Strokes(r); !ok {
				missing = append(missing, r)
			}
		}
		assert.Empty(t, string(missing), name)
	}
}

// The committed tables are what the installed xkeyboard-config generates: go generate ./hid
// after an update.
func TestLayoutTablesMatchInstalledXKB(t *testing.T) {
	p := xkb.DefaultPaths()
	p.Xkbcli = testenv.LookPath(t, "xkbcli", "libxkbcommon-tools")
	for file, pkg := range map[string]string{p.Keysymdef: "x11proto-dev", p.Compose: "libx11-data", "/usr/share/X11/xkb/symbols/de": "xkb-data"} {
		if _, err := os.Stat(file); err != nil {
			testenv.Missing(t, file, "apt-get install -y "+pkg)
		}
	}
	want, err := xkb.GenerateInstalled(p)
	require.NoError(t, err)
	got, err := os.ReadFile("layout_tables.go")
	require.NoError(t, err)
	// The header names the xkeyboard-config version; the tables are what must agree.
	body := func(b []byte) []byte { return b[bytes.Index(b, []byte("\npackage hid")):] }
	if !bytes.Equal(body(want), body(got)) {
		t.Fatal("layout_tables.go differs from what the installed xkeyboard-config generates: run go generate ./hid")
	}
}

func BenchmarkLayoutByName(b *testing.B) {
	for b.Loop() {
		if _, err := hid.LayoutByName("de-DE"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeysymFor(b *testing.B) {
	l, err := hid.LayoutByName("fr-FR")
	require.NoError(b, err)
	for i := 0; b.Loop(); i++ {
		_ = hid.KeysymFor(l, hid.Usage(4+i%0x35), i&1 != 0, i&2 != 0)
	}
}
