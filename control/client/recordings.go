package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Participant is someone who took part in a recorded session.
type Participant struct {
	Name      Text   `json:"name"`
	Principal string `json:"principal"`
	Grant     string `json:"grant"`
}

// Recording is a recorded console session (GET /recordings).
type Recording struct {
	ID             string        `json:"id"`
	SessionID      string        `json:"session_id"`
	DeviceID       string        `json:"device_id"`
	DeviceName     Text          `json:"device_name"`
	StartedAt      time.Time     `json:"started_at"`
	EndedAt        *time.Time    `json:"ended_at"`
	DurationMS     int64         `json:"duration_ms"`
	Frames         int64         `json:"frames"`
	Bytes          int64         `json:"bytes"`
	VideoSHA256    string        `json:"video_sha256"`
	TimelineSHA256 string        `json:"timeline_sha256"`
	State          string        `json:"state"`
	Error          Text          `json:"error"`
	Participants   []Participant `json:"participants"`
	CaptureKeys    bool          `json:"capture_keys"`
}

// RecordingFilter selects recordings; empty fields select all.
type RecordingFilter struct {
	DeviceID, SessionID string
	Limit, Offset       int
}

// RecordingPage is one page of recordings; NextOffset is nil on the last.
type RecordingPage struct {
	Recordings []Recording `json:"recordings"`
	NextOffset *int        `json:"next_offset"`
}

// Verification is what verifying a recording found (POST /recordings/{id}/verify).
type Verification struct {
	ID              string `json:"id"`
	OK              bool   `json:"ok"`
	AuditSeq        int64  `json:"audit_seq"`
	AuditedVideo    string `json:"audited_video_sha256"`
	AuditedTimeline string `json:"audited_timeline_sha256"`
	RowVideo        string `json:"catalogue_video_sha256"`
	RowTimeline     string `json:"catalogue_timeline_sha256"`
	Video           string `json:"video"`
	Timeline        string `json:"timeline"`
	Problems        []Text `json:"problems"`
}

// Recordings lists one page of the organization's recordings, newest first.
func (c *Client) Recordings(ctx context.Context, f RecordingFilter) (RecordingPage, error) {
	q := url.Values{}
	if f.DeviceID != "" {
		q.Set("device", f.DeviceID)
	}
	if f.SessionID != "" {
		q.Set("session", f.SessionID)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	var out RecordingPage
	if err := c.do(ctx, http.MethodGet, "/recordings", q, nil, &out); err != nil {
		return RecordingPage{}, fmt.Errorf("list recordings: %w", err)
	}
	return out, nil
}

// Recording reads one recording.
func (c *Client) Recording(ctx context.Context, id string) (Recording, error) {
	var out Recording
	if err := c.do(ctx, http.MethodGet, "/recordings/"+seg(id), nil, nil, &out); err != nil {
		return Recording{}, fmt.Errorf("read recording %s: %w", id, err)
	}
	return out, nil
}

// VerifyRecording has the relay check a recording's files against the audit chain.
func (c *Client) VerifyRecording(ctx context.Context, id string) (Verification, error) {
	var out Verification
	if err := c.do(ctx, http.MethodPost, "/recordings/"+seg(id)+"/verify", nil, nil, &out); err != nil {
		return Verification{}, fmt.Errorf("verify recording %s: %w", id, err)
	}
	return out, nil
}

// ExportRecording writes a recording's video (MP4) to w and returns its size; the relay
// audits the export.
func (c *Client) ExportRecording(ctx context.Context, id string, w io.Writer) (int64, error) {
	raw := &rawBody{w: w}
	if err := c.do(ctx, http.MethodGet, "/recordings/"+seg(id)+"/video", url.Values{"download": {"1"}}, nil, raw); err != nil {
		return raw.n, fmt.Errorf("export recording %s: %w", id, err)
	}
	return raw.n, nil
}

// rawBody takes an answer's bytes as they are (a file, not JSON).
type rawBody struct {
	w io.Writer
	n int64
}

func (b *rawBody) copyFrom(ctx context.Context, r request, resp *http.Response) error {
	n, err := io.Copy(b.w, resp.Body)
	b.n += n
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
		}
		return fmt.Errorf("%s %s: after %d bytes: %w", r.method, r.path, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("%s %s: %d of %d bytes arrived", r.method, r.path, n, resp.ContentLength)
	}
	return nil
}
