// Package client is a Go client of the relay's control-plane API (/api/v1/…), the one kvmctl
// uses. It keeps the operator's settings and credentials in a config directory
// (~/.config/kvmctl by default, XDG_CONFIG_HOME honoured): config.json holds the server,
// organization and email; credentials.json (mode 0600) holds the access and refresh tokens, or
// an API key, together with the server they belong to, so they are never sent to another one.
//
// The access token is refreshed transparently: before a request when it has expired, and once
// after a 401. Refresh tokens rotate, and presenting an old one revokes the whole session, so
// every refresh happens under an exclusive lock on the config directory and first re-reads
// credentials.json: a kvmctl running in parallel that refreshed a moment ago is followed, not
// raced.
//
// Every error a server answers is an *APIError carrying the server's code and message;
// ExitCode maps any error this package returns to kvmctl's exit codes.
package client
