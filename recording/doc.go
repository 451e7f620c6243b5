// Package recording records a console session: the device's H.264 stream as it was sent (no
// re-encode) into a fragmented MP4, and the session's timeline (who joined and left, control
// changes, input bursts, keystrokes when the organization captures them) into JSON lines
// next to it.
//
// A Recorder takes RTP packets (WriteRTP, from its own goroutine or through an Attachment to
// the relay's sfu.Forwarder), puts them back in order, reassembles access units, drops what
// loss made undecodable until the next keyframe (and asks for one), and hands whole frames to
// bluenviron/mediacommon's fMP4 writer: one init segment, then a fragment of about a second
// (and one at every keyframe, so seeking lands on one) written and synced at once, so a crash
// loses at most the last fragment. Sample times are the stream's 90 kHz RTP clock rebased to
// zero, sample durations its timestamp deltas, so the file's time follows the session's.
//
// A resolution change (a BIOS switching mode) stays in the same file: the init segment holds
// the first SPS and PPS, and every keyframe carries its own in band, as the device sends them
// (ISO/IEC 14496-15 allows parameter sets in samples; FFmpeg and Chromium decode the new size
// from there). The timeline notes each format, so a player knows where the size changes.
//
// Close returns a Summary with both files' SHA-256, computed while writing; the relay enters
// it in the audit chain, and Verify checks a file against it later. Probe tells whether the
// data directory can take a recording before a session that requires one starts; Sweep
// applies a retention period.
package recording
