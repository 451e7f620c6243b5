package apf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

func TestParseGUID(t *testing.T) {
	g, err := apf.ParseGUID("4C4C4544-004B-4210-8033-B6C04F504633")
	require.NoError(t, err)
	assert.Equal(t, apf.GUID{0x4c, 0x4c, 0x45, 0x44, 0x00, 0x4b, 0x42, 0x10, 0x80, 0x33, 0xb6, 0xc0, 0x4f, 0x50, 0x46, 0x33}, g)
	assert.Equal(t, "4c4c4544-004b-4210-8033-b6c04f504633", g.String())

	for _, bad := range []string{
		"", "4c4c4544004b42108033b6c04f504633", "4c4c4544-004b-4210-8033-b6c04f50463",
		"4c4c4544-004b-4210-8033_b6c04f504633", "4c4c4544-004b-4210-8033-b6c04f50463g",
		"4c4c4544-004b-4210-8033-b6c04f5046333",
	} {
		_, err := apf.ParseGUID(bad)
		assert.ErrorIs(t, err, apf.ErrBadGUID, bad)
	}
}

func TestGUIDText(t *testing.T) {
	var g apf.GUID
	require.NoError(t, g.UnmarshalText([]byte("12345678-9ABC-DEF0-1234-56789abcdef0")))
	b, err := g.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "12345678-9abc-def0-1234-56789abcdef0", string(b))
	assert.Error(t, g.UnmarshalText([]byte("nope")))
}
