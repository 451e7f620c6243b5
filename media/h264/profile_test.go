package h264_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/media/h264"
)

func TestParseProfileLevelID(t *testing.T) {
	tests := []struct {
		in        string
		profile   h264.Profile
		level     int
		level1b   bool
		canonical string
	}{
		{"42e01f", h264.ConstrainedBaseline, 31, false, "42e01f"},
		{"42c01f", h264.ConstrainedBaseline, 31, false, "42e01f"},
		{"4d801f", h264.ConstrainedBaseline, 31, false, "42e01f"},
		{"42001f", h264.Baseline, 31, false, "42001f"},
		{"4d401e", h264.Main, 30, false, "4d001e"},
		{"640028", h264.High, 40, false, "640028"},
		{"640c34", h264.ConstrainedHigh, 52, false, "640c34"},
		{"f4001f", h264.High444, 31, false, "f4001f"},
		{"42f00b", h264.ConstrainedBaseline, 10, true, "42f00b"},
		{"640009", h264.High, 10, true, "640009"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			pl, err := h264.ParseProfileLevelID(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.profile, pl.Profile)
			assert.Equal(t, tt.level, pl.LevelIDC)
			assert.Equal(t, tt.level1b, pl.Level1b)
			assert.Equal(t, tt.canonical, pl.String())
		})
	}
	for _, bad := range []string{"", "42e0", "zz001f", "6e001f", "58001f", "42e01f00"} {
		_, err := h264.ParseProfileLevelID(bad)
		assert.Error(t, err, bad)
	}
}

// Chrome's H.264 offer (packetization-mode 0 and 1 of each profile).
var chromeOffer = []h264.FMTP{
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"),
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"),
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=f4001f"),
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"),
	h264.ParseFMTP("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"),
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		stream string
		index  int
		answer string
	}{
		{"42c01f", 2, "42e01f"}, // x264 baseline 720p30
		{"42c01e", 2, "42e01e"}, // a lower level fits
		{"4d401f", 4, "4d001f"},
		{"640c1f", 6, "640c1f"},
		{"64001e", 7, "64001e"},
		{"42001f", 0, "42001f"},
		{"640028", -1, ""}, // 1080p High at level 4.0: Chrome offers 3.1
		{"42c028", -1, ""},
		{"6e001f", -1, ""}, // High 10
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			i, answer, ok := h264.Negotiate(chromeOffer, tt.stream)
			assert.Equal(t, tt.index >= 0, ok)
			assert.Equal(t, tt.index, i)
			assert.Equal(t, tt.answer, answer)
		})
	}
	// A receiver that declares a higher level (Firefox offers 42e01f only; an answer may say
	// more) decodes lower levels of the same profile, with or without level asymmetry.
	for _, asym := range []bool{true, false} {
		recv := h264.FMTP{ProfileLevelID: "640034", LevelAsymmetryAllowed: asym, PacketizationMode: 1}
		assert.True(t, h264.CanDecode(recv, "640028"))
		assert.False(t, h264.CanDecode(recv, "4d0028"))
	}
	assert.True(t, h264.CanDecode(h264.FMTP{PacketizationMode: 1}, "42000a"), "no profile-level-id is 42000a")
	assert.False(t, h264.CanDecode(h264.FMTP{PacketizationMode: 1}, "42000b"))
	assert.True(t, h264.CanDecode(h264.FMTP{ProfileLevelID: "42e00b", PacketizationMode: 1}, "42f00b"), "1b is below 1.1")
	assert.False(t, h264.CanDecode(h264.FMTP{ProfileLevelID: "42e00a", PacketizationMode: 1}, "42f00b"), "1b is above 1")
}

// TestProfileLevelIDFromSPS: what ffmpeg was told is what the SPS says.
func TestProfileLevelIDFromSPS(t *testing.T) {
	tests := []struct {
		args   []string
		prefix string
	}{
		{[]string{"-profile:v", "baseline", "-level", "3.1"}, "42c01f"},
		{[]string{"-profile:v", "main", "-level", "4.0"}, "4d4028"},
		{[]string{"-profile:v", "high", "-level", "4.0"}, "640028"},
	}
	for _, tt := range tests {
		t.Run(tt.args[1], func(t *testing.T) {
			var sps []byte
			for _, n := range h264.SplitAnnexB(encodeFFmpeg(t, 1, tt.args...)) {
				if h264.NALType(n) == h264.NALSPS {
					sps = n
				}
			}
			id, err := h264.ProfileLevelIDFromSPS(sps)
			require.NoError(t, err)
			assert.Equal(t, tt.prefix, id)
		})
	}
	_, err := h264.ProfileLevelIDFromSPS([]byte{0x68, 1})
	assert.Error(t, err)
}

func FuzzProfileLevelID(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x40})
	f.Add([]byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xb2, 0x00, 0xf0, 0x04, 0x4f})
	f.Fuzz(func(t *testing.T, sps []byte) {
		id, err := h264.ProfileLevelIDFromSPS(sps)
		if err != nil {
			return
		}
		if len(id) != 6 {
			t.Fatalf("profile-level-id %q", id)
		}
		pl, err := h264.ParseProfileLevelID(id)
		if err != nil {
			return // a profile browsers do not negotiate
		}
		again, err := h264.ParseProfileLevelID(pl.String())
		if err != nil || again != pl {
			t.Fatalf("%s → %+v → %s → %+v, %v", id, pl, pl.String(), again, err)
		}
		if !h264.CanDecode(h264.FMTP{ProfileLevelID: pl.String(), PacketizationMode: 1}, id) {
			t.Fatalf("%s does not decode with its own canonical %s", id, pl.String())
		}
	})
}

func FuzzSliceHeader(f *testing.F) {
	f.Add([]byte{0x65, 0x88, 0x84, 0x21})
	f.Fuzz(func(t *testing.T, nal []byte) {
		h, err := h264.ParseSliceHeader(nal)
		if err == nil && (h.Type < 0 || h.Type > 4 || h.PPSID > 255) {
			t.Fatalf("accepted %+v", h)
		}
		_, _ = h264.ParsePPS(nal)
	})
}

func TestSameProfile(t *testing.T) {
	for _, tc := range []struct {
		recv, stream string
		want         bool
	}{
		{"42e01f", "42c028", true},  // constrained baseline at a higher level than listed
		{"4d001f", "4d4028", true},  // main 4.0 to a receiver listing main 3.1
		{"42e01f", "640028", false}, // high to a constrained-baseline receiver
		{"f4001f", "640028", false}, // high 4:4:4 predictive is not high
		{"zz", "42e01f", false},
		{"42e01f", "", false},
	} {
		assert.Equal(t, tc.want, h264.SameProfile(tc.recv, tc.stream), "%s decodes %s", tc.recv, tc.stream)
	}
}
