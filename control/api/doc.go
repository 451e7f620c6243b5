// Package api is the control plane's HTTP API under /api/v1: login and tokens, the caller's
// MFA, users and invitations, API keys, devices and their enrollment tokens, console sessions,
// organization settings and the audit chain. Every route is listed once in routes(), which
// mounts it and is checked against the OpenAPI document served at /api/v1/openapi.json.
//
// Errors are JSON {"code": "...", "message": "..."}: the code is stable, the message says what
// to do next and never carries internal error text.
package api
