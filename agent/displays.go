package agent

import (
	"context"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/internal/safetext"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// displayTimeout bounds one query of the machine's screens.
const displayTimeout = 15 * time.Second

// tellDisplays sends a console the machine's screens when there is a choice.
func (a *Agent) tellDisplays(ctx context.Context, sids ...string) {
	dc, ok := a.displayControl()
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
			sids = a.sessionIDs()
		}
		for _, sid := range sids {
			a.send(sid, wire.TypeDisplays, msg)
		}
	})
}

// handleDisplaySelect shows another screen: the source takes the choice and the supervisor
// reconnects to it; every console is told.
func (a *Agent) handleDisplaySelect(ctx context.Context, sel wire.DisplaySelect) {
	dc, ok := a.displayControl()
	if !ok {
		return
	}
	if err := dc.SelectDisplay(sel.Index); err != nil {
		a.log.Warn("display not selected", "display", sel.Index, "err", err)
		return
	}
	a.log.Info("display selected", "display", sel.Index)
	a.sup.Reconnect("switching to display " + strconv.Itoa(sel.Index))
	a.tellDisplays(ctx)
}

// displayControl is the source's screen choice, if it has one and the device is not
// view-only.
func (a *Agent) displayControl() (device.DisplayControl, bool) {
	if a.cfg.ViewOnly {
		return nil, false
	}
	dc, ok := a.cfg.Source.(device.DisplayControl)
	return dc, ok
}
