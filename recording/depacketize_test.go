package recording

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDepacketizeRoundTrip(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := make([]byte, 5000)
	idr[0] = 0x65
	for i := 1; i < len(idr); i++ {
		idr[i] = byte(i*7) | 1 // no start codes inside
	}
	sei := []byte{0x06, 0x05, 0x01, 0xff}
	var annexB []byte
	for _, n := range [][]byte{sps, pps, sei, idr} {
		annexB = append(append(annexB, 0, 0, 0, 1), n...)
	}
	pay := &codecs.H264Payloader{}
	payloads := pay.Payload(1200, annexB)
	require.Greater(t, len(payloads), 4, "the IDR is cut into FU-A fragments")

	nalus, _, err := depacketize(payloads, nil)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{sps, pps, sei, idr}, nalus)
}

func TestDepacketizeMalformed(t *testing.T) {
	tests := []struct {
		name     string
		payloads [][]byte
	}{
		{"STAP-A cut short", [][]byte{{0x78, 0x00}}},
		{"STAP-A unit longer than the packet", [][]byte{{0x78, 0x00, 0x09, 0x67}}},
		{"STAP-A empty unit", [][]byte{{0x78, 0x00, 0x00}}},
		{"FU-A too short", [][]byte{{0x7c, 0x85}}},
		{"FU-A without start", [][]byte{{0x7c, 0x05, 0xaa}, {0x7c, 0x45, 0xbb}}},
		{"FU-A not ended", [][]byte{{0x7c, 0x85, 0xaa}}},
		{"FU-A started twice", [][]byte{{0x7c, 0x85, 0xaa}, {0x7c, 0x85, 0xbb}}},
		{"NAL unit inside an FU-A", [][]byte{{0x7c, 0x85, 0xaa}, {0x41, 0x01}, {0x7c, 0x45, 0xbb}}},
		{"FU-B", [][]byte{{0x7d, 0x85, 0x00, 0x01, 0xaa}}},
		{"STAP-B", [][]byte{{0x79, 0x00, 0x01, 0x00, 0x01, 0x41}}},
		{"type 0", [][]byte{{0x00, 0x01}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := depacketize(tc.payloads, nil)
			assert.ErrorIs(t, err, errPayload)
		})
	}
}

func TestAssembler(t *testing.T) {
	p := func(ts uint32, marker bool) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Timestamp: ts, Marker: marker}, Payload: []byte{0x41}}
	}
	type got struct {
		ts      uint32
		packets int
		whole   bool
	}
	tests := []struct {
		name string
		in   []ordered
		want []got
	}{
		{
			name: "whole frames",
			in:   []ordered{{p: p(0, false)}, {p: p(0, true)}, {p: p(3000, true)}},
			want: []got{{0, 2, true}, {3000, 1, true}},
		},
		{
			name: "a loss inside a frame",
			in:   []ordered{{p: p(0, false)}, {p: p(0, true), lost: 1}, {p: p(3000, true)}},
			want: []got{{0, 2, false}, {3000, 1, true}},
		},
		{
			name: "a frame's marker lost with the next frame's start",
			in:   []ordered{{p: p(0, false)}, {p: p(3000, true), lost: 2}, {p: p(6000, true)}},
			want: []got{{0, 1, false}, {3000, 1, false}, {6000, 1, true}},
		},
		{
			name: "no marker before a new timestamp",
			in:   []ordered{{p: p(0, false)}, {p: p(3000, true)}},
			want: []got{{0, 1, false}, {3000, 1, true}},
		},
		{
			name: "padding between frames",
			in:   []ordered{{p: p(0, true)}, {p: &rtp.Packet{Header: rtp.Header{Timestamp: 0}}}, {p: p(3000, true)}},
			want: []got{{0, 1, true}, {3000, 1, true}},
		},
		{
			name: "cut short by the end",
			in:   []ordered{{p: p(0, true)}, {p: p(3000, false)}},
			want: []got{{0, 1, true}, {3000, 1, false}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a assembler
			var frames []got
			emit := func(f frame) { frames = append(frames, got{f.ts, len(f.payloads), f.whole}) }
			for _, o := range tc.in {
				a.push(o, emit)
			}
			a.flush(emit)
			assert.Equal(t, tc.want, frames)
		})
	}
}
