// Package mjpeg is the video source for MJPEG over HTTP: ustreamer as PiKVM and TinyPilot run
// it, `ffmpeg -f mpjpeg -listen 1`, and IP cameras. The spec is the stream's URL with "mjpeg+"
// in front: mjpeg+https://admin@pikvm/streamer/stream.
//
// A reader goroutine receives every part and keeps only the newest JPEG; Next decodes that
// one. A consumer slower than the stream gets the latest picture, not a queue of stale ones,
// and decoding costs CPU only for frames that are sent. A stream that delivers no frame for
// the stall timeout (5 s; ustreamer repeats its frame every second when nothing changes), or
// ends, makes Next fail and Done close: the device supervisor reconnects.
//
// Frames are I420 made without RGB: a JPEG already holds YCbCr. 4:2:0 planes pass through,
// 4:2:2 (ustreamer's hardware encoders) is averaged over row pairs, 4:4:4 over 2×2 blocks; odd
// sizes are cropped to even. A frame's CaptureTime is when its last byte arrived: ustreamer's
// X-Timestamp is its wall clock when it sent the part (not when it grabbed the picture) on a
// clock not synchronised with the agent's, so it says less than the arrival time here.
//
// Decoding: libjpeg-turbo (TurboJPEG, through cgo) decodes straight into reused planes; the
// standard library's image/jpeg is the fallback in builds without cgo or with the noturbojpeg
// tag. libjpeg-turbo is the default by the numbers: per 1080p frame (BenchmarkDecode, testsrc2
// at ffmpeg -q:v 4, 2-core VM, best of several runs) it takes 3.0 ms for 4:2:0 and 4.4 ms for
// 4:2:2 and allocates nothing; image/jpeg takes 31 ms and 42 ms and allocates 3–4 MB a frame.
// Over the whole source path at 30 fps (BenchmarkSourcePath) that is about 13 % of a core
// against 68 %.
//
// Frames are bounded before anything is allocated for them: 16 MiB per JPEG, 16 KiB of part
// headers, 8192 pixels a side and 16.7 megapixels, baseline JPEGs only (progressive ones make
// decoders hold the whole image's coefficients; no MJPEG streamer sends them).
package mjpeg
