package card

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDrawWritesTextInsideTheFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		w, h int
	}{
		{"1080p", 1920, 1080},
		{"text mode", 720, 400},
		{"odd and tiny", 33, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := Draw(tc.w, tc.h, Card{Title: "No signal", Detail: []string{"reconnecting to vnc://10.0.0.5:5900 in 2 s", "dial tcp: connection refused"}})
			require.Equal(t, 0, img.Rect.Dx()%2)
			require.Equal(t, 0, img.Rect.Dy()%2)
			require.GreaterOrEqual(t, img.Rect.Dx(), tc.w)
			bright := 0
			for _, v := range img.Y {
				if v == titleLuma {
					bright++
				}
			}
			assert.Positive(t, bright, "the title is drawn")
			for _, v := range img.Cb {
				require.Equal(t, byte(neutral), v)
			}
		})
	}
}

func TestDrawCutsLongLines(t *testing.T) {
	long := make([]byte, 500)
	for i := range long {
		long[i] = 'x'
	}
	img := Draw(640, 360, Card{Title: "No signal", Detail: []string{string(long)}})
	assert.Equal(t, 640, img.Rect.Dx())
}
