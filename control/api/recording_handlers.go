package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/accounts"
	"github.com/kvmrelay/kvmrelay/control/recordings"
	"github.com/kvmrelay/kvmrelay/control/store"
)

type participantView struct {
	Name      string `json:"name"`
	Principal string `json:"principal"`
	Grant     string `json:"grant"`
}

type recordingView struct {
	ID             string            `json:"id"`
	SessionID      string            `json:"session_id"`
	DeviceID       string            `json:"device_id"`
	DeviceName     string            `json:"device_name"`
	StartedAt      time.Time         `json:"started_at"`
	EndedAt        *time.Time        `json:"ended_at"`
	DurationMS     int64             `json:"duration_ms"`
	Frames         int64             `json:"frames"`
	Bytes          int64             `json:"bytes"`
	VideoSHA256    string            `json:"video_sha256"`
	TimelineSHA256 string            `json:"timeline_sha256"`
	State          string            `json:"state"`
	Error          string            `json:"error,omitempty"`
	Participants   []participantView `json:"participants"`
	CaptureKeys    bool              `json:"capture_keys"`
}

func recordingOf(r store.Recording, deviceName string) recordingView {
	ps := make([]participantView, 0, len(r.Participants))
	for _, p := range r.Participants {
		ps = append(ps, participantView(p))
	}
	return recordingView{ID: r.ID, SessionID: r.SessionID, DeviceID: r.DeviceID, DeviceName: deviceName, StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, DurationMS: r.Duration.Milliseconds(), Frames: r.Frames, Bytes: r.Bytes, VideoSHA256: r.VideoSHA256,
		TimelineSHA256: r.TimelineSHA256, State: string(r.State), Error: r.Error, Participants: ps, CaptureKeys: r.CaptureKeys}
}

type recordingList struct {
	Recordings []recordingView `json:"recordings"`
	// NextOffset is the offset of the next page; null on the last.
	NextOffset *int `json:"next_offset"`
}

const maxRecordingPage = 200

// recordingsUnavailable answers 503 on a relay without recordings.
func (a *API) recordingsUnavailable(c *fiber.Ctx) bool {
	if a.cfg.Recordings != nil {
		return false
	}
	_ = fail(c, fiber.StatusServiceUnavailable, CodeUnavailable, "Recordings are not available on this relay.")
	return true
}

// visibleDevices maps the organization's devices to their names, and says whether p may see
// a recording of a device: one inside p's label scope, or, the device gone, only a principal
// without a scope (nobody can tell what its labels were).
func (a *API) visibleDevices(c *fiber.Ctx, p accounts.Principal) (map[string]string, func(id string) bool, error) {
	var devs []store.Device
	err := a.cfg.Store.Read(c.UserContext(), p.OrgID, func(tx store.Tx) error {
		var err error
		devs, err = tx.Devices(c.UserContext())
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	names, labels := map[string]string{}, map[string]map[string]string{}
	for _, d := range devs {
		names[d.ID], labels[d.ID] = d.Name, d.Labels
	}
	return names, func(id string) bool {
		l, ok := labels[id]
		if !ok {
			return len(p.Scope) == 0
		}
		return p.SeesDevice(l)
	}, nil
}

func (a *API) listRecordings(c *fiber.Ctx) error {
	if a.recordingsUnavailable(c) {
		return nil
	}
	p := principalOf(c)
	limit, offset := c.QueryInt("limit", 50), c.QueryInt("offset", 0)
	if limit <= 0 || limit > maxRecordingPage || offset < 0 {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "limit must be between 1 and 200 and offset ≥ 0.")
	}
	f := store.RecordingFilter{DeviceID: c.Query("device"), SessionID: c.Query("session"), Limit: limit + 1, Offset: offset}
	for _, id := range []string{f.DeviceID, f.SessionID} {
		if id != "" && !store.ValidID(id) {
			return fail(c, fiber.StatusBadRequest, CodeBadRequest, "device and session are ids (UUIDs).")
		}
	}
	list, err := a.cfg.Recordings.List(c.UserContext(), p.OrgID, f)
	if err != nil {
		return a.failErr(c, err)
	}
	names, visible, err := a.visibleDevices(c, p)
	if err != nil {
		return a.failErr(c, err)
	}
	out := recordingList{Recordings: []recordingView{}}
	if len(list) > limit {
		next := offset + limit
		out.NextOffset, list = &next, list[:limit]
	}
	for _, r := range list {
		if visible(r.DeviceID) {
			out.Recordings = append(out.Recordings, recordingOf(r, names[r.DeviceID]))
		}
	}
	return c.JSON(out)
}

// recording reads one recording p may see; ErrNotFound otherwise, alike for one of another
// organization and one outside p's scope.
func (a *API) recording(c *fiber.Ctx, p accounts.Principal) (store.Recording, string, error) {
	r, err := a.cfg.Recordings.Get(c.UserContext(), p.OrgID, c.Params("id"))
	if err != nil {
		return r, "", recordingErr(err)
	}
	names, visible, err := a.visibleDevices(c, p)
	if err != nil {
		return r, "", err
	}
	if !visible(r.DeviceID) {
		return store.Recording{}, "", fmt.Errorf("recording %s: outside the scope: %w", r.ID, store.ErrNotFound)
	}
	return r, names[r.DeviceID], nil
}

// recordingErr maps the service's not-found onto the store's, which failErr answers 404.
func recordingErr(err error) error {
	if errors.Is(err, recordings.ErrNotFound) {
		return errors.Join(store.ErrNotFound, err)
	}
	return err
}

func (a *API) getRecording(c *fiber.Ctx) error {
	if a.recordingsUnavailable(c) {
		return nil
	}
	r, name, err := a.recording(c, principalOf(c))
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(recordingOf(r, name))
}

// recordingVideo serves the MP4 with Range support (seeking), audited as a view, or with
// ?download=1 as an export (Content-Disposition: attachment).
func (a *API) recordingVideo(c *fiber.Ctx) error {
	if a.recordingsUnavailable(c) {
		return nil
	}
	p := principalOf(c)
	r, _, err := a.recording(c, p)
	if err != nil {
		return a.failErr(c, err)
	}
	why := recordings.AccessView
	if c.QueryBool("download") {
		why = recordings.AccessExport
	}
	// Every request is audited, Range requests too: a range that skips the first byte is
	// still the video leaving the relay. The dashboard fetches a recording in one request.
	path, _, err := a.cfg.Recordings.OpenVideo(c.UserContext(), p.OrgID, r.ID, p.String(), why)
	if err != nil {
		return a.failErr(c, recordingErr(err))
	}
	if why == recordings.AccessExport {
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="recording-`+r.ID+`.mp4"`)
	}
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	return a.serveFile(c, path, "video/mp4")
}

func (a *API) recordingTimeline(c *fiber.Ctx) error {
	if a.recordingsUnavailable(c) {
		return nil
	}
	p := principalOf(c)
	r, _, err := a.recording(c, p)
	if err != nil {
		return a.failErr(c, err)
	}
	lines, err := a.cfg.Recordings.Timeline(c.UserContext(), p.OrgID, r.ID)
	if err != nil {
		return a.failErr(c, recordingErr(err))
	}
	if err := a.cfg.Recordings.AuditTimeline(c.UserContext(), p.OrgID, r.ID, p.String()); err != nil {
		return a.failErr(c, err)
	}
	if lines == nil {
		lines = []json.RawMessage{}
	}
	return c.JSON(lines)
}

type verificationView struct {
	ID              string   `json:"id"`
	OK              bool     `json:"ok"`
	AuditSeq        int64    `json:"audit_seq"`
	AuditedVideo    string   `json:"audited_video_sha256"`
	AuditedTimeline string   `json:"audited_timeline_sha256"`
	RowVideo        string   `json:"catalogue_video_sha256"`
	RowTimeline     string   `json:"catalogue_timeline_sha256"`
	Video           string   `json:"video"`
	Timeline        string   `json:"timeline"`
	Problems        []string `json:"problems"`
}

func (a *API) verifyRecording(c *fiber.Ctx) error {
	if a.recordingsUnavailable(c) {
		return nil
	}
	p := principalOf(c)
	r, _, err := a.recording(c, p)
	if err != nil {
		return a.failErr(c, err)
	}
	v, err := a.cfg.Recordings.Verify(c.UserContext(), p.OrgID, r.ID)
	if err != nil {
		return a.failErr(c, recordingErr(err))
	}
	if err := a.cfg.Recordings.AuditVerify(c.UserContext(), p.OrgID, p.String(), v); err != nil {
		return a.failErr(c, err)
	}
	problems := v.Problems
	if problems == nil {
		problems = []string{}
	}
	return c.JSON(verificationView{ID: v.ID, OK: v.OK, AuditSeq: v.AuditSeq, AuditedVideo: v.AuditedVideo, AuditedTimeline: v.AuditedTimeline,
		RowVideo: v.RowVideo, RowTimeline: v.RowTimeline, Video: v.Video, Timeline: v.Timeline, Problems: problems})
}
