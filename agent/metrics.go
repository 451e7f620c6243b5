package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the agent's counters; registered where the agent exposes them.
type Metrics struct {
	Frames        *prometheus.CounterVec
	EncodedBytes  prometheus.Counter
	EncodeSeconds prometheus.Histogram
	TargetBitrate prometheus.Gauge
	Sessions      prometheus.Gauge
	// CaptureToSend is the time from a frame's capture to its last packet handed to the
	// network: the agent's share of glass-to-glass latency.
	CaptureToSend prometheus.Histogram
	// SentHeight is the height of the picture sent: below the source's when the bandwidth
	// estimate cannot carry legible text at full size.
	SentHeight prometheus.Gauge
	// LadderSteps counts the resolution ladder's steps, by direction: down (estimate below
	// the need, with sustained congestion), back (congestion right after a probe), up (the
	// estimate clears the next step's need), probe (a quiet period without congestion).
	LadderSteps *prometheus.CounterVec
	// LadderCongested is 1 while the ladder holds sustained congestion evidence on a path
	// that cannot carry the sent size: with the estimate below the need, it steps down.
	LadderCongested prometheus.Gauge
	// InputDropped counts console input that never reached the machine, by reason:
	// "not-controller" is a participant's input while another holds control (or nobody).
	InputDropped *prometheus.CounterVec
	// Streams is the number of encoders running (one per machine watched): fan-out through
	// the relay keeps it at one however many consoles watch.
	Streams prometheus.Gauge
	// VideoSessions is the number of sessions the agent sends video to (consoles with video
	// and the relay's uplinks): what the device uploads.
	VideoSessions prometheus.Gauge
	// KeysDropped counts captured key strokes not reported to the relay (it did not keep
	// up): a recording with full keystroke capture misses them, and says how many.
	KeysDropped prometheus.Counter
}

// dropNotController is InputDropped's reason for a viewer's input.
const dropNotController = "not-controller"

// NewMetrics makes the metrics and registers them with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmagent_frames_encoded_total", Help: "Frames encoded, by kind (key|delta).",
		}, []string{"kind"}),
		EncodedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvmagent_encoded_bytes_total", Help: "Bytes of encoded video.",
		}),
		EncodeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kvmagent_encode_seconds", Help: "Time to encode one frame.",
			Buckets: []float64{.001, .002, .004, .006, .008, .012, .016, .025, .05, .1},
		}),
		TargetBitrate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmagent_target_bitrate_bps", Help: "Encoder target bitrate from bandwidth estimation.",
		}),
		Sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmagent_sessions", Help: "Console sessions being served.",
		}),
		CaptureToSend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kvmagent_capture_to_send_seconds", Help: "Frame capture to its last packet sent.",
			Buckets: []float64{.001, .002, .003, .004, .005, .006, .007, .008, .010, .012, .014, .016, .020, .025, .030, .040, .060, .100},
		}),
		SentHeight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmagent_sent_height_pixels", Help: "Height of the picture sent (smaller than the source's when bandwidth is short).",
		}),
		LadderSteps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmagent_ladder_steps_total", Help: "Resolution ladder steps, by direction (down|back: smaller; up|probe: larger).",
		}, []string{"direction"}),
		LadderCongested: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmagent_ladder_congested", Help: "1 while the resolution ladder sees sustained congestion on a path that cannot carry the sent size.",
		}),
		InputDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kvmagent_input_dropped_total", Help: "Console input dropped before the machine, by reason (not-controller: the participant does not hold control).",
		}, []string{"reason"}),
		Streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmagent_streams", Help: "Video streams being encoded (one per machine watched).",
		}),
		VideoSessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvmagent_video_sessions", Help: "Sessions sent video (consoles with the agent's video, and relay uplinks).",
		}),
		KeysDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvmagent_keys_dropped_total", Help: "Captured key strokes not reported to the relay for a recording (it did not keep up).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Frames, m.EncodedBytes, m.EncodeSeconds, m.TargetBitrate, m.Sessions, m.CaptureToSend, m.SentHeight, m.LadderSteps, m.LadderCongested, m.InputDropped,
			m.Streams, m.VideoSessions, m.KeysDropped)
	}
	return m
}

func (m *Metrics) observeFrame(encode time.Duration, size int, key bool) {
	kind := "delta"
	if key {
		kind = "key"
	}
	m.Frames.WithLabelValues(kind).Inc()
	m.EncodedBytes.Add(float64(size))
	m.EncodeSeconds.Observe(encode.Seconds())
}
