package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func (a *app) recordingsList(ctx context.Context, args []string) error {
	fs := a.cmdFlags("recordings list", "[--device DEVICE] [--session SESSION] [--limit N] [--offset N] [-o table|json]")
	device := fs.String("device", "", "only this device's recordings (id or name)")
	session := fs.String("session", "", "only this console session's recordings")
	limit := fs.Int("limit", 50, "at most this many, 1 to 200")
	offset := fs.Int("offset", 0, "skip this many (the next page's offset is printed)")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 || *limit > 200 || *offset < 0 {
		return usageErr("recordings list: --limit is 1 to 200 and --offset ≥ 0")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	f := client.RecordingFilter{SessionID: *session, Limit: *limit, Offset: *offset}
	if *device != "" {
		d, err := c.ResolveDevice(ctx, *device)
		if err != nil {
			return err
		}
		f.DeviceID = d.ID
	}
	p, err := c.Recordings(ctx, f)
	if err != nil {
		return err
	}
	if out.value == "json" {
		if p.Recordings == nil {
			p.Recordings = []client.Recording{}
		}
		return writeJSON(a.stdout, p)
	}
	t := newTable(a.stdout, "RECORDING", "STARTED", "DURATION", "DEVICE", "SESSION", "PARTICIPANTS", "SIZE", "STATE")
	for _, r := range p.Recordings {
		t.row(client.Sanitize(r.ID), ts(r.StartedAt), mediaDuration(r.DurationMS), client.Sanitize(recordingDevice(r)),
			client.Sanitize(r.SessionID), client.Sanitize(truncate(participantNames(r.Participants), 60)), size(r.Bytes), recordingState(r))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if p.NextOffset != nil {
		fmt.Fprintf(a.stderr, "More: kvmctl recordings list --offset %d --limit %d\n", *p.NextOffset, *limit)
	}
	return nil
}

func (a *app) recordingsGet(ctx context.Context, args []string) error {
	fs := a.cmdFlags("recordings get", "ID [-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "ID")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	r, err := c.Recording(ctx, pos[0])
	if err != nil {
		return err
	}
	if out.value == "json" {
		return writeJSON(a.stdout, r)
	}
	t := newTable(a.stdout, "FIELD", "VALUE")
	t.row("id", client.Sanitize(r.ID))
	t.row("state", recordingState(r))
	t.row("device", client.Sanitize(recordingDevice(r)))
	t.row("session", client.Sanitize(r.SessionID))
	t.row("started", ts(r.StartedAt))
	t.row("ended", tsp(r.EndedAt))
	t.row("duration", mediaDuration(r.DurationMS))
	t.row("frames", strconv.FormatInt(r.Frames, 10))
	t.row("size", size(r.Bytes))
	t.row("keystrokes captured", yesNo(r.CaptureKeys))
	t.row("video sha256", client.Sanitize(r.VideoSHA256))
	t.row("timeline sha256", client.Sanitize(r.TimelineSHA256))
	for _, p := range r.Participants {
		t.row("participant", client.Sanitize(p.Name.String()+" ("+p.Principal+", "+p.Grant+")"))
	}
	return t.flush()
}

func (a *app) recordingsVerify(ctx context.Context, args []string) error {
	fs := a.cmdFlags("recordings verify", "ID [-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	pos, err := a.parse(fs, args, "ID")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	v, err := c.VerifyRecording(ctx, pos[0])
	if err != nil {
		return err
	}
	if out.value == "json" {
		if err := writeJSON(a.stdout, v); err != nil {
			return err
		}
	} else if v.OK {
		fmt.Fprintf(a.stdout, "Recording %s verifies: its video and timeline match the SHA-256 the audit chain recorded when it closed (seq %d).\n",
			client.Sanitize(v.ID), v.AuditSeq)
		fmt.Fprintf(a.stdout, "video    %s\ntimeline %s\n", client.Sanitize(v.AuditedVideo), client.Sanitize(v.AuditedTimeline))
	}
	if v.OK {
		return nil
	}
	problems := make([]string, 0, len(v.Problems))
	for _, p := range v.Problems {
		problems = append(problems, client.Sanitize(p.String()))
	}
	return &client.RecordingTamperedError{ID: client.Sanitize(v.ID), Problems: problems}
}

// recordingsExport downloads a recording's video into FILE ("-": standard output), written
// to a temporary file beside it and renamed once whole, so a cut download leaves no file
// that looks complete.
func (a *app) recordingsExport(ctx context.Context, args []string) error {
	fs := a.cmdFlags("recordings export", "ID FILE")
	pos, err := a.parse(fs, args, "ID", "FILE")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if pos[1] == "-" {
		_, err := c.ExportRecording(ctx, pos[0], a.stdout)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(pos[1]), "."+filepath.Base(pos[1])+".*")
	if err != nil {
		return fmt.Errorf("recordings export: %w", err)
	}
	n, err := c.ExportRecording(ctx, pos[0], tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("recordings export: %w", cerr)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), pos[1])
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	fmt.Fprintf(a.stderr, "Wrote %s (%s); check it with kvmctl recordings verify %s (the export was audited).\n",
		pos[1], size(n), client.Sanitize(pos[0]))
	return nil
}

func recordingDevice(r client.Recording) string {
	if n := r.DeviceName.String(); n != "" {
		return n
	}
	return r.DeviceID + " (deleted)"
}

func recordingState(r client.Recording) string {
	if r.State == "failed" && r.Error.String() != "" {
		return client.Sanitize("failed: " + truncate(r.Error.String(), 60))
	}
	return client.Sanitize(r.State)
}

func participantNames(ps []client.Participant) string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, p.Name.String())
	}
	return strings.Join(names, ", ")
}

// mediaDuration is a recording's length to the second.
func mediaDuration(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
}

// size is a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
