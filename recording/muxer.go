package recording

import (
	"fmt"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// trackID is the video track's id, the only track.
const trackID = 1

// defaultSampleDuration is the duration given to a last sample when no delta was seen
// (a one-frame recording): a frame at 30 fps.
const defaultSampleDuration = clockRate / 30

// muxer writes H.264 access units as a fragmented MP4 with mediacommon's fMP4 writer: an
// init segment, then fragments (moof+mdat) of at most fragTicks, a new one at every
// keyframe. A sample's duration is the next sample's timestamp less its own, so each sample
// is held until the next one comes. Not safe for concurrent use.
type muxer struct {
	out       *hashFile
	fragTicks int64
	buf       seekablebuffer.Buffer

	started bool
	seq     uint32 // fragments written
	lastTS  int64  // unwrapped RTP timestamp of the pending sample
	lastDur uint32 // duration of the last sample given one
	pending *fmp4.Sample
	frag    []*fmp4.Sample
	// fragBase is the decode time of the fragment's first sample; next that of the pending
	// sample: the sum of every duration before it.
	fragBase, fragTicksHeld, next int64

	// frames and keyframes count the samples taken; written* what reached the file.
	frames, keyframes          int
	writtenFrames, writtenKeys int
	writtenTicks               int64
}

func newMuxer(out *hashFile, fragTicks int64) *muxer {
	return &muxer{out: out, fragTicks: fragTicks}
}

// writeInit writes the init segment for the stream's first SPS and PPS.
func (m *muxer) writeInit(sps, pps []byte) error {
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID: trackID, TimeScale: clockRate,
		Codec: &codecs.H264{SPS: sps, PPS: pps},
	}}}
	if err := init.Marshal(m.reset()); err != nil {
		return fmt.Errorf("recording: init segment: %w", err)
	}
	_, err := m.out.Write(m.buf.Bytes())
	return err
}

// add takes an access unit in AVCC form (length-prefixed NAL units) with its unwrapped RTP
// timestamp, and returns its decode time in the file.
func (m *muxer) add(ts int64, avcc []byte, key bool) (dts int64, err error) {
	s := &fmp4.Sample{IsNonSyncSample: !key, Payload: avcc}
	if m.pending != nil {
		// Timestamps that do not advance (a sender that restarted without a relay between)
		// still need time to pass: the last sample's duration stands in.
		if d := ts - m.lastTS; d > 0 && d <= 1<<32-1 {
			m.lastDur = uint32(d)
		} else if m.lastDur == 0 {
			m.lastDur = 1
		}
		if err := m.push(m.pending, m.lastDur, !key); err != nil {
			return 0, err
		}
	}
	m.pending, m.lastTS = s, ts
	m.frames++
	if key {
		m.keyframes++
	}
	return m.next, nil
}

// push gives a sample its duration and adds it to the fragment, writing the fragment first
// when the next sample is a keyframe (a fragment starts at each) or after it when it is long
// enough.
func (m *muxer) push(s *fmp4.Sample, dur uint32, sameFragment bool) error {
	s.Duration = dur
	m.frag = append(m.frag, s)
	m.fragTicksHeld += int64(dur)
	m.next += int64(dur)
	if !sameFragment || m.fragTicksHeld >= m.fragTicks {
		return m.flush()
	}
	return nil
}

// flush writes the samples held as one fragment and syncs the file.
func (m *muxer) flush() error {
	if len(m.frag) == 0 {
		return nil
	}
	m.seq++
	part := fmp4.Part{SequenceNumber: m.seq, Tracks: []*fmp4.PartTrack{{
		ID: trackID, BaseTime: uint64(m.fragBase), Samples: m.frag,
	}}}
	if err := part.Marshal(m.reset()); err != nil {
		return fmt.Errorf("recording: fragment %d: %w", m.seq, err)
	}
	keys := 0
	for _, s := range m.frag {
		if !s.IsNonSyncSample {
			keys++
		}
	}
	n := len(m.frag)
	clear(m.frag)
	m.frag = m.frag[:0]
	m.fragBase, m.fragTicksHeld = m.next, 0
	if _, err := m.out.Write(m.buf.Bytes()); err != nil {
		return err
	}
	if err := m.out.Sync(); err != nil {
		return err
	}
	m.writtenFrames += n
	m.writtenKeys += keys
	m.writtenTicks = m.next
	return nil
}

// close writes the pending sample (with the last duration seen) and the last fragment.
func (m *muxer) close() error {
	if m.pending != nil {
		if m.lastDur == 0 {
			m.lastDur = defaultSampleDuration
		}
		if err := m.push(m.pending, m.lastDur, false); err != nil {
			return err
		}
		m.pending = nil
	}
	return m.flush()
}

// duration is the time of the samples given so far, the pending one included.
func (m *muxer) duration() int64 {
	if m.pending == nil {
		return m.next
	}
	if m.lastDur == 0 {
		return m.next + defaultSampleDuration
	}
	return m.next + int64(m.lastDur)
}

func (m *muxer) reset() io.WriteSeeker {
	m.buf.Reset()
	_, _ = m.buf.Seek(0, io.SeekStart) // never fails at 0
	return &m.buf
}
