package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLadderFollowsTheEstimate(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	type step struct {
		at   time.Duration
		bps  int
		want [2]int
	}
	for _, tc := range []struct {
		name  string
		w, h  int
		steps []step
	}{
		{"no estimate yet: full size", 1920, 1080, []step{{0, 0, [2]int{1920, 1080}}}},
		{"plenty: full size", 1920, 1080, []step{{0, 2_000_000, [2]int{1920, 1080}}, {10 * time.Second, 2_000_000, [2]int{1920, 1080}}}},
		{"a dip shorter than a second changes nothing", 1920, 1080, []step{
			{0, 300_000, [2]int{1920, 1080}}, {500 * time.Millisecond, 300_000, [2]int{1920, 1080}},
			{700 * time.Millisecond, 2_000_000, [2]int{1920, 1080}}, {1500 * time.Millisecond, 300_000, [2]int{1920, 1080}},
		}},
		{"500 kbit/s: down one step a second, until legible", 1920, 1080, []step{
			{0, 500_000, [2]int{1920, 1080}},
			{time.Second, 500_000, [2]int{1280, 720}},
			{1500 * time.Millisecond, 500_000, [2]int{1280, 720}}, // 1280×720 needs 276 kbit/s
			{10 * time.Second, 500_000, [2]int{1280, 720}},
		}},
		{"starved: down to the smallest step worth sending", 1920, 1080, []step{
			{0, 50_000, [2]int{1920, 1080}},
			{time.Second, 50_000, [2]int{1280, 720}},
			{2 * time.Second, 50_000, [2]int{960, 540}},
			{3 * time.Second, 50_000, [2]int{640, 360}},
			{4 * time.Second, 50_000, [2]int{640, 360}},
		}},
		{"720x400 text mode never goes below 480 wide", 720, 400, []step{
			{0, 10_000, [2]int{720, 400}},
			{time.Second, 10_000, [2]int{480, 266}},
			{2 * time.Second, 10_000, [2]int{480, 266}},
		}},
		{"recovery: back up after 4 s comfortably above", 1920, 1080, []step{
			{0, 400_000, [2]int{1920, 1080}},
			{time.Second, 400_000, [2]int{1280, 720}},
			{2 * time.Second, 5_000_000, [2]int{1280, 720}},
			{5 * time.Second, 5_000_000, [2]int{1280, 720}},
			{6 * time.Second, 5_000_000, [2]int{1920, 1080}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l ladder
			for _, s := range tc.steps {
				w, h := l.size(tc.w, tc.h, s.bps, start.Add(s.at))
				assert.Equal(t, s.want, [2]int{w, h}, "at %s with %d bit/s", s.at, s.bps)
			}
		})
	}
}
