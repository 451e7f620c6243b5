package wire

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		name string
		in   string
		err  error
	}{
		{"ok", `{"v":1,"type":"join","sid":"s_abc-1","data":{"codecs":["video/H264"]}}`, nil},
		{"ok without data", `{"v":1,"type":"bye","sid":"s_1"}`, nil},
		{"version 0", `{"v":0,"type":"join"}`, ErrUnsupportedVersion},
		{"version 2", `{"v":2,"type":"join"}`, ErrUnsupportedVersion},
		{"unknown type", `{"v":1,"type":"shell"}`, ErrUnknownType},
		{"unknown field", `{"v":1,"type":"bye","x":1}`, ErrBadMessage},
		{"data not object", `{"v":1,"type":"bye","data":"x"}`, ErrBadMessage},
		{"sid with slash", `{"v":1,"type":"bye","sid":"a/../b"}`, ErrBadMessage},
		{"sid too long", `{"v":1,"type":"bye","sid":"` + strings.Repeat("a", 65) + `"}`, ErrBadMessage},
		{"trailing", `{"v":1,"type":"bye"}{}`, ErrBadMessage},
		{"not json", `<html>`, ErrBadMessage},
		{"too large", `{"v":1,"type":"bye","data":{"reason":"` + strings.Repeat("x", MaxMessageSize) + `"}}`, ErrBadMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.err)
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	mid := "0"
	idx := uint16(0)
	msg, err := Encode(TypeCandidate, "s_1", Candidate{Candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host", SDPMid: &mid, SDPMLineIndex: &idx})
	require.NoError(t, err)
	e, err := Decode(msg)
	require.NoError(t, err)
	var c Candidate
	require.NoError(t, DecodeData(e, &c))
	assert.Equal(t, "0", *c.SDPMid)
	assert.Equal(t, uint16(0), *c.SDPMLineIndex)
}

func TestCheckSDP(t *testing.T) {
	require.NoError(t, CheckSDP(testSDP(1)))
	assert.ErrorIs(t, CheckSDP(testSDP(2)), ErrBadSDP)
	assert.ErrorIs(t, CheckSDP(testSDP(0)), ErrBadSDP)
	assert.ErrorIs(t, CheckSDP(""), ErrBadSDP)
	assert.ErrorIs(t, CheckSDP("v=0\r\ngarbage"), ErrBadSDP)
	// The same fingerprint at session level and again in the media section is normal.
	one := testSDP(1)
	line := one[strings.Index(one, "a=fingerprint"):]
	line = line[:strings.Index(line, "\r\n")+2]
	require.NoError(t, CheckSDP(one+line))
	// Twice in the same section is not.
	assert.ErrorIs(t, CheckSDP(one+line+line), ErrBadSDP)
}

// FuzzDecode: arbitrary bytes never panic; anything accepted re-encodes and decodes the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"join","sid":"s_1","data":{"codecs":["video/H264"]}}`,
		`{"v":1,"type":"candidate","sid":"s_1","data":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0"}}`,
		`{"v":1,"type":"offer","sid":"s_1","data":{"sdp":"v=0"}}`,
		`{"v":2}`, `[]`, `null`, `{"v":1,"type":"bye","data":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		out, err := Encode(e.Type, e.SID, e.Data)
		if err != nil {
			return // data that is valid JSON to the decoder but not re-marshalable is fine to refuse
		}
		e2, err := Decode(out)
		require.NoError(t, err)
		assert.Equal(t, e.Type, e2.Type)
		assert.Equal(t, e.SID, e2.SID)
		var c Candidate
		_ = DecodeData(e2, &c)
	})
}

// FuzzCheckSDP: the SDP check never panics on any input.
func FuzzCheckSDP(f *testing.F) {
	f.Add(testSDP(1))
	f.Add(testSDP(2))
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		_ = CheckSDP(s)
	})
}

// testSDP returns a minimal valid offer with n distinct fingerprints.
func testSDP(n int) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "a=fingerprint:sha-256 %02X:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67\r\n", i)
	}
	b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n")
	return b.String()
}

func TestConsentChecks(t *testing.T) {
	for _, c := range []struct {
		msg Consent
		ok  bool
	}{
		{Consent{State: ConsentRequired, Attempts: 1, Error: "wrong code"}, true},
		{Consent{State: ConsentAccepted}, true},
		{Consent{State: "granted"}, false},
		{Consent{State: ConsentRequired, Attempts: -1}, false},
		{Consent{State: ConsentRequired, Error: string(make([]byte, MaxConsentError+1))}, false},
	} {
		if c.ok {
			assert.NoError(t, c.msg.Check(), "%+v", c.msg)
		} else {
			assert.ErrorIs(t, c.msg.Check(), ErrBadMessage, "%+v", c.msg)
		}
	}
	for _, c := range []struct {
		msg ConsentCode
		ok  bool
	}{
		{ConsentCode{Code: "012345"}, true},
		{ConsentCode{Cancel: true}, true},
		{ConsentCode{}, false},
		{ConsentCode{Code: "01234"}, false},
		{ConsentCode{Code: "01234x"}, false},
		{ConsentCode{Code: "012345", Cancel: true}, false},
	} {
		if c.ok {
			assert.NoError(t, c.msg.Check(), "%+v", c.msg)
		} else {
			assert.ErrorIs(t, c.msg.Check(), ErrBadMessage, "%+v", c.msg)
		}
	}
}

func TestPowerChecks(t *testing.T) {
	assert.NoError(t, Power{State: "off", Actions: []string{PowerOn, PowerOff, PowerReset, PowerCycle}}.Check())
	assert.NoError(t, Power{State: "on", Action: PowerReset, Error: "AMT refused"}.Check())
	assert.ErrorIs(t, Power{State: "melted"}.Check(), ErrBadMessage)
	assert.ErrorIs(t, Power{State: "on", Actions: []string{"explode"}}.Check(), ErrBadMessage)
	assert.ErrorIs(t, Power{State: "on", Actions: []string{PowerOn, PowerOn, PowerOn, PowerOn, PowerOn}}.Check(), ErrBadMessage)
	assert.NoError(t, PowerAction{Action: PowerCycle}.Check())
	assert.ErrorIs(t, PowerAction{Action: ""}.Check(), ErrBadMessage)
}

func TestDisplaysChecks(t *testing.T) {
	assert.NoError(t, Displays{Displays: []DisplayInfo{{Index: 0, Width: 1920, Height: 1080, Role: "primary", Current: true}, {Index: 1}}}.Check())
	assert.ErrorIs(t, Displays{Displays: make([]DisplayInfo, MaxDisplays+1)}.Check(), ErrBadMessage)
	assert.ErrorIs(t, Displays{Displays: []DisplayInfo{{Index: 9}}}.Check(), ErrBadMessage)
	assert.ErrorIs(t, Displays{Displays: []DisplayInfo{{Width: -1}}}.Check(), ErrBadMessage)
	assert.NoError(t, DisplaySelect{Index: 1}.Check())
	assert.ErrorIs(t, DisplaySelect{Index: -1}.Check(), ErrBadMessage)
}
