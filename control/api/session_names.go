package api

import (
	"context"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// namedSession is a session's view with the person and the device named.
func namedSession(ctx context.Context, tx store.Tx, names *sessions.Names, s store.ConsoleSession) sessionView {
	v := session(s)
	v.PrincipalName = names.Session(ctx, s) // a guest by the name they gave
	if d, err := tx.Device(ctx, s.DeviceID); err == nil {
		v.DeviceName = d.Name
	}
	return v
}

// actorName is how stop reasons name the principal acting: its email, else its key's name.
func (a *API) actorName(ctx context.Context, p accounts.Principal) string {
	if p.Email != "" {
		return p.Email
	}
	name := p.String()
	_ = a.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
		name = sessions.NewNames(tx).Principal(ctx, p.String())
		return nil
	})
	return name
}

// liveSessionsOf lists every live session of a device, newest first.
func liveSessionsOf(ctx context.Context, tx store.Tx, deviceID string) ([]store.ConsoleSession, error) {
	all, err := tx.SessionsToReconcile(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.ConsoleSession
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].DeviceID == deviceID {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// withPresence fills in whether each active session's console is connected now. A presence
// that cannot answer (Redis away) leaves the field out rather than guess.
func (a *API) withPresence(ctx context.Context, vs []sessionView) {
	if a.cfg.Presence == nil {
		return
	}
	for i := range vs {
		if vs[i].Current != store.SessionActive {
			continue
		}
		connected, err := a.cfg.Presence.ConsoleConnected(ctx, vs[i].ID)
		if err != nil {
			a.log.Warn("console presence unknown", "sid", vs[i].ID, "err", err)
			continue
		}
		vs[i].ConsoleConnected = &connected
	}
}
