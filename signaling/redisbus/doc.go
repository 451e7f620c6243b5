// Package redisbus shares signaling between relay nodes through Redis: a signaling.Bus over
// Redis pub/sub and a signaling.Registry of sessions and agent presence kept in Redis keys with
// TTLs.
//
// Pub/sub delivers at most once and keeps nothing for a subscriber that is not connected, so a
// Bus never hides a gap: when its Redis connection fails, every subscription channel is closed.
// The signaling connection that owned it then closes and its peer reconnects to a clean state,
// instead of waiting forever for an offer or candidate that was published during the gap.
package redisbus
