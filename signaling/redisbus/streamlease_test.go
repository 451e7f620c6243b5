package redisbus

import (
	"testing"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
	"github.com/kvmrelay/kvmrelay/signaling/internal/leasetest"
)

// TestRedisStreamLeases: the leases of two nodes' registries sharing one Redis.
func TestRedisStreamLeases(t *testing.T) {
	srv := testenv.StartRedis(t)
	leasetest.Run(t, newRegistry(t, testConfig(srv)), newRegistry(t, testConfig(srv)), "")
}
