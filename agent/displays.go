package agent

import (
	"context"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/internal/safetext"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// displayTimeout bounds one query of the machine's screens.
const displayTimeout = 15 * time.Second

// tellDisplays sends consoles of m (sids, or all of them) its screens when there is a choice.
func (a *Agent) tellDisplays(ctx context.Context, m *machine, sids ...string) {
	dc, ok := m.displayControl()
	if !ok {
		return
	}
	a.wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, displayTimeout)
		defer cancel()
		ds, err := dc.Displays(ctx)
		if err != nil {
			a.log.Info("displays unknown", "err", err)
			return
		}
		if len(ds) < 2 {
			return
		}
		msg := wire.Displays{}
		for _, d := range ds {
			// What the machine's management reports, held to what consoles accept.
			if d.Index < 0 || d.Index >= wire.MaxDisplays || len(msg.Displays) == wire.MaxDisplays {
				continue
			}
			msg.Displays = append(msg.Displays, wire.DisplayInfo{Index: d.Index,
				Width: min(max(d.Width, 0), wire.MaxDisplaySide), Height: min(max(d.Height, 0), wire.MaxDisplaySide),
				Role: safetext.Clean(d.Role, wire.MaxDisplayRole), Current: d.Current})
		}
		if len(msg.Displays) < 2 {
			return
		}
		if len(sids) == 0 {
			sids = a.sessionIDs(m)
		}
		for _, sid := range sids {
			a.send(sid, wire.TypeDisplays, msg)
		}
	})
}

// handleDisplaySelect shows another screen, if the console is the participant in control:
// the source takes the choice and the supervisor reconnects to it; every console is told.
func (a *Agent) handleDisplaySelect(ctx context.Context, sid string, sel wire.DisplaySelect) {
	s := a.session(sid)
	if s == nil {
		return
	}
	m := s.machine
	dc, ok := m.displayControl()
	if !ok {
		return
	}
	if !m.floor.controls(sid) {
		// Displays has no error to say why; the console's roster shows who is in control.
		// It gets the list again, so its choice goes back to the screen shown.
		a.log.Debug("display selection refused: not the participant in control", "sid", sid, "display", sel.Index)
		a.tellDisplays(ctx, m, sid)
		return
	}
	if err := dc.SelectDisplay(sel.Index); err != nil {
		a.log.Warn("display not selected", "display", sel.Index, "err", err)
		return
	}
	a.log.Info("display selected", "display", sel.Index)
	m.sup.Reconnect("switching to display " + strconv.Itoa(sel.Index))
	a.tellDisplays(ctx, m)
}
