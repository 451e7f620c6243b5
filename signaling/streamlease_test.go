package signaling_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/internal/leasetest"
)

func TestMemoryStreamLeases(t *testing.T) {
	reg := signaling.NewMemoryRegistry()
	leasetest.Run(t, reg, reg, "")
}

func TestStreamKey(t *testing.T) {
	tests := []struct{ device, agent, target, want string }{
		{"dev1", "", "", "dev1"},
		{"dev1", "dev1", "", "dev1"},
		{"amt1", "gw1", "10.0.0.5", "amt1|gw1|10.0.0.5"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, signaling.StreamKey(tt.device, tt.agent, tt.target))
	}
}
