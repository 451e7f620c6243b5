package relay

import (
	"fmt"
	"net/url"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// ConsoleLinkTTL is how long a one-time console link can wait before it is opened.
const ConsoleLinkTTL = 10 * time.Minute

// ConsoleLink mints a one-time login for device and returns the console URL that carries it in
// the fragment (never sent to servers or logged by proxies). The console may hold control.
func ConsoleLink(iss *auth.Issuer, baseURL, device, principal string) (string, error) {
	return ConsoleLinkWithGrant(iss, baseURL, device, principal, wire.GrantControl)
}

// ConsoleLinkWithGrant is ConsoleLink for a console that may do what grant says: watch
// (view), hold control (control), or also take it (admin). Whoever holds the relay's signing
// key chooses; nothing re-derives it.
func ConsoleLinkWithGrant(iss *auth.Issuer, baseURL, device, principal string, grant wire.Grant) (string, error) {
	if !grant.Valid() {
		return "", fmt.Errorf("console link: unknown grant %q (view, control or admin)", grant)
	}
	tok, _, err := iss.Mint(auth.Claims{Subject: principal, Audience: auth.AudienceLogin, Device: device, Grant: grant}, ConsoleLinkTTL)
	if err != nil {
		return "", fmt.Errorf("mint console link: %w", err)
	}
	return baseURL + "/console/#code=" + url.QueryEscape(tok), nil
}

// tokenGrant is the grant a console link or token carries; links minted before grants carry
// none and mean control.
func tokenGrant(c auth.Claims) wire.Grant {
	if c.Grant.Valid() {
		return c.Grant
	}
	return wire.GrantControl
}

// AgentToken mints the signed token an agent for device presents until enrollment exists.
func AgentToken(iss *auth.Issuer, device string, ttl time.Duration) (string, error) {
	tok, _, err := iss.Mint(auth.Claims{Subject: device, Audience: auth.AudienceAgent, Device: device}, ttl)
	if err != nil {
		return "", fmt.Errorf("mint agent token: %w", err)
	}
	return tok, nil
}
