package client

import (
	"context"
	"fmt"
	"net/http"
)

// TOTPEnrollment is a new TOTP secret, to be proven with ConfirmTOTP. The secret stays
// unused (MFA off) until then; beginning again replaces it.
type TOTPEnrollment struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	// QRCode is the server's drawing of OTPAuthURL (an SVG data: URL, for browsers).
	QRCode string `json:"qr_code"`
}

type codeBody struct {
	Code string `json:"code"`
}

type recoveryCodesBody struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// BeginTOTP starts enrolling an authenticator for the logged-in user.
func (c *Client) BeginTOTP(ctx context.Context) (TOTPEnrollment, error) {
	var out TOTPEnrollment
	if err := c.do(ctx, http.MethodPost, "/me/totp", nil, nil, &out); err != nil {
		return TOTPEnrollment{}, fmt.Errorf("begin TOTP enrollment: %w", err)
	}
	return out, nil
}

// ConfirmTOTP turns MFA on with a code from the authenticator and returns the recovery codes,
// which the server shows this once.
func (c *Client) ConfirmTOTP(ctx context.Context, code string) ([]string, error) {
	var out recoveryCodesBody
	if err := c.do(ctx, http.MethodPost, "/me/totp/confirm", nil, codeBody{Code: code}, &out); err != nil {
		return nil, fmt.Errorf("confirm TOTP: %w", err)
	}
	return out.RecoveryCodes, nil
}

// DisableTOTP turns MFA off, given a current TOTP code or an unused recovery code.
func (c *Client) DisableTOTP(ctx context.Context, code string) error {
	if err := c.do(ctx, http.MethodDelete, "/me/totp", nil, codeBody{Code: code}, nil); err != nil {
		return fmt.Errorf("disable TOTP: %w", err)
	}
	return nil
}

// RegenerateRecoveryCodes replaces the recovery codes, given a current TOTP code; the new
// ones are returned this once.
func (c *Client) RegenerateRecoveryCodes(ctx context.Context, code string) ([]string, error) {
	var out recoveryCodesBody
	if err := c.do(ctx, http.MethodPost, "/me/totp/recovery-codes", nil, codeBody{Code: code}, &out); err != nil {
		return nil, fmt.Errorf("regenerate recovery codes: %w", err)
	}
	return out.RecoveryCodes, nil
}
