package xkb

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sample = `xkb_keymap {
xkb_types "(unnamed)" {
	type "FOUR_LEVEL" {
		modifiers= Shift+LevelThree;
		map[Shift]= 2;
		map[LevelThree]= 3;
		map[Shift+LevelThree]= Level4;
	};
	type "PC_ALT_LEVEL2" {
		modifiers= Alt;
		map[Alt]= 2;
	};
};
xkb_symbols "(unnamed)" {
	key <AD01>               {	[               q,               Q,              at,     Greek_OMEGA ] };
	key <AE01>               {	[               1,          exclam ] };
	key <SPCE>               {	[           space ] };
	key <AE12> {
		type= "FOUR_LEVEL",
		symbols[Group1]= [ dead_acute, dead_grave ]
	};
	key <TLDE> {
		type[Group1]= "PC_ALT_LEVEL2",
		symbols[Group1]= [ Zenkaku_Hankaku, Kanji ]
	};
};
};
`

func TestKeymapSymbol(t *testing.T) {
	km, err := ParseKeymap(sample)
	require.NoError(t, err)
	tests := []struct {
		key           string
		shift, level3 bool
		want          string
	}{
		{"AD01", false, false, "q"}, {"AD01", true, false, "Q"}, {"AD01", false, true, "at"}, {"AD01", true, true, "Greek_OMEGA"},
		{"AE01", true, false, "exclam"}, {"AE01", true, true, "exclam"}, // two levels ignore AltGr
		{"SPCE", true, true, "space"},
		{"AE12", true, false, "dead_grave"}, {"AE12", false, true, ""}, // explicit type, no symbol there
		{"TLDE", true, true, "Zenkaku_Hankaku"}, // the type looks at Alt only
		{"AB01", false, false, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, km.Symbol(tt.key, tt.shift, tt.level3), "%+v", tt)
	}
	_, err = ParseKeymap("xkb_keymap {}")
	assert.Error(t, err)
}

func TestLookup(t *testing.T) {
	defs, err := ParseKeysymdef("#define XK_EuroSign 0x20ac  /* U+20AC EURO SIGN */\n#define XK_dead_acute 0xfe51\n")
	require.NoError(t, err)
	for name, want := range map[string]Keysym{
		"EuroSign": {0x20AC, '€'}, "dead_acute": {0xFE51, 0}, "U00E9": {0xE9, 'é'}, "U2032": {0x1002032, '′'},
	} {
		got, ok := Lookup(defs, name)
		assert.True(t, ok, name)
		assert.Equal(t, want, got, name)
	}
	_, ok := Lookup(defs, "NoSuchKeysym")
	assert.False(t, ok)
}

func TestParseCompose(t *testing.T) {
	got, err := ParseCompose(`<dead_acute> <e>			: "é"	eacute # LATIN SMALL LETTER E WITH ACUTE
<dead_diaeresis> <space>		: "\""	quotedbl # REVERSE SOLIDUS
<Multi_key> <e> <e> : "ə"
<dead_acute> <dead_acute> : "´"	acute
<dead_stroke> <g> : "ǥ"  U01E5
<dead_grave> <a> : "à̀"
`)
	require.NoError(t, err)
	assert.Equal(t, []Composition{
		{"dead_acute", "e", 'é'}, {"dead_diaeresis", "space", '"'}, {"dead_acute", "dead_acute", '´'}, {"dead_stroke", "g", 'ǥ'},
	}, got)
}
