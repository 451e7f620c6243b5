package relay

import (
	"fmt"
	"net/url"
	"time"

	"github.com/kvmrelay/kvmrelay/auth"
)

// ConsoleLinkTTL is how long a one-time console link can wait before it is opened.
const ConsoleLinkTTL = 10 * time.Minute

// ConsoleLink mints a one-time login for device and returns the console URL that carries it in
// the fragment (never sent to servers or logged by proxies).
func ConsoleLink(iss *auth.Issuer, baseURL, device, principal string) (string, error) {
	tok, _, err := iss.Mint(auth.Claims{Subject: principal, Audience: auth.AudienceLogin, Device: device}, ConsoleLinkTTL)
	if err != nil {
		return "", fmt.Errorf("mint console link: %w", err)
	}
	return baseURL + "/console/#code=" + url.QueryEscape(tok), nil
}

// AgentToken mints the signed token an agent for device presents until enrollment exists.
func AgentToken(iss *auth.Issuer, device string, ttl time.Duration) (string, error) {
	tok, _, err := iss.Mint(auth.Claims{Subject: device, Audience: auth.AudienceAgent, Device: device}, ttl)
	if err != nil {
		return "", fmt.Errorf("mint agent token: %w", err)
	}
	return tok, nil
}
