package encoders_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/media"
	"github.com/kvmrelay/kvmrelay/media/mediatest"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// BenchmarkEncode measures encoding one test-pattern frame (drawing it is not timed) with the
// default settings for the size: "strip-counter" is a console at a prompt where a key press
// changed the strip, counter and clock; "full" changes every macroblock.
func BenchmarkEncode(b *testing.B) {
	sizes := []struct{ w, h int }{{1920, 1080}, {1280, 720}}
	motions := []struct {
		name string
		m    testpattern.Motion
	}{{"strip-counter", testpattern.MotionNone}, {"full", testpattern.MotionFull}}
	for _, codec := range codecs {
		for _, sz := range sizes {
			for _, mo := range motions {
				name := fmt.Sprintf("%s/%dx%d/%s", codec[len("video/"):], sz.w, sz.h, mo.name)
				b.Run(name, func(b *testing.B) {
					benchEncode(b, codec, sz.w, sz.h, mo.m)
				})
			}
		}
	}
}

func benchEncode(b *testing.B, codec media.Codec, w, h int, motion testpattern.Motion) {
	clk := mediatest.NewClock(time.Unix(1000, 0))
	src, err := testpattern.New(testpattern.Config{Width: w, Height: h, Motion: motion, Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	enc := newEncoder(b, media.EncoderConfig{Codec: codec, Width: w, Height: h, Clock: clk})
	ctx := context.Background()
	next := func() media.Frame {
		if err := src.Key(0x04, true); err != nil {
			b.Fatal(err)
		}
		clk.Advance(time.Second / 30)
		f, err := src.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	if _, err := enc.Encode(next()); err != nil { // the keyframe
		b.Fatal(err)
	}
	bytes := 0
	for b.Loop() {
		b.StopTimer()
		f := next()
		b.StartTimer()
		out, err := enc.Encode(f)
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(out.Data)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/frame")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/frame")
}
