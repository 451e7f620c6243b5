package wire

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestControlCheck(t *testing.T) {
	tests := []struct {
		name string
		c    Control
		ok   bool
	}{
		{"request", Control{Action: ControlRequest}, true},
		{"cancel", Control{Action: ControlCancel}, true},
		{"release", Control{Action: ControlRelease}, true},
		{"take", Control{Action: ControlTake}, true},
		{"approve", Control{Action: ControlApprove, From: "s_1"}, true},
		{"decline", Control{Action: ControlDecline, From: "s_1"}, true},
		{"pass", Control{Action: ControlPass, To: "s_2"}, true},
		{"approve without from", Control{Action: ControlApprove}, false},
		{"approve with to", Control{Action: ControlApprove, From: "s_1", To: "s_2"}, false},
		{"pass without to", Control{Action: ControlPass}, false},
		{"pass with from", Control{Action: ControlPass, From: "s_1", To: "s_2"}, false},
		{"request naming someone", Control{Action: ControlRequest, To: "s_2"}, false},
		{"take naming someone", Control{Action: ControlTake, From: "s_2"}, false},
		{"bad sid", Control{Action: ControlPass, To: "s 2"}, false},
		{"long sid", Control{Action: ControlPass, To: strings.Repeat("a", 65)}, false},
		{"unknown", Control{Action: "grab"}, false},
		{"empty", Control{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Check()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrBadMessage)
			}
		})
	}
}

func TestRosterCheck(t *testing.T) {
	ok := func() Roster {
		return Roster{
			Participants: []Participant{{SID: "s_1", Name: "alice@example.com", Grant: GrantControl}, {SID: "s_2", Name: "bob", Grant: GrantView}},
			Controller:   "s_1",
			Request:      &PendingRequest{From: "s_2", ExpiresAt: 1},
			Event:        &RosterEvent{Kind: EventRequested, Subject: "s_2"},
		}
	}
	tests := []struct {
		name   string
		change func(r *Roster)
		ok     bool
	}{
		{"as built", func(*Roster) {}, true},
		{"nobody", func(r *Roster) { *r = Roster{} }, true},
		{"controller not a participant", func(r *Roster) { r.Controller = "s_9" }, false},
		{"requester not a participant", func(r *Roster) { r.Request.From = "s_9" }, false},
		{"unknown grant", func(r *Roster) { r.Participants[1].Grant = "root" }, false},
		{"name with a control character", func(r *Roster) { r.Participants[0].Name = "al\x1bice" }, false},
		{"name too long", func(r *Roster) { r.Participants[0].Name = strings.Repeat("a", MaxParticipantName+1) }, false},
		{"unknown event", func(r *Roster) { r.Event.Kind = "exploded" }, false},
		{"event with a bad sid", func(r *Roster) { r.Event.By = "a b" }, false},
		{"too many", func(r *Roster) {
			for i := 0; i <= MaxParticipants; i++ {
				r.Participants = append(r.Participants, Participant{SID: "s_x", Name: "x", Grant: GrantView})
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.change(&r)
			err := r.Check()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrBadMessage)
			}
		})
	}
}

func TestInputBurstAndControlEventCheck(t *testing.T) {
	digest := strings.Repeat("ab", 32)
	assert.NoError(t, InputBurst{From: 1, To: 2, Keys: 3, Pointer: 4, Digest: digest, Final: true}.Check())
	assert.ErrorIs(t, InputBurst{From: 2, To: 1, Digest: digest}.Check(), ErrBadMessage)
	assert.ErrorIs(t, InputBurst{From: 1, To: 2, Keys: -1, Digest: digest}.Check(), ErrBadMessage)
	assert.ErrorIs(t, InputBurst{From: 1, To: 2, Digest: "AB"}.Check(), ErrBadMessage)
	assert.NoError(t, CheckControlEvent(RosterEvent{Kind: EventTaken, By: "s_1", Subject: "s_2"}))
	assert.ErrorIs(t, CheckControlEvent(RosterEvent{Kind: EventJoined, Subject: "s_2"}), ErrBadMessage)
	assert.ErrorIs(t, CheckControlEvent(RosterEvent{Kind: "nope"}), ErrBadMessage)
	assert.NoError(t, GrantChange{Grant: GrantView}.Check())
	assert.ErrorIs(t, GrantChange{Grant: "everything"}.Check(), ErrBadMessage)
	assert.True(t, GrantAdmin.MayControl())
	assert.False(t, GrantView.MayControl())
}
