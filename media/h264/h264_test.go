package h264_test

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{1, 2, 3}, nil},
		{"4-byte", []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2}, [][]byte{{0x67, 1}, {0x68, 2}}},
		{"3-byte", []byte{0, 0, 1, 0x65, 9, 9, 0, 0, 1, 0x41}, [][]byte{{0x65, 9, 9}, {0x41}}},
		{"trailing zeros", []byte{0, 0, 1, 0x41, 7, 0, 0}, [][]byte{{0x41, 7}}},
		{"empty NAL skipped", []byte{0, 0, 1, 0, 0, 1, 0x41}, [][]byte{{0x41}}},
		{"leading garbage", []byte{9, 9, 0, 0, 1, 0x41}, [][]byte{{0x41}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, h264.SplitAnnexB(tt.in))
		})
	}
}

func TestParseSPS(t *testing.T) {
	// SPS written by libx264 for the profiles named.
	tests := []struct {
		name          string
		hex           string
		profile       int
		constrained   bool
		profileLevel  string
		width, height int
	}{
		{"baseline 720p", "6742c01fda014016e840000003004000000ca3c60ca8", 66, true, "42c01f", 1280, 720},
		{"high 1080p (cropped, scaling)", "67640028acb200f0044fcb080000030008000003019478c19240", 100, false, "640028", 1920, 1080},
		{"main 480p odd width", "674d401edb0360f79b84000003000400000300ca3c58bb80", 77, false, "4d401e", 854, 480},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nal, err := hex.DecodeString(tt.hex)
			require.NoError(t, err)
			sps, err := h264.ParseSPS(nal)
			require.NoError(t, err)
			assert.Equal(t, tt.profile, sps.ProfileIDC)
			assert.Equal(t, tt.constrained, sps.ConstrainedBaseline())
			assert.Equal(t, tt.profileLevel, sps.ProfileLevelID())
			assert.Equal(t, tt.width, sps.Width)
			assert.Equal(t, tt.height, sps.Height)
		})
	}
}

func TestParseSPSRejects(t *testing.T) {
	for _, in := range [][]byte{nil, {0x68, 1, 2}, {0x67}, {0x67, 0x42, 0xc0, 0x1f}} {
		_, err := h264.ParseSPS(in)
		assert.Error(t, err, "%x", in)
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, s := range []string{
		"6742c01fda014016e840000003004000000ca3c60ca8",
		"67640028acb200f0044fcb080000030008000003019478c19240",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sps, err := h264.ParseSPS(b)
		if err == nil && (sps.Width <= 0 || sps.Height <= 0) {
			t.Fatalf("accepted %dx%d", sps.Width, sps.Height)
		}
	})
}

func FuzzSplitAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, nal := range h264.SplitAnnexB(b) {
			if len(nal) == 0 {
				t.Fatal("empty NAL unit")
			}
		}
	})
}
