package redisbus

import "github.com/redis/go-redis/v9"

// Compare-and-act scripts: each runs atomically in Redis, so no other client's write can slip
// between the read and the write.
var (
	// deleteIfEqual deletes KEYS[1] only if it holds ARGV[1]: a stale agent disconnect must not
	// clear a newer connection's presence.
	deleteIfEqual = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

	// deleteIfOwner deletes the session hash KEYS[1] only if its owner field is ARGV[1]: when a
	// console reconnects through another node, the first node's late cleanup must not delete the
	// record the second node wrote.
	deleteIfOwner = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

	// refreshSession extends the session hash KEYS[1] to ARGV[1] ms, or writes it again from
	// the field/value pairs ARGV[2..] if it is gone (Redis restarted without persistence).
	refreshSession = redis.NewScript(`
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 1 then
	return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`)

	// refreshPresence extends KEYS[1] to ARGV[2] ms if it holds connection ARGV[1], claims it if
	// it is gone, and leaves another connection's claim alone (it refreshes its own).
	refreshPresence = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
	return 1
end
if not cur then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	return 2
end
return 0`)
)

// Stream lease scripts (streamlease.go).
var (
	// claimLease makes ARGV[1] the holder of KEYS[1] for ARGV[2] ms when nobody holds it or
	// ARGV[1] does (extending its lease), and returns the holder.
	claimLease = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
	return cur
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`)

	// renewLease extends KEYS[1] to ARGV[2] ms if ARGV[1] holds it: 1, else 0 (an expired
	// lease is not taken back: another node may have claimed the stream meanwhile).
	renewLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
	return 1
end
return 0`)
)
