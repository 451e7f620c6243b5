package recording

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/kvmrelay/kvmrelay/sfu"
)

// attachQueue is how many packets an Attachment holds for its writer: several seconds of a
// 1080p stream, so a slow disk stalls the recording, not the forwarder.
const attachQueue = 2048

// Attachment records a forwarder's stream: it is an sfu.Viewer of its own, bound to the
// recorder instead of a connection, so the recording starts at a keyframe like a viewer's
// picture. The forwarder's goroutine only queues packets; the attachment's writer goroutine
// records them. A full queue drops packets (the recorder sees the gap, waits for a keyframe
// and asks for one, as a PLI on the viewer).
type Attachment struct {
	r      *Recorder
	v      *sfu.Viewer
	queue  chan *rtp.Packet
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	queued atomic.Int64
	drops  atomic.Int64
}

// AttachStats are an attachment's counters.
type AttachStats struct {
	// Queued counts the packets the forwarder handed over; Overflow those dropped because
	// the writer fell behind.
	Queued, Overflow int64
}

// Attach starts recording f's stream into r. Close the attachment before the recorder.
func Attach(f *sfu.Forwarder, r *Recorder) (*Attachment, error) {
	codec := f.Codec()
	if err := CheckCodec(codec.MimeType); err != nil {
		return nil, err
	}
	v, err := f.AddViewer(sfu.ViewerConfig{ID: "recording " + r.cfg.ID})
	if err != nil {
		return nil, fmt.Errorf("recording: attach to the forwarder: %w", err)
	}
	a := &Attachment{r: r, v: v, queue: make(chan *rtp.Packet, attachQueue), stop: make(chan struct{})}
	tc := &trackContext{
		id:     "recording-" + r.cfg.ID,
		codecs: []webrtc.RTPCodecParameters{{RTPCodecCapability: codec, PayloadType: sfu.PayloadTypeH264}},
		a:      a,
	}
	a.wg.Go(a.write)
	if _, err := v.Bind(tc); err != nil {
		v.Close()
		a.stopWriter()
		return nil, fmt.Errorf("recording: bind to the forwarder: %w", err)
	}
	return a, nil
}

// Close stops recording the forwarder's stream: the viewer leaves the forwarder, what was
// queued is recorded, and the writer and the viewer's RTCP reader have returned. It does not
// close the recorder.
func (a *Attachment) Close() {
	a.v.Close() // the forwarder calls the viewer no more
	a.stopWriter()
	<-a.v.Done()
}

// stopWriter ends the RTCP reader and the writer once the queue is drained.
func (a *Attachment) stopWriter() {
	a.once.Do(func() { close(a.stop) })
	a.wg.Wait()
}

// Stats returns the attachment's counters.
func (a *Attachment) Stats() AttachStats {
	return AttachStats{Queued: a.queued.Load(), Overflow: a.drops.Load()}
}

// write records the queued packets until stopped, then what is left. After a storage
// failure the recorder refuses them (Failed tells its owner).
func (a *Attachment) write() {
	for {
		select {
		case p := <-a.queue:
			_ = a.r.WriteRTP(p)
		case <-a.stop:
			for {
				select {
				case p := <-a.queue:
					_ = a.r.WriteRTP(p)
				default:
					return
				}
			}
		}
	}
}

// enqueue hands a packet to the writer, or drops it when the queue is full. Either way it
// counts as sent: its number is spent, so the recorder sees the gap.
func (a *Attachment) enqueue(p *rtp.Packet) {
	a.queued.Add(1)
	select {
	case a.queue <- p:
	default:
		a.drops.Add(1)
	}
}

// trackContext is what a viewer is bound to: the recorder takes the place of a
// connection's sender.
type trackContext struct {
	id     string
	codecs []webrtc.RTPCodecParameters
	a      *Attachment
}

func (c *trackContext) CodecParameters() []webrtc.RTPCodecParameters           { return c.codecs }
func (c *trackContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c *trackContext) SSRC() webrtc.SSRC                                      { return 1 }
func (c *trackContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c *trackContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c *trackContext) WriteStream() webrtc.TrackLocalWriter                   { return (*trackWriter)(c.a) }
func (c *trackContext) ID() string                                             { return c.id }
func (c *trackContext) RTCPReader() interceptor.RTCPReader                     { return (*keyframeAsker)(c.a) }

// trackWriter takes the viewer's packets. The viewer reuses nothing it hands over, but the
// recorder keeps packets across calls: they are copied.
type trackWriter Attachment

func (w *trackWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := &rtp.Packet{Header: h.Clone(), Payload: append([]byte(nil), payload...)}
	(*Attachment)(w).enqueue(p)
	return h.MarshalSize() + len(payload), nil
}

func (w *trackWriter) Write(b []byte) (int, error) {
	p := &rtp.Packet{}
	if err := p.Unmarshal(append([]byte(nil), b...)); err != nil {
		return 0, fmt.Errorf("recording: packet from the forwarder: %w", err)
	}
	(*Attachment)(w).enqueue(p)
	return len(b), nil
}

// keyframeAsker is the viewer's RTCP reader: it reads a PLI whenever the recorder needs a
// keyframe, and ends when the attachment stops.
type keyframeAsker Attachment

func (k *keyframeAsker) Read(b []byte, attrs interceptor.Attributes) (int, interceptor.Attributes, error) {
	select {
	case <-k.r.KeyframeNeeded():
		pli, err := (&rtcp.PictureLossIndication{MediaSSRC: 1}).Marshal()
		if err != nil {
			return 0, attrs, fmt.Errorf("recording: PLI: %w", err)
		}
		if len(b) < len(pli) {
			return 0, attrs, io.ErrShortBuffer
		}
		return copy(b, pli), attrs, nil
	case <-k.stop:
		return 0, attrs, io.EOF
	}
}
