// Package relay assembles the kvmrelay server: the HTTP API and console (gofiber), signaling
// WebSockets, the embedded TURN server, Prometheus metrics and health. cmd/kvmrelay only parses
// flags into a Config and calls New.
package relay
