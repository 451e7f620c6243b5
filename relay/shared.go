package relay

import (
	"context"
	"time"

	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/signaling"
	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// controlAuditor is signaling's ControlAuditor: joins, leaves, control moves and input bursts
// of shared sessions go to the organization's audit chain through the sessions manager, which
// names the principals from the stored sessions — the agent's report only says which sessions
// and what happened.
type controlAuditor struct{ m *sessions.Manager }

func (a controlAuditor) ConsoleJoined(ctx context.Context, info signaling.SessionInfo) error {
	return a.m.ConsoleJoined(ctx, info.Tenant, info.SID, info.Grant)
}

func (a controlAuditor) ConsoleLeft(ctx context.Context, info signaling.SessionInfo, reason string) error {
	return a.m.ConsoleLeft(ctx, info.Tenant, info.SID, reason)
}

func (a controlAuditor) ControlMoved(ctx context.Context, subject, by signaling.SessionInfo, e wire.RosterEvent) error {
	return a.m.ControlMoved(ctx, subject.Tenant, sessions.ControlMove{Subject: subject.SID, Kind: e.Kind, By: by.SID, Reason: e.Reason})
}

func (a controlAuditor) InputSent(ctx context.Context, info signaling.SessionInfo, b wire.InputBurst) error {
	return a.m.InputSent(ctx, info.Tenant, sessions.InputBurst{Session: info.SID, From: time.UnixMilli(b.From), To: time.UnixMilli(b.To),
		Keys: b.Keys, Pointer: b.Pointer, Digest: b.Digest, Final: b.Final})
}
