// Package sigclient is the peer side of a signaling connection, what an agent or a
// non-browser console dials: a WebSocket to the relay carrying wire envelopes, kept alive by
// pings. It links no relay server code.
package sigclient
