// Package e2e holds kvmrelay's end-to-end tests and latency benchmarks: a real relay (HTTP,
// signaling, embedded TURN) and a real agent (test pattern, x264/libvpx) in one process, driven
// from real headless Chromium through the DevTools protocol, or from the Go test console.
package e2e
