package sfu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestCongestion drives a viewer's state every 100 ms (as frame starts would) from an
// estimate that is a function of time, with keyframes every second, and checks when it goes
// keyframes-only, when it asks for its way back, and when it is back.
func TestCongestion(t *testing.T) {
	const upstream = 1_500_000
	s := func(d float64) time.Duration { return time.Duration(d * float64(time.Second)) }
	type transition struct {
		at   time.Duration
		what string // "down", "ask", "up"
	}
	cases := []struct {
		name     string
		estimate func(at time.Duration) int
		upstream int
		run      time.Duration
		want     []transition
		wantKO   time.Duration // keyframes-only time at the end
	}{
		{"healthy viewer stays", func(time.Duration) int { return 2_000_000 }, upstream, s(20), nil, 0},
		{"dip shorter than the hold stays", func(at time.Duration) int {
			if at >= s(3) && at < s(3.8) {
				return 255_000
			}
			return 2_000_000
		}, upstream, s(10), nil, 0},
		{"GCC's answer to a burst (0.85 × received) stays", func(time.Duration) int { return 1_275_000 }, upstream, s(10), nil, 0},
		{"slow link goes keyframes-only after the hold", func(at time.Duration) int {
			if at >= s(2) {
				return 255_000
			}
			return 2_000_000
		}, upstream, s(10), []transition{{s(3), "down"}}, s(7)},
		{"unknown upstream decides nothing", func(time.Duration) int { return 100_000 }, 0, s(10), nil, 0},
		{"recovers after the minimum stay, returns at a keyframe", func(at time.Duration) int {
			if at >= s(1) && at < s(3) {
				return 255_000
			}
			return 2_000_000
		}, upstream, s(20), []transition{{s(2), "down"}, {s(6), "ask"}, {s(7), "up"}}, s(5)},
		{"a failed return doubles the stay", func(at time.Duration) int {
			switch {
			case at < s(1):
				return 2_000_000
			case at < s(3): // slow
				return 255_000
			case at < s(7.5): // looks recovered
				return 2_000_000
			case at < s(9): // the return failed
				return 255_000
			}
			return 2_000_000
		}, upstream, s(30), []transition{
			{s(2), "down"}, {s(6), "ask"}, {s(7), "up"}, // stay 4 s
			{s(8.5), "down"}, {s(16.5), "ask"}, {s(17), "up"}, // within 10 s of the return: 8 s
		}, s(5) + s(8.5)},
		{"recovery withdrawn before the keyframe", func(at time.Duration) int {
			switch {
			case at >= s(1) && at < s(3):
				return 255_000
			case at >= s(6) && at < s(6.5): // recovered for a moment
				return 255_000
			}
			return 2_000_000
		}, upstream, s(20), []transition{{s(2), "down"}, {s(8.5), "ask"}, {s(9), "up"}}, s(7)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCongestion(CongestionConfig{})
			start := time.Unix(100, 0)
			var got []transition
			was := false
			for at := time.Duration(0); at <= tc.run; at += 100 * time.Millisecond {
				now := start.Add(at)
				if at%time.Second == 0 {
					c.keyframe(now)
				}
				if c.update(now, tc.estimate(at), tc.upstream) {
					got = append(got, transition{at, "ask"})
				}
				if c.keyframesOnly != was {
					what := "up"
					if c.keyframesOnly {
						what = "down"
					}
					got = append(got, transition{at, what})
					was = c.keyframesOnly
				}
			}
			assert.Equal(t, tc.want, got)
			assert.InDelta(t, tc.wantKO.Seconds(), c.keyframesOnlyTime(start.Add(tc.run)).Seconds(), 0.01)
			entered := 0
			for _, g := range tc.want {
				if g.what == "down" {
					entered++
				}
			}
			assert.Equal(t, entered, c.entered)
		})
	}
}
