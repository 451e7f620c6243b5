package web

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// rosterPage opens the console page without a link, to import its roster modules.
func rosterPage(t *testing.T) context.Context {
	t.Helper()
	srv := serveConsole(t, nil)
	ctx, log := openBrowser(t)
	navigate(t, ctx, srv.URL+"/console/")
	t.Cleanup(func() { checkClean(t, ctx, log) })
	return ctx
}

func jsJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestRosterPhrases: every roster event is said from this participant's point of view, by
// name, never by session id. "a" is this console (Alice); Bob holds control unless a case
// says otherwise.
func TestRosterPhrases(t *testing.T) {
	ctx := rosterPage(t)
	ev := func(kind, by, subject, reason string) wire.RosterEvent {
		return wire.RosterEvent{Kind: kind, By: by, Subject: subject, Reason: reason}
	}
	for _, tc := range []struct {
		name       string
		event      wire.RosterEvent
		controller string
		want       any // a string, or nil: nothing to say
	}{
		{"someone joined", ev(wire.EventJoined, "", "c", ""), "b", "Carol joined"},
		{"own arrival is not news", ev(wire.EventJoined, "", "a", ""), "b", nil},
		{"someone left", ev(wire.EventLeft, "", "c", ""), "b", "Carol left"},
		{"a session no longer known left", ev(wire.EventLeft, "", "s_gone", ""), "b", "Someone left"},
		{"someone asks the controller", ev(wire.EventRequested, "", "c", ""), "a", "Carol asks for control"},
		{"someone asks, seen by a watcher", ev(wire.EventRequested, "", "c", ""), "b", "Carol asks for control"},
		{"own request", ev(wire.EventRequested, "", "a", ""), "b", "You asked Bob for control"},
		{"own request withdrawn", ev(wire.EventCancelled, "", "a", ""), "b", "You withdrew your request for control"},
		{"a request withdrawn", ev(wire.EventCancelled, "", "c", ""), "a", "Carol withdrew the request for control"},
		{"given control", ev(wire.EventGranted, "b", "a", ""), "a", "Bob gave you control"},
		{"free control", ev(wire.EventGranted, "", "a", ""), "a", "You are in control"},
		{"gave control", ev(wire.EventGranted, "a", "c", ""), "c", "You gave control to Carol"},
		{"control moved between others", ev(wire.EventGranted, "b", "c", ""), "c", "Bob gave control to Carol"},
		{"someone took free control", ev(wire.EventGranted, "", "c", ""), "c", "Carol is in control"},
		{"own request declined", ev(wire.EventDeclined, "b", "a", ""), "b", "Your request was declined"},
		{"declined someone", ev(wire.EventDeclined, "a", "c", ""), "a", "You declined Carol's request"},
		{"others' request declined", ev(wire.EventDeclined, "b", "c", ""), "b", "Bob declined Carol's request"},
		{"own request timed out", ev(wire.EventTimedOut, "", "a", ""), "b", "Your request timed out: it was not answered in time"},
		{"a request timed out", ev(wire.EventTimedOut, "", "c", ""), "a", "Carol's request for control timed out"},
		{"released control", ev(wire.EventReleased, "", "a", ""), "", "You released control"},
		{"lost control", ev(wire.EventReleased, "", "a", "your role is now viewer"), "", "You lost control: your role is now viewer"},
		{"someone released", ev(wire.EventReleased, "", "b", ""), "", "Bob released control: nobody is in control"},
		{"someone lost control", ev(wire.EventReleased, "", "b", "the session ended"), "", "Bob lost control: the session ended"},
		{"taken from you", ev(wire.EventTaken, "b", "a", ""), "b", "Bob took control from you"},
		{"you took", ev(wire.EventTaken, "a", "b", ""), "a", "You took control from Bob"},
		{"taken between others", ev(wire.EventTaken, "c", "b", ""), "c", "Carol took control from Bob"},
		{"own grant lowered", ev(wire.EventRegranted, "", "a", "role changed"), "b", "You can now only watch (view only): role changed"},
		{"someone's grant raised", ev(wire.EventRegranted, "", "c", ""), "b", "Carol can now take control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Carol is an admin in the new roster unless her grant is what the case lowers.
			grants := map[string]wire.Grant{"a": wire.GrantControl, "b": wire.GrantControl, "c": wire.GrantAdmin}
			if tc.event.Kind == wire.EventRegranted && tc.event.Subject == "a" {
				grants["a"] = wire.GrantView
			}
			got := eval[any](t, ctx, fmt.Sprintf(`import("./js/rosterphrases.js").then(({ eventText }) => {
				const names = { a: "Alice", b: "Bob", c: "Carol" };
				const grants = %s;
				return eventText(%s, { me: "a", name: (sid) => names[sid] ?? "Someone", grantOf: (sid) => grants[sid] ?? "", controller: %q });
			})`, jsJSON(t, grants), jsJSON(t, tc.event), tc.controller))
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestRosterPosition: where this console stands in a roster, and what a hostile or broken
// roster turns into.
func TestRosterPosition(t *testing.T) {
	ctx := rosterPage(t)
	type pos struct {
		Grant      string
		MayControl bool
		IsAdmin    bool
		InControl  bool
		Controller *string
		Request    *struct {
			From     string
			Mine     bool
			ToAnswer bool
		}
	}
	str := func(s string) *string { return &s }
	roster := func(me wire.Grant, controller string, requester string) wire.Roster {
		r := wire.Roster{
			Participants: []wire.Participant{{SID: "a", Name: "Alice", Grant: me}, {SID: "b", Name: "Bob", Grant: wire.GrantControl}},
			Controller:   controller,
		}
		if requester != "" {
			r.Request = &wire.PendingRequest{From: requester, ExpiresAt: 1}
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		roster any
		want   *pos
	}{
		{"in control", roster(wire.GrantControl, "a", ""), &pos{Grant: "control", MayControl: true, InControl: true, Controller: str("Alice")}},
		{"watching", roster(wire.GrantControl, "b", ""), &pos{Grant: "control", MayControl: true, Controller: str("Bob")}},
		{"view only, nobody in control", roster(wire.GrantView, "", ""), &pos{Grant: "view"}},
		{"admin", roster(wire.GrantAdmin, "b", ""), &pos{Grant: "admin", MayControl: true, IsAdmin: true, Controller: str("Bob")}},
		{"own request", roster(wire.GrantControl, "b", "a"), &pos{Grant: "control", MayControl: true, Controller: str("Bob"),
			Request: &struct {
				From     string
				Mine     bool
				ToAnswer bool
			}{"Alice", true, false}}},
		{"a request to answer", roster(wire.GrantControl, "a", "b"), &pos{Grant: "control", MayControl: true, InControl: true, Controller: str("Alice"),
			Request: &struct {
				From     string
				Mine     bool
				ToAnswer bool
			}{"Bob", false, true}}},
		{"a controller who is not a participant is nobody", map[string]any{
			"participants": []any{map[string]any{"sid": "a", "name": "Alice", "grant": "control"}}, "controller": "zz",
		}, &pos{Grant: "control", MayControl: true}},
		{"an unknown grant is control", map[string]any{
			"participants": []any{map[string]any{"sid": "a", "name": "Alice", "grant": "root"}},
		}, &pos{Grant: "control", MayControl: true}},
		{"no participants list is no roster", map[string]any{"controller": "a"}, nil},
		{"not an object", "roster", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := eval[json.RawMessage](t, ctx, fmt.Sprintf(`import("./js/roster.js").then(({ parseRoster, position }) => {
				const r = parseRoster(%s);
				if (!r) return null;
				const p = position(r, "a");
				const names = { a: "Alice", b: "Bob" };
				return {
					grant: p.grant, mayControl: p.mayControl, isAdmin: p.isAdmin, inControl: p.inControl,
					controller: p.controller?.name ?? null,
					request: p.request && { from: p.request.from.name, mine: p.request.mine, toAnswer: p.request.toAnswer },
				};
			})`, jsJSON(t, tc.roster)))
			var got *pos
			require.NoError(t, json.Unmarshal(raw, &got))
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestRequestCountdown: the countdown of a request runs on this browser's clock from the
// agent's deadline, unless the two clocks disagree by more than the request's window.
func TestRequestCountdown(t *testing.T) {
	ctx := rosterPage(t)
	const now = 1_700_000_000_000
	for _, tc := range []struct {
		name      string
		expiresAt int64
		want      int // seconds left at now
	}{
		{"agrees", now + 25_000, 25},
		{"part of a second left", now + 24_200, 25},
		{"just over", now - 500, 0},
		{"agent clock far ahead", now + 5*60_000, 30},
		{"agent clock far behind", now - 60_000, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := eval[int](t, ctx, fmt.Sprintf(`import("./js/roster.js").then(({ localDeadline, secondsLeft }) =>
				secondsLeft(localDeadline(%d, %d), %d))`, tc.expiresAt, now, now))
			assert.Equal(t, tc.want, got)
		})
	}
}
