package signaling

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// Recording across nodes: one relay node records a device (the one holding its stream lease;
// the relay's recorder decides). Every other node sends it what it sees of the device on the
// device's topic "recording/<device>": each timeline event as it happens, with its time (a
// console joining or leaving, and where the agent's connection is, control events, input
// bursts and, when the organization captures them, keys), and every RecordingSnapshotEvery
// the consoles of the device it holds, so that the recorder knows who watches from where
// (the last console anywhere ends the recording), and a node that takes the recording over
// learns the participants. The topic is pub/sub: a message nobody records is dropped, never
// kept (keys included; they are never logged either).

// RecordingSnapshotEvery is how often a node with consoles of a device sends their snapshot.
const RecordingSnapshotEvery = 2 * time.Second

// Recording message kinds.
const (
	RecordingJoined   = "joined"
	RecordingLeft     = "left"
	RecordingControl  = "control"
	RecordingInput    = "input"
	RecordingKeys     = "keys"
	RecordingSnapshot = "snapshot"
)

// RecordingConsole is a console session of a device as its recording names it.
type RecordingConsole struct {
	SID       string     `json:"sid"`
	Name      string     `json:"name,omitempty"`
	Principal string     `json:"principal,omitempty"`
	Grant     wire.Grant `json:"grant,omitempty"`
}

// RecordingMessage is one node's report to the device's recorder.
type RecordingMessage struct {
	Kind string `json:"kind"`
	// Node is the sending node (PublishRecording sets it); Tenant the device's organization.
	Node   string `json:"node"`
	Tenant string `json:"tenant"`
	// At is when the event happened (a snapshot: when it was taken).
	At time.Time `json:"at"`
	// Console is the event's session: who joined or left, whose input or keys.
	Console  *RecordingConsole  `json:"console,omitempty"`
	Control  *wire.RosterEvent  `json:"control,omitempty"`
	Burst    *wire.InputBurst   `json:"burst,omitempty"`
	Keys     *wire.Keys         `json:"keys,omitempty"`
	Consoles []RecordingConsole `json:"consoles,omitempty"` // snapshot: every console of the device on Node
	// Agent, Target name the machine behind a gateway (Machine of the recorder), as SessionInfo.
	Agent  string `json:"agent,omitempty"`
	Target string `json:"target,omitempty"`
}

func recordingTopic(device string) string { return "recording/" + device }

// PublishRecording sends m, from this node, to the recorder of device.
func (s *Server) PublishRecording(ctx context.Context, device string, m RecordingMessage) error {
	m.Node = s.node
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("signaling: recording %s message: %w", m.Kind, err)
	}
	if err := s.cfg.Bus.Publish(ctx, recordingTopic(device), b); err != nil {
		return fmt.Errorf("signaling: recording %s message of %s: %w", m.Kind, device, err)
	}
	return nil
}

// SubscribeRecording receives the other nodes' messages for device's recorder (decode each
// with DecodeRecording) until ctx ends or the bus cuts the subscription.
func (s *Server) SubscribeRecording(ctx context.Context, device string) (<-chan []byte, error) {
	sub, err := s.cfg.Bus.Subscribe(ctx, recordingTopic(device))
	if err != nil {
		return nil, fmt.Errorf("signaling: subscribe recording of %s: %w", device, err)
	}
	return sub, nil
}

// DecodeRecording decodes a message SubscribeRecording delivered.
func DecodeRecording(raw []byte) (RecordingMessage, error) {
	var m RecordingMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return RecordingMessage{}, fmt.Errorf("signaling: recording message: %w", err)
	}
	if m.Kind == "" || m.Node == "" {
		return RecordingMessage{}, fmt.Errorf("signaling: recording message without kind or node")
	}
	return m, nil
}
