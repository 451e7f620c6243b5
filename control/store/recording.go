package store

import "time"

// RecordingPolicy says whether an organization's console sessions are recorded.
type RecordingPolicy string

// Recording policies.
const (
	RecordingOff RecordingPolicy = "off"
	RecordingOn  RecordingPolicy = "on"
	// RecordingRequired: a session whose recording cannot be written does not start, or
	// ends with the reason.
	RecordingRequired RecordingPolicy = "required"
)

// Valid reports whether p is a defined policy.
func (p RecordingPolicy) Valid() bool {
	return p == RecordingOff || p == RecordingOn || p == RecordingRequired
}

// Retention bounds, in days.
const (
	DefaultRecordingRetentionDays = 30
	MaxRecordingRetentionDays     = 3650
)

// RecordingState is where a recording is in its life.
type RecordingState string

// Recording states.
const (
	RecordingActive   RecordingState = "recording"
	RecordingComplete RecordingState = "complete"
	RecordingFailed   RecordingState = "failed"
)

// Valid reports whether s is a defined state.
func (s RecordingState) Valid() bool {
	return s == RecordingActive || s == RecordingComplete || s == RecordingFailed
}

// Participant is someone who took part in a recorded session, as the relay saw them.
type Participant struct {
	Name      string `json:"name"`
	Principal string `json:"principal"`
	Grant     string `json:"grant"`
}

// Recording is the catalogue entry of one recorded console session. Its files live in the
// recordings directory; Path is the video's, relative to it.
type Recording struct {
	ID        string
	OrgID     string
	SessionID string
	DeviceID  string
	StartedAt time.Time
	EndedAt   *time.Time
	// Duration is the video's media duration, kept in milliseconds.
	Duration       time.Duration
	Frames         int64
	Bytes          int64
	VideoSHA256    string
	TimelineSHA256 string
	Path           string
	State          RecordingState
	Error          string
	Participants   []Participant
	CaptureKeys    bool
}

// RecordingEnd is what ending a recording writes.
type RecordingEnd struct {
	State          RecordingState // complete or failed
	EndedAt        time.Time
	Duration       time.Duration
	Frames         int64
	Bytes          int64
	VideoSHA256    string
	TimelineSHA256 string
	Error          string
	Participants   []Participant
}

// RecordingFilter selects recordings, newest first; empty fields select all. Limit 0 means
// a default page (100), Offset skips that many.
type RecordingFilter struct {
	DeviceID  string
	SessionID string
	Limit     int
	Offset    int
}
