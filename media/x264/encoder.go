//go:build cgo

package x264

/*
#cgo pkg-config: x264
#include <stdint.h>
#include <stdlib.h>
#include <x264.h>

typedef struct {
	x264_t *h;
	x264_picture_t pic;
} kr_x264;

// kr_x264_open returns an encoder or NULL with *err saying which step failed.
static kr_x264 *kr_x264_open(int w, int h, int fps, int kbps, int vbv_kbit, int threads,
                             int keyint, const char *preset, int *err) {
	x264_param_t p;
	if (x264_param_default_preset(&p, preset, "zerolatency") < 0) {
		*err = 1;
		return NULL;
	}
	p.i_csp = X264_CSP_I420;
	p.i_width = w;
	p.i_height = h;
	p.i_fps_num = fps;
	p.i_fps_den = 1;
	p.i_timebase_num = 1;
	p.i_timebase_den = fps;
	p.b_vfr_input = 0;         // timestamps would cost a frame of delay
	p.i_threads = threads;
	p.b_sliced_threads = 1;    // frame threads would each add a frame of delay
	p.i_keyint_max = keyint > 0 ? keyint : X264_KEYINT_MAX_INFINITE;
	p.i_scenecut_threshold = 0; // keyframes only when asked: each one is a burst
	p.b_intra_refresh = 0;
	p.rc.i_rc_method = X264_RC_ABR;
	p.rc.i_bitrate = kbps;
	p.rc.i_vbv_max_bitrate = kbps; // maxrate == bitrate: CBR, the only mode x264 retargets
	p.rc.i_vbv_buffer_size = vbv_kbit;
	p.b_repeat_headers = 1;        // SPS/PPS before every IDR: a late joiner can decode
	p.b_annexb = 1;
	p.b_aud = 0;
	p.i_log_level = X264_LOG_ERROR;
	if (x264_param_apply_profile(&p, "baseline") < 0) {
		*err = 2;
		return NULL;
	}
	kr_x264 *e = calloc(1, sizeof *e);
	if (e == NULL) {
		*err = 3;
		return NULL;
	}
	x264_picture_init(&e->pic);
	e->pic.img.i_csp = X264_CSP_I420;
	e->pic.img.i_plane = 3;
	e->h = x264_encoder_open(&p);
	if (e->h == NULL) {
		free(e);
		*err = 4;
		return NULL;
	}
	return e;
}

static int kr_x264_set_bitrate(kr_x264 *e, int kbps, int vbv_kbit) {
	x264_param_t p;
	x264_encoder_parameters(e->h, &p);
	p.rc.i_bitrate = kbps;
	p.rc.i_vbv_max_bitrate = kbps;
	p.rc.i_vbv_buffer_size = vbv_kbit;
	return x264_encoder_reconfig(e->h, &p);
}

// kr_x264_encode encodes one picture. It returns the size of the access unit at *out (owned
// by x264, valid until the next call), 0 when x264 held the frame back, or < 0 on error.
// x264 copies the planes before returning, so the caller's (Go) memory is not retained.
static int kr_x264_encode(kr_x264 *e, uint8_t *y, uint8_t *u, uint8_t *v, int ystride,
                          int cstride, int64_t pts, int force_idr, uint8_t **out,
                          int *keyframe) {
	x264_nal_t *nals;
	int n;
	x264_picture_t pic_out;
	e->pic.img.plane[0] = y;
	e->pic.img.plane[1] = u;
	e->pic.img.plane[2] = v;
	e->pic.img.i_stride[0] = ystride;
	e->pic.img.i_stride[1] = cstride;
	e->pic.img.i_stride[2] = cstride;
	e->pic.i_pts = pts;
	e->pic.i_type = force_idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
	int size = x264_encoder_encode(e->h, &nals, &n, &e->pic, &pic_out);
	e->pic.img.plane[0] = e->pic.img.plane[1] = e->pic.img.plane[2] = NULL;
	if (size <= 0) {
		return size;
	}
	// x264 guarantees the NAL payloads are contiguous.
	*out = nals[0].p_payload;
	*keyframe = pic_out.b_keyframe;
	return size;
}

static void kr_x264_close(kr_x264 *e) {
	x264_encoder_close(e->h);
	free(e);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/internal/i420"
)

// Encoder is an H.264 encoder. Encode and Close are serialized; ForceKeyFrame and SetBitrate
// only store a request that the next Encode applies, so they never wait for a frame.
type Encoder struct {
	cfg Config

	forceKey atomic.Bool
	target   atomic.Int64 // bps

	mu      sync.Mutex // guards the fields below and the C encoder
	enc     *C.kr_x264
	applied int // kbps handed to x264
	rate    rateScaler
	pts     int64
}

var _ media.Encoder = (*Encoder)(nil)

func openError(code C.int) string {
	switch code {
	case 1:
		return "unknown preset"
	case 2:
		return "cannot apply profile baseline"
	case 3:
		return "out of memory"
	default:
		return "x264_encoder_open failed"
	}
}

// New opens an encoder.
func New(cfg Config) (*Encoder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Encoder{cfg: cfg, rate: newRateScaler(cfg.FPS)}
	e.target.Store(int64(cfg.Bitrate))
	kbps := e.kbps(int64(cfg.Bitrate), 1)

	preset := C.CString(cfg.Preset)
	defer C.free(unsafe.Pointer(preset))
	var cerr C.int
	e.enc = C.kr_x264_open(C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS),
		C.int(kbps), C.int(e.vbvKbit(int64(cfg.Bitrate))), C.int(cfg.Threads),
		C.int(cfg.KeyframeInterval), preset, &cerr)
	if e.enc == nil {
		return nil, fmt.Errorf("x264: open %dx%d@%d preset %q: %s",
			cfg.Width, cfg.Height, cfg.FPS, cfg.Preset, openError(cerr))
	}
	e.applied = kbps
	return e, nil
}

// ForceKeyFrame makes the next encoded frame an IDR (with SPS and PPS).
func (e *Encoder) ForceKeyFrame() { e.forceKey.Store(true) }

// SetBitrate sets the target bitrate in bits per second from the next frame on.
func (e *Encoder) SetBitrate(bps int) { e.target.Store(int64(max(bps, minKbps*1000))) }

// Encode compresses one I420 frame of the configured size into an Annex-B access unit.
func (e *Encoder) Encode(f media.Frame) (media.EncodedFrame, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return media.EncodedFrame{}, media.ErrClosed
	}
	img := f.Image
	if err := i420.Check(img, e.cfg.Width, e.cfg.Height); err != nil {
		return media.EncodedFrame{}, fmt.Errorf("x264: %w", err)
	}

	target := e.target.Load()
	if kbps := e.kbps(target, e.rate.observe(f.CaptureTime)); kbps != e.applied {
		if rc := C.kr_x264_set_bitrate(e.enc, C.int(kbps), C.int(e.vbvKbit(target))); rc < 0 {
			return media.EncodedFrame{}, fmt.Errorf("x264: reconfigure to %d kbps failed (%d)", kbps, rc)
		}
		e.applied = kbps
	}

	y, cb, cr := i420.Planes(img)
	force := e.forceKey.Swap(false)
	var (
		out      *C.uint8_t
		keyframe C.int
	)
	size := C.kr_x264_encode(e.enc,
		(*C.uint8_t)(unsafe.Pointer(&y[0])),
		(*C.uint8_t)(unsafe.Pointer(&cb[0])),
		(*C.uint8_t)(unsafe.Pointer(&cr[0])),
		C.int(img.YStride), C.int(img.CStride), C.int64_t(e.pts),
		boolToC(force), &out, &keyframe)
	e.pts++
	if size <= 0 && force {
		e.forceKey.Store(true) // the request still stands
	}
	switch {
	case size < 0:
		return media.EncodedFrame{}, fmt.Errorf("x264: encode frame %d failed (%d)", e.pts-1, size)
	case size == 0:
		// Cannot happen with zero latency settings; a delayed frame would be a bug here.
		return media.EncodedFrame{}, errors.New("x264: encoder delayed a frame")
	}
	return media.EncodedFrame{
		Data:        C.GoBytes(unsafe.Pointer(out), size),
		Keyframe:    keyframe != 0,
		CaptureTime: f.CaptureTime,
	}, nil
}

// Close frees the encoder. Encode after Close returns media.ErrClosed.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc != nil {
		C.kr_x264_close(e.enc)
		e.enc = nil
	}
	return nil
}

// kbps is the bitrate to hand x264 for a target (bps) and frame-rate factor.
func (e *Encoder) kbps(target int64, factor float64) int {
	return max(minKbps, int(math.Round(float64(target)*factor/1000)))
}

// vbvKbit sizes the VBV from the real target (bits are bits, whatever x264 thinks the frame
// rate is).
func (e *Encoder) vbvKbit(target int64) int {
	return max(1, int(target*e.cfg.RateBuffer.Milliseconds()/1_000_000))
}

func boolToC(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
