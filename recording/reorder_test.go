package recording

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
)

// pkt is a packet numbered seq with timestamp ts.
func pkt(seq uint16, ts uint32) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}, Payload: []byte{1}}
}

// released is a released packet's number and the loss before it.
type released struct {
	seq  uint16
	lost int
}

func TestReorder(t *testing.T) {
	const wait = 900 // ticks
	tests := []struct {
		name string
		in   []*rtp.Packet
		want []released
		late int
	}{
		{
			name: "in order",
			in:   []*rtp.Packet{pkt(1, 0), pkt(2, 0), pkt(3, 100)},
			want: []released{{1, 0}, {2, 0}, {3, 0}},
		},
		{
			name: "across the wrap",
			in:   []*rtp.Packet{pkt(65534, 0), pkt(65535, 0), pkt(0, 100), pkt(1, 100)},
			want: []released{{65534, 0}, {65535, 0}, {0, 0}, {1, 0}},
		},
		{
			name: "swapped within the wait",
			in:   []*rtp.Packet{pkt(1, 0), pkt(3, 100), pkt(4, 200), pkt(2, 0)},
			want: []released{{1, 0}, {2, 0}, {3, 0}, {4, 0}},
		},
		{
			name: "given up after the wait, then too late",
			in:   []*rtp.Packet{pkt(1, 0), pkt(3, 100), pkt(4, 500), pkt(5, 1000), pkt(2, 0), pkt(6, 1100)},
			want: []released{{1, 0}, {3, 1}, {4, 0}, {5, 0}, {6, 0}},
			late: 1,
		},
		{
			name: "duplicates",
			in:   []*rtp.Packet{pkt(1, 0), pkt(1, 0), pkt(3, 100), pkt(3, 100), pkt(2, 0)},
			want: []released{{1, 0}, {2, 0}, {3, 0}},
			late: 2,
		},
		{
			name: "a sender's new numbering is a loss",
			in:   []*rtp.Packet{pkt(100, 0), pkt(101, 0), pkt(40000, 5), pkt(40001, 5)},
			want: []released{{100, 0}, {101, 0}, {40000, 1}, {40001, 0}},
		},
		{
			name: "a gap wider than the buffer", // 4 … reorderSize+5 lost
			in:   []*rtp.Packet{pkt(1, 0), pkt(3, 0), pkt(1+reorderSize+5, 10)},
			want: []released{{1, 0}, {3, 1}, {1 + reorderSize + 5, reorderSize + 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newReorder(wait)
			var out []ordered
			for _, p := range tc.in {
				out = r.push(p, out)
			}
			out = r.flush(out)
			var got []released
			for _, o := range out {
				got = append(got, released{o.p.SequenceNumber, o.lost})
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.late, r.late)
			assert.Zero(t, r.held)
		})
	}
}

func TestReorderFlushCountsTheGaps(t *testing.T) {
	r := newReorder(90000)
	out := r.push(pkt(10, 0), nil)
	out = r.push(pkt(13, 0), out)
	out = r.push(pkt(15, 0), out)
	assert.Len(t, out, 1, "13 and 15 wait for 11, 12 and 14")
	out = r.flush(out)
	assert.Equal(t, []ordered{{p: out[0].p}, {p: out[1].p, lost: 2}, {p: out[2].p, lost: 1}}, out)
}
