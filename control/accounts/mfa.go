package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/control/store"
)

// userOnly refuses MFA operations for API keys and OIDC principals: they have no password.
func userOnly(p Principal) error {
	if p.Kind != KindUser || !store.ValidID(p.ID) {
		return fmt.Errorf("%w: only users have a second factor", ErrForbidden)
	}
	return nil
}

// BeginTOTP makes a new TOTP secret for p, to be shown (as a QR code of otpauthURL) and then
// proven with ConfirmTOTP. MFA stays off until then; beginning again replaces the secret.
func (s *Service) BeginTOTP(ctx context.Context, p Principal) (secret, otpauthURL string, err error) {
	if err := userOnly(p); err != nil {
		return "", "", err
	}
	err = s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, p.ID)
		if err != nil {
			return err
		}
		if u.TOTPConfirmed {
			return fmt.Errorf("%w: TOTP is already on; disable it first", ErrInvalid)
		}
		secret, otpauthURL, err = generateTOTP(s.cfg.TOTPIssuer, u.Email)
		if err != nil {
			return fmt.Errorf("generate TOTP secret: %w", err)
		}
		u.TOTPSecret = secret
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Actor: p.String(), Action: store.AuditMFAChange, Target: "user:" + u.ID,
			Details: map[string]string{"change": "totp_enrollment_started"},
		})
	})
	if err != nil {
		return "", "", storeErr("begin TOTP", err)
	}
	return secret, otpauthURL, nil
}

// ConfirmTOTP turns MFA on once code proves the authenticator holds the secret from
// BeginTOTP. It returns 10 single-use recovery codes, shown once (only hashes are kept).
func (s *Service) ConfirmTOTP(ctx context.Context, p Principal, code string) ([]string, error) {
	if err := userOnly(p); err != nil {
		return nil, err
	}
	now := s.now()
	if d, ok := s.mfaAccount.allow(p.ID, now); !ok {
		return nil, rateLimited(d)
	}
	codes := newRecoveryCodes(recoveryCodeCount)
	var claimed int64
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, p.ID)
		if err != nil {
			return err
		}
		if u.TOTPConfirmed || u.TOTPSecret == "" {
			return fmt.Errorf("%w: no TOTP enrollment in progress", ErrInvalid)
		}
		step, err := s.claimCodeAndReplaceRecovery(ctx, tx, u, code, now, codes, "TOTP code does not match")
		if err != nil {
			return err
		}
		claimed = step
		u.TOTPConfirmed, u.TOTPLastStep = true, step
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditMFAChange, Target: "user:" + u.ID,
			Details: map[string]string{"change": "totp_enabled"},
		})
	})
	if err != nil {
		if claimed != 0 {
			s.guard.release(p.ID, claimed)
		}
		return nil, storeErr("confirm TOTP", err)
	}
	s.log.Info("TOTP enabled", "org", p.OrgID, "user", p.ID)
	return codes, nil
}

// DisableTOTP turns MFA off, given a current TOTP code or an unused recovery code (for a lost
// authenticator). The secret and the remaining recovery codes are deleted.
func (s *Service) DisableTOTP(ctx context.Context, p Principal, code string) error {
	if err := userOnly(p); err != nil {
		return err
	}
	now := s.now()
	if d, ok := s.mfaAccount.allow(p.ID, now); !ok {
		return rateLimited(d)
	}
	var claimed int64
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, p.ID)
		if err != nil {
			return err
		}
		if !u.TOTPConfirmed {
			return fmt.Errorf("%w: TOTP is not on", ErrInvalid)
		}
		method := "totp"
		secret, err := s.totpSecret(u)
		if err != nil {
			return err
		}
		if step, ok := matchTOTP(secret, code, now, u.TOTPLastStep); ok && s.guard.claim(u.ID, step, now) {
			claimed = step
			u.TOTPLastStep = step
		} else if rc := normalizeRecoveryCode(code); rc != "" {
			err := tx.UseRecoveryCode(ctx, u.ID, recoveryCodeHash(u.ID, rc), now)
			if errors.Is(err, store.ErrTokenInvalid) {
				return fmt.Errorf("%w: code does not match", ErrInvalid)
			}
			if err != nil {
				return err
			}
			method = "recovery_code"
		} else {
			return fmt.Errorf("%w: code does not match", ErrInvalid)
		}
		u.TOTPSecret, u.TOTPConfirmed = "", false
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		if err := tx.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditMFAChange, Target: "user:" + u.ID,
			Details: map[string]string{"change": "totp_disabled", "method": method},
		})
	})
	if err != nil {
		if claimed != 0 {
			s.guard.release(p.ID, claimed)
		}
		return storeErr("disable TOTP", err)
	}
	s.log.Info("TOTP disabled", "org", p.OrgID, "user", p.ID)
	return nil
}

// RegenerateRecoveryCodes replaces p's recovery codes by 10 new ones, shown once, given a
// current TOTP code (a recovery code will not do: whoever holds only those should disable MFA
// and enroll a new authenticator). The old codes stop working at once.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, p Principal, code string) ([]string, error) {
	if err := userOnly(p); err != nil {
		return nil, err
	}
	now := s.now()
	if d, ok := s.mfaAccount.allow(p.ID, now); !ok {
		return nil, rateLimited(d)
	}
	codes := newRecoveryCodes(recoveryCodeCount)
	var claimed int64
	err := s.store.Write(ctx, p.OrgID, func(tx store.Tx) error {
		u, err := tx.User(ctx, p.ID)
		if err != nil {
			return err
		}
		if !u.TOTPConfirmed {
			return fmt.Errorf("%w: TOTP is not on; enable it first", ErrInvalid)
		}
		step, err := s.claimCodeAndReplaceRecovery(ctx, tx, u, code, now, codes,
			"TOTP code does not match (a current code from the authenticator app is needed)")
		if err != nil {
			return err
		}
		claimed = step
		u.TOTPLastStep = step
		if err := s.updateUser(ctx, tx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, store.AuditRecord{
			Time: now, Actor: p.String(), Action: store.AuditMFAChange, Target: "user:" + u.ID,
			Details: map[string]string{"change": "recovery_codes_regenerated"},
		})
	})
	if err != nil {
		if claimed != 0 {
			s.guard.release(p.ID, claimed)
		}
		return nil, storeErr("regenerate recovery codes", err)
	}
	s.log.Info("recovery codes regenerated", "org", p.OrgID, "user", p.ID)
	return codes, nil
}

// claimCodeAndReplaceRecovery checks code against u's secret (each step claimed once, on any
// attempt: no replay) and replaces u's recovery codes with codes, hashed; mismatch is the
// ErrInvalid text for a code that does not match. It returns the step the code claimed.
func (s *Service) claimCodeAndReplaceRecovery(ctx context.Context, tx store.Tx, u store.User, code string, now time.Time, codes []string, mismatch string) (int64, error) {
	secret, err := s.totpSecret(u)
	if err != nil {
		return 0, err
	}
	step, ok := matchTOTP(secret, code, now, u.TOTPLastStep)
	if !ok || !s.guard.claim(u.ID, step, now) {
		return 0, fmt.Errorf("%w: %s", ErrInvalid, mismatch)
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = recoveryCodeHash(u.ID, normalizeRecoveryCode(c))
	}
	if err := tx.ReplaceRecoveryCodes(ctx, u.ID, hashes); err != nil {
		return 0, err
	}
	return step, nil
}
