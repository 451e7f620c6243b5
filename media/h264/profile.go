package h264

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Profile is an H.264 profile as WebRTC endpoints negotiate it: the profile_idc together with
// the constraint flags that narrow it (RFC 6184 §8.1, H.264 A.2). Two profile-level-ids name
// the same Profile when a decoder of one decodes the other ("42e01f" and "42c01f" are both
// Constrained Baseline).
type Profile string

// Profiles browsers offer. Streams of other profiles (High 10, 4:2:2, Extended…) are not
// negotiable.
const (
	ConstrainedBaseline Profile = "constrained baseline"
	Baseline            Profile = "baseline"
	Main                Profile = "main"
	ConstrainedHigh     Profile = "constrained high"
	High                Profile = "high"
	High444             Profile = "predictive high 4:4:4"
)

// ErrUnknownProfile is returned for a profile-level-id whose profile no browser negotiates.
var ErrUnknownProfile = errors.New("h264: profile not negotiable with browsers")

// Constraint flags in the profile-iop byte (constraint_set0_flag is the top bit).
const (
	constraintSet0 = 0x80
	constraintSet1 = 0x40
	constraintSet3 = 0x10
	constraintSet4 = 0x08
	constraintSet5 = 0x04
)

// ProfileLevel is a parsed profile-level-id.
type ProfileLevel struct {
	Profile Profile
	// LevelIDC is level_idc (31 for level 3.1); Level1b marks level 1b, which sits between
	// 1 and 1.1 and is spelled with a flag in the baseline profiles.
	LevelIDC int
	Level1b  bool
}

// ParseProfileLevelID parses an SDP profile-level-id: six hex digits, profile_idc,
// profile-iop and level_idc.
func ParseProfileLevelID(s string) (ProfileLevel, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 3 {
		return ProfileLevel{}, fmt.Errorf("h264: profile-level-id %q is not 6 hex digits", s)
	}
	return profileLevel(b[0], b[1], b[2])
}

func profileLevel(profileIDC, iop, levelIDC byte) (ProfileLevel, error) {
	var p Profile
	switch profileIDC {
	case ProfileBaseline:
		p = Baseline
		if iop&constraintSet1 != 0 { // also conforms to Main: no FMO, ASO, redundant slices
			p = ConstrainedBaseline
		}
	case ProfileMain:
		p = Main
		if iop&constraintSet0 != 0 { // also conforms to Baseline
			p = ConstrainedBaseline
		}
	case 88: // Extended
		switch {
		case iop&(constraintSet0|constraintSet1) == constraintSet0|constraintSet1:
			p = ConstrainedBaseline
		case iop&constraintSet0 != 0:
			p = Baseline
		}
	case ProfileHigh:
		p = High
		if iop&(constraintSet4|constraintSet5) == constraintSet4|constraintSet5 {
			p = ConstrainedHigh // progressive, no B slices
		}
	case 244:
		p = High444
	}
	if p == "" {
		return ProfileLevel{}, fmt.Errorf("%w: profile_idc %d, constraints %02x", ErrUnknownProfile, profileIDC, iop)
	}
	pl := ProfileLevel{Profile: p, LevelIDC: int(levelIDC)}
	switch {
	case levelIDC == 9: // level 1b in the High profiles
		pl.LevelIDC, pl.Level1b = 11, true
	case levelIDC == 11 && iop&constraintSet3 != 0 && (profileIDC == ProfileBaseline || profileIDC == ProfileMain || profileIDC == 88):
		pl.Level1b = true
	}
	if pl.Level1b {
		pl.LevelIDC = 10
	}
	return pl, nil
}

// levelRank orders levels, 1b between 1 and 1.1.
func (p ProfileLevel) levelRank() int {
	r := p.LevelIDC * 2
	if p.Level1b {
		r++
	}
	return r
}

// String is the profile-level-id in the spelling libwebrtc uses for the profile (Chrome answers
// an offer in that spelling; "42e0" for Constrained Baseline, "6400" for High): an agent offering
// a passthrough stream offers this.
func (p ProfileLevel) String() string {
	var idc, iop byte
	switch p.Profile {
	case ConstrainedBaseline:
		idc, iop = ProfileBaseline, 0xe0
	case Baseline:
		idc, iop = ProfileBaseline, 0x00
	case Main:
		idc, iop = ProfileMain, 0x00
	case ConstrainedHigh:
		idc, iop = ProfileHigh, 0x0c
	case High:
		idc, iop = ProfileHigh, 0x00
	case High444:
		idc, iop = 244, 0x00
	}
	level := byte(p.LevelIDC)
	if p.Level1b {
		if idc == ProfileBaseline || idc == ProfileMain {
			iop |= constraintSet3
			level = 11
		} else {
			level = 9
		}
	}
	return fmt.Sprintf("%02x%02x%02x", idc, iop, level)
}

// ProfileLevelIDFromSPS returns the SDP profile-level-id of a stream from its SPS NAL unit
// (header byte included, no start code), like "42c01f" or "640028": the bytes as the encoder
// wrote them.
func ProfileLevelIDFromSPS(nal []byte) (string, error) {
	sps, err := ParseSPS(nal)
	if err != nil {
		return "", err
	}
	return sps.ProfileLevelID(), nil
}

// FMTP holds the H.264 format parameters of one payload type in an SDP (RFC 6184 §8.1).
type FMTP struct {
	// ProfileLevelID is the hex profile-level-id; empty means the default 42000a.
	ProfileLevelID        string
	LevelAsymmetryAllowed bool
	PacketizationMode     int
}

// ParseFMTP parses an a=fmtp value: "level-asymmetry-allowed=1;packetization-mode=1;
// profile-level-id=42e01f". Unknown parameters are ignored.
func ParseFMTP(s string) FMTP {
	var f FMTP
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch strings.ToLower(k) {
		case "profile-level-id":
			f.ProfileLevelID = strings.ToLower(v)
		case "level-asymmetry-allowed":
			f.LevelAsymmetryAllowed = v == "1"
		case "packetization-mode":
			f.PacketizationMode, _ = strconv.Atoi(v)
		}
	}
	return f
}

// defaultProfileLevelID is what an fmtp without profile-level-id means (RFC 6184 §8.1).
const defaultProfileLevelID = "42000a"

// CanDecode reports whether a receiver that declared recv (in its offer or answer) can decode a
// stream whose SPS gave profile-level-id stream: packetization-mode 1 (what the RTP packetizer
// sends), the same profile, and the stream's level at most the receiver's. Level asymmetry does
// not loosen this for a send-only stream: with it the receiver's level is what it can
// receive, without it the negotiated level is the lower of both, and the stream's must fit
// either way.
func CanDecode(recv FMTP, stream string) bool {
	_, ok := answerFor(recv, stream)
	return ok
}

// SameProfile reports whether a receiver that lists profile-level-id recv decodes a stream whose
// SPS gave profile-level-id stream, whatever their levels: decoders take streams above the
// level they list (browsers decode 1080p offered as level 3.1). For checking a console against
// a camera before offering; CanDecode is the SDP rule.
func SameProfile(recv, stream string) bool {
	r, err := ParseProfileLevelID(recv)
	if err != nil {
		return false
	}
	s, err := ParseProfileLevelID(stream)
	return err == nil && s.Profile == r.Profile
}

// Negotiate picks the first of a browser's offered H.264 formats that can decode the stream and
// returns its index and the profile-level-id to answer with: the offer's profile bytes (so
// that they match it exactly) and the stream's level. ok is false when none can.
func Negotiate(offers []FMTP, stream string) (index int, answer string, ok bool) {
	for i, o := range offers {
		if a, ok := answerFor(o, stream); ok {
			return i, a, true
		}
	}
	return -1, "", false
}

func answerFor(recv FMTP, stream string) (string, bool) {
	if recv.PacketizationMode != 1 {
		return "", false
	}
	id := recv.ProfileLevelID
	if id == "" {
		id = defaultProfileLevelID
	}
	r, err := ParseProfileLevelID(id)
	if err != nil {
		return "", false
	}
	s, err := ParseProfileLevelID(stream)
	if err != nil || s.Profile != r.Profile || s.levelRank() > r.levelRank() {
		return "", false
	}
	// Without level asymmetry the answer's level binds both directions and must not exceed the
	// offer's; the stream's does not. With it the answer states the answerer's own level, and
	// the stream's is the one that matters.
	level := s.LevelIDC
	if s.Level1b {
		return id, true // 1b is spelled with the offer's own flags; its level fits (checked)
	}
	return id[:4] + fmt.Sprintf("%02x", level), true
}
