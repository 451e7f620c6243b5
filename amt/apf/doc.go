// Package apf encodes and decodes the messages of APF (AMT Port Forwarding), the SSH-like
// channel protocol an Intel AMT device speaks to an MPS over its outbound CIRA TLS link.
//
// Integers are big-endian u32, strings are a u32 length and the bytes. Each message type is
// one Go type with a Marshal method that appends its wire form; ReadMessage reads exactly one
// message from a stream. Bytes from the network are hostile: every length is checked against a
// bound before anything is allocated, and a message that does not parse is an error (the
// caller drops the link, as MPS does), never a panic.
package apf
