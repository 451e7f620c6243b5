//go:build cgo

package vpx

/*
#cgo pkg-config: vpx
#include <stdint.h>
#include <stdlib.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg;
	vpx_image_t img;
} kr_vp8;

static void kr_vp8_buffers(vpx_codec_enc_cfg_t *cfg, int buf_ms) {
	// The proportions libwebrtc uses (500/600/1000 ms), scaled to our buffer.
	cfg->rc_buf_sz = buf_ms;
	cfg->rc_buf_initial_sz = buf_ms / 2;
	cfg->rc_buf_optimal_sz = buf_ms * 3 / 5;
}

// kr_vp8_open returns an encoder, or NULL with *err naming the failed step.
static kr_vp8 *kr_vp8_open(int w, int h, int fps, int kbps, int buf_ms, int threads,
                           int cpu_used, int keyint, int *err) {
	kr_vp8 *e = calloc(1, sizeof *e);
	if (e == NULL) {
		*err = 1;
		return NULL;
	}
	vpx_codec_enc_cfg_t *c = &e->cfg;
	if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), c, 0) != VPX_CODEC_OK) {
		free(e);
		*err = 2;
		return NULL;
	}
	c->g_w = w;
	c->g_h = h;
	c->g_timebase.num = 1;
	c->g_timebase.den = 1000000; // microseconds
	c->g_threads = threads;
	c->g_lag_in_frames = 0;      // every frame out at once
	c->g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	c->g_pass = VPX_RC_ONE_PASS;
	c->rc_end_usage = VPX_CBR;
	c->rc_target_bitrate = kbps;
	c->rc_min_quantizer = 2;
	c->rc_max_quantizer = 56;
	c->rc_undershoot_pct = 100;
	c->rc_overshoot_pct = 15;
	c->rc_dropframe_thresh = 0;  // a dropped frame would hide the input it showed
	c->rc_resize_allowed = 0;
	kr_vp8_buffers(c, buf_ms);
	if (keyint > 0) {
		c->kf_mode = VPX_KF_AUTO;
		c->kf_min_dist = 0;
		c->kf_max_dist = keyint;
	} else {
		c->kf_mode = VPX_KF_DISABLED;
	}
	if (vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), c, 0) != VPX_CODEC_OK) {
		free(e);
		*err = 3;
		return NULL;
	}
	// A keyframe may use the rate buffer (buf_ms of bits), at least 3 frames' worth. Blocks
	// that barely changed are skipped (libwebrtc's screenshare threshold): console pictures
	// are mostly static.
	unsigned int intra_pct = buf_ms * fps / 10;
	if (intra_pct < 300) intra_pct = 300;
	if (vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, cpu_used) != VPX_CODEC_OK ||
	    vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 100) != VPX_CODEC_OK ||
	    vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0) != VPX_CODEC_OK ||
	    vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, VP8_ONE_TOKENPARTITION) != VPX_CODEC_OK ||
	    vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, intra_pct) != VPX_CODEC_OK) {
		vpx_codec_destroy(&e->ctx);
		free(e);
		*err = 4;
		return NULL;
	}
	return e;
}

static int kr_vp8_set_bitrate(kr_vp8 *e, int kbps) {
	e->cfg.rc_target_bitrate = kbps;
	return vpx_codec_enc_config_set(&e->ctx, &e->cfg);
}

// kr_vp8_encode encodes one picture. It returns 1 with the frame at *out (owned by libvpx,
// valid until the next call), 0 when libvpx produced no frame, or < 0 on error. libvpx copies
// the planes before returning, so the caller's (Go) memory is not retained.
static int kr_vp8_encode(kr_vp8 *e, uint8_t *y, uint8_t *u, uint8_t *v, int ystride,
                         int cstride, int64_t pts, unsigned long duration, int force_kf,
                         const uint8_t **out, size_t *size, int *keyframe) {
	vpx_img_wrap(&e->img, VPX_IMG_FMT_I420, e->cfg.g_w, e->cfg.g_h, 1, y);
	e->img.planes[VPX_PLANE_U] = u;
	e->img.planes[VPX_PLANE_V] = v;
	e->img.stride[VPX_PLANE_Y] = ystride;
	e->img.stride[VPX_PLANE_U] = cstride;
	e->img.stride[VPX_PLANE_V] = cstride;
	vpx_codec_err_t rc = vpx_codec_encode(&e->ctx, &e->img, pts, duration,
	                                      force_kf ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
	e->img.planes[VPX_PLANE_Y] = e->img.planes[VPX_PLANE_U] = e->img.planes[VPX_PLANE_V] = NULL;
	e->img.img_data = NULL;
	if (rc != VPX_CODEC_OK) {
		return -(int)rc;
	}
	int frames = 0;
	vpx_codec_iter_t iter = NULL;
	const vpx_codec_cx_pkt_t *pkt;
	while ((pkt = vpx_codec_get_cx_data(&e->ctx, &iter)) != NULL) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) {
			continue;
		}
		if (++frames > 1) {
			return -100; // impossible without lag-in-frames
		}
		*out = pkt->data.frame.buf;
		*size = pkt->data.frame.sz;
		*keyframe = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
	}
	return frames;
}

static const char *kr_vp8_error(kr_vp8 *e) {
	const char *d = vpx_codec_error_detail(&e->ctx);
	return d ? d : vpx_codec_error(&e->ctx);
}

static void kr_vp8_close(kr_vp8 *e) {
	vpx_codec_destroy(&e->ctx);
	free(e);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/internal/i420"
)

// Encoder is a VP8 encoder. Encode and Close are serialized; ForceKeyFrame and SetBitrate
// only store a request that the next Encode applies, so they never wait for a frame.
type Encoder struct {
	cfg Config

	forceKey atomic.Bool
	target   atomic.Int64 // bps

	mu      sync.Mutex // guards the fields below and the C encoder
	enc     *C.kr_vp8
	applied int // kbps handed to libvpx
	first   time.Time
	lastPTS int64
	frames  int64
}

var _ media.Encoder = (*Encoder)(nil)

func openError(code C.int) string {
	switch code {
	case 1:
		return "out of memory"
	case 2:
		return "vpx_codec_enc_config_default failed"
	case 3:
		return "vpx_codec_enc_init failed"
	default:
		return "vpx_codec_control failed"
	}
}

// New opens an encoder.
func New(cfg Config) (*Encoder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Encoder{cfg: cfg, applied: cfg.Bitrate / 1000}
	e.target.Store(int64(cfg.Bitrate))
	var cerr C.int
	e.enc = C.kr_vp8_open(C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(e.applied),
		C.int(cfg.RateBuffer.Milliseconds()), C.int(cfg.Threads), C.int(cfg.CPUUsed),
		C.int(cfg.KeyframeInterval), &cerr)
	if e.enc == nil {
		return nil, fmt.Errorf("vpx: open VP8 %dx%d: %s", cfg.Width, cfg.Height, openError(cerr))
	}
	return e, nil
}

// ForceKeyFrame makes the next encoded frame a keyframe.
func (e *Encoder) ForceKeyFrame() { e.forceKey.Store(true) }

// SetBitrate sets the target bitrate in bits per second from the next frame on.
func (e *Encoder) SetBitrate(bps int) { e.target.Store(int64(max(bps, minKbps*1000))) }

// Encode compresses one I420 frame of the configured size into a VP8 frame.
func (e *Encoder) Encode(f media.Frame) (media.EncodedFrame, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return media.EncodedFrame{}, media.ErrClosed
	}
	img := f.Image
	if err := i420.Check(img, e.cfg.Width, e.cfg.Height); err != nil {
		return media.EncodedFrame{}, fmt.Errorf("vpx: %w", err)
	}
	if kbps := int(e.target.Load() / 1000); kbps != e.applied {
		if rc := C.kr_vp8_set_bitrate(e.enc, C.int(kbps)); rc != C.VPX_CODEC_OK {
			return media.EncodedFrame{}, fmt.Errorf("vpx: set bitrate %d kbps: %s", kbps, C.GoString(C.kr_vp8_error(e.enc)))
		}
		e.applied = kbps
	}

	y, cb, cr := i420.Planes(img)
	force := e.forceKey.Swap(false)
	var (
		out      *C.uint8_t
		size     C.size_t
		keyframe C.int
	)
	n := C.kr_vp8_encode(e.enc,
		(*C.uint8_t)(unsafe.Pointer(&y[0])),
		(*C.uint8_t)(unsafe.Pointer(&cb[0])),
		(*C.uint8_t)(unsafe.Pointer(&cr[0])),
		C.int(img.YStride), C.int(img.CStride), C.int64_t(e.pts(f.CaptureTime)),
		C.ulong(e.frameDuration()),
		boolToC(force), &out, &size, &keyframe)
	e.frames++
	if n <= 0 && force {
		e.forceKey.Store(true) // the request still stands
	}
	switch {
	case n < 0:
		return media.EncodedFrame{}, fmt.Errorf("vpx: encode frame %d failed (%d): %s", e.frames-1, -n, C.GoString(C.kr_vp8_error(e.enc)))
	case n == 0:
		// Frame dropping is off; this would be a libvpx surprise worth hearing about.
		return media.EncodedFrame{}, errors.New("vpx: encoder produced no frame")
	}
	return media.EncodedFrame{
		Data:        C.GoBytes(unsafe.Pointer(out), C.int(size)),
		Keyframe:    keyframe != 0,
		CaptureTime: f.CaptureTime,
	}, nil
}

// pts stamps a frame with its capture time in microseconds since the first frame, kept
// strictly increasing (libvpx requires it; a source may repeat a time). A frame without a
// capture time is stamped one nominal frame after the previous one.
func (e *Encoder) pts(capture time.Time) int64 {
	if e.frames == 0 {
		e.first, e.lastPTS = capture, 0
		return 0
	}
	pts := e.lastPTS + e.frameDuration()
	if !capture.IsZero() && !e.first.IsZero() {
		pts = max(e.lastPTS+1, capture.Sub(e.first).Microseconds())
	}
	e.lastPTS = pts
	return pts
}

func (e *Encoder) frameDuration() int64 {
	return int64(time.Second/time.Microsecond) / int64(e.cfg.FPS)
}

// Close frees the encoder. Encode after Close returns media.ErrClosed.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc != nil {
		C.kr_vp8_close(e.enc)
		e.enc = nil
	}
	return nil
}

func boolToC(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
