//go:build cgo && !noturbojpeg

package mjpeg

/*
#cgo pkg-config: libturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

// kr_tj_header reads a JPEG's size, subsampling and plane geometry into out: width, height,
// subsampling, luma plane width and height, chroma plane width and height.
static int kr_tj_header(tjhandle h, const unsigned char *buf, unsigned long size, int *out) {
	int cs;
	if (tjDecompressHeader3(h, buf, size, &out[0], &out[1], &out[2], &cs) != 0) {
		return -1;
	}
	out[3] = tjPlaneWidth(0, out[0], out[2]);
	out[4] = tjPlaneHeight(0, out[1], out[2]);
	if (out[2] == TJSAMP_GRAY) {
		out[5] = 0;
		out[6] = 0;
	} else {
		out[5] = tjPlaneWidth(1, out[0], out[2]);
		out[6] = tjPlaneHeight(1, out[1], out[2]);
	}
	return (out[3] < 0 || out[4] < 0 || out[5] < 0 || out[6] < 0) ? -1 : 0;
}

// kr_tj_decode decodes into planes whose strides are their widths. Warnings (a truncated or
// slightly corrupt frame, decoded as far as it goes) count as success, as in browsers.
static int kr_tj_decode(tjhandle h, const unsigned char *buf, unsigned long size,
                        unsigned char *y, unsigned char *cb, unsigned char *cr,
                        int w, int ht, int ys, int cs) {
	unsigned char *planes[3] = {y, cb, cr};
	int strides[3] = {ys, cs, cs};
	if (tjDecompressToYUVPlanes(h, buf, size, planes, w, strides, ht, TJFLAG_LIMITSCANS) != 0) {
		return tjGetErrorCode(h) == TJERR_WARNING ? 0 : -1;
	}
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// TurboDecoder decodes with libjpeg-turbo straight into reused YCbCr planes: no color
// conversion, no allocation per frame.
type TurboDecoder struct {
	h         C.tjhandle
	y, cb, cr []byte
	conv      toI420
	gray      grayI420
	src       image.YCbCr
	// hdr receives kr_tj_header's answer; a field, so that passing it to C allocates nothing.
	hdr [7]C.int
}

// NewTurboDecoder returns a libjpeg-turbo decoder; Close frees it.
func NewTurboDecoder() (*TurboDecoder, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, fmt.Errorf("mjpeg: libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(nil)))
	}
	return &TurboDecoder{h: h}, nil
}

// Name implements Decoder.
func (*TurboDecoder) Name() string { return "libjpeg-turbo" }

// Close implements Decoder.
func (d *TurboDecoder) Close() {
	if d.h != nil {
		C.tjDestroy(d.h)
		d.h = nil
	}
}

func turboRatio(subsamp C.int) (image.YCbCrSubsampleRatio, bool) {
	switch subsamp {
	case C.TJSAMP_444:
		return image.YCbCrSubsampleRatio444, true
	case C.TJSAMP_422:
		return image.YCbCrSubsampleRatio422, true
	case C.TJSAMP_420:
		return image.YCbCrSubsampleRatio420, true
	case C.TJSAMP_440:
		return image.YCbCrSubsampleRatio440, true
	case C.TJSAMP_411:
		return image.YCbCrSubsampleRatio411, true
	}
	return 0, false
}

// Decode implements Decoder.
func (d *TurboDecoder) Decode(data []byte) (*image.YCbCr, error) {
	if d.h == nil {
		return nil, fmt.Errorf("mjpeg: decoder closed")
	}
	img, err := d.decode(data)
	if err != nil && !errors.Is(err, ErrUnsupported) {
		// A failed decompression can leave the handle unusable for the next frame (seen with
		// libjpeg-turbo 2.1: the next header read reports nonsense): start afresh.
		C.tjDestroy(d.h)
		if d.h = C.tjInitDecompress(); d.h == nil {
			return nil, fmt.Errorf("mjpeg: libjpeg-turbo: %s (after %w)", C.GoString(C.tjGetErrorStr2(nil)), err)
		}
	}
	return img, err
}

func (d *TurboDecoder) decode(data []byte) (*image.YCbCr, error) {
	info, err := checkHeader(data)
	if err != nil {
		return nil, err
	}
	buf := (*C.uchar)(unsafe.Pointer(&data[0]))
	size := C.ulong(len(data))
	if C.kr_tj_header(d.h, buf, size, &d.hdr[0]) != 0 {
		return nil, fmt.Errorf("mjpeg: decode header: %s", C.GoString(C.tjGetErrorStr2(d.h)))
	}
	w, h, subsamp, yw, yh, cw, ch := d.hdr[0], d.hdr[1], d.hdr[2], d.hdr[3], d.hdr[4], d.hdr[5], d.hdr[6]
	if int(w) != info.width || int(h) != info.height {
		return nil, fmt.Errorf("mjpeg: libjpeg-turbo reads %dx%d, the header says %dx%d", w, h, info.width, info.height)
	}
	gray := subsamp == C.TJSAMP_GRAY
	ratio, known := turboRatio(subsamp)
	if !gray && !known {
		return nil, fmt.Errorf("%w: chroma subsampling %d", ErrUnsupported, subsamp)
	}
	// The planes are padded to whole MCUs; one spare byte keeps &p[0] valid for gray's chroma.
	d.y = grow(d.y, int(yw*yh))
	d.cb, d.cr = grow(d.cb, max(1, int(cw*ch))), grow(d.cr, max(1, int(cw*ch)))
	if C.kr_tj_decode(d.h, buf, size,
		(*C.uchar)(unsafe.Pointer(&d.y[0])), (*C.uchar)(unsafe.Pointer(&d.cb[0])), (*C.uchar)(unsafe.Pointer(&d.cr[0])),
		w, h, yw, cw) != 0 {
		return nil, fmt.Errorf("mjpeg: decode: %s", C.GoString(C.tjGetErrorStr2(d.h)))
	}
	if gray {
		return d.gray.convert(d.y, int(yw), int(w), int(h))
	}
	d.src = image.YCbCr{
		Y: d.y, Cb: d.cb, Cr: d.cr, YStride: int(yw), CStride: int(cw),
		SubsampleRatio: ratio, Rect: image.Rect(0, 0, int(w), int(h)),
	}
	return d.conv.convert(&d.src)
}
