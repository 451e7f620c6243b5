// Package recordings is the control plane's side of session recording: the organization's
// policy decides whether a console session is recorded (Begin), the catalogue keeps each
// recording (store.Recording) and the audit chain its SHA-256 (Finish), Verify checks a file
// against what the chain recorded, and Sweep enforces each organization's retention.
//
// The relay's media path is the caller: when a session starts it calls Begin and, when the
// Plan says so, writes the stream with recording.New(Config{Dir: plan.Dir, ID: plan.ID,
// CaptureKeys: plan.CaptureKeys, …}); when it ends it calls Finish with the recorder's
// Summary and the participants, or Fail when the recording could not be written (a required
// recording then ends the session with the error's reason). The relay's reconciler runs
// Sweep (or Run) on a timer.
//
// Files live under the recordings directory, one directory per organization:
// <dir>/<org id>/<recording id>.mp4 and .timeline.jsonl. Paths are always derived from the
// organization and recording ids, never read from the catalogue, so a changed row cannot
// point a reader elsewhere.
package recordings
