package agent

import (
	"context"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/device"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// displayTimeout bounds one query of the machine's screens.
const displayTimeout = 15 * time.Second

// tellDisplays sends a console the machine's screens when there is a choice.
func (a *Agent) tellDisplays(ctx context.Context, sids ...string) {
	dc, ok := a.cfg.Source.(device.DisplayControl)
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
		for _, d := range ds[:min(len(ds), wire.MaxDisplays)] {
			msg.Displays = append(msg.Displays, wire.DisplayInfo{Index: d.Index, Width: d.Width, Height: d.Height, Role: d.Role, Current: d.Current})
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
	dc, ok := a.cfg.Source.(device.DisplayControl)
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
