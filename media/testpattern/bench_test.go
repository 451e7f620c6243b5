package testpattern_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kvmrelay/kvmrelay/media/mediatest"
	"github.com/kvmrelay/kvmrelay/media/testpattern"
)

// BenchmarkNext measures drawing one frame after a key press, without waiting: the strip,
// counter and clock change (plus the bar, or everything, by motion).
func BenchmarkNext(b *testing.B) {
	sizes := []struct{ w, h int }{{1920, 1080}, {1280, 720}}
	motions := []struct {
		name string
		m    testpattern.Motion
	}{{"strip-counter", testpattern.MotionNone}, {"bar", testpattern.MotionBar}, {"full", testpattern.MotionFull}}
	for _, sz := range sizes {
		for _, mo := range motions {
			b.Run(fmt.Sprintf("%dx%d/%s", sz.w, sz.h, mo.name), func(b *testing.B) {
				clk := mediatest.NewClock(time.Unix(1000, 0))
				s, err := testpattern.New(testpattern.Config{Width: sz.w, Height: sz.h, Motion: mo.m, Clock: clk})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				if _, err := s.Next(ctx); err != nil { // the first frame draws everything
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := s.Key(0x04, true); err != nil {
						b.Fatal(err)
					}
					clk.Advance(time.Second / testpattern.DefaultMaxFPS)
					if _, err := s.Next(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/frame")
			})
		}
	}
}
