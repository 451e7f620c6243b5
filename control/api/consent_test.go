package api

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/control/sessions"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// consentMachine stands in for the relay's path to an agent whose machine asks for consent:
// it accepts one code and reports to the sessions manager as the relay does on the agent's
// answer. (The whole path through signaling, the agent and a machine is the e2e test's.)
type consentMachine struct {
	mgr     *sessions.Manager
	st      store.Store
	mu      sync.Mutex
	code    string
	expires time.Time
	codes   []string
}

func (m *consentMachine) SubmitConsent(ctx context.Context, deviceID, sid, code string) (ConsentAnswer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codes = append(m.codes, code)
	if code != m.code {
		return ConsentAnswer{State: "required", ExpiresAt: m.expires, Error: "wrong code", Attempts: len(m.codes)}, nil
	}
	org := orgOfSession(ctx, m.st, sid)
	if err := m.mgr.ConsentAccepted(ctx, org, sid, len(m.codes)); err != nil {
		return ConsentAnswer{}, err
	}
	return ConsentAnswer{State: "accepted", Attempts: len(m.codes)}, nil
}

func (m *consentMachine) CancelConsent(ctx context.Context, deviceID, sid string) (ConsentAnswer, error) {
	org := orgOfSession(ctx, m.st, sid)
	if err := m.mgr.ConsentFailed(ctx, org, sid, "cancelled", sessions.ReasonConsentCancelled); err != nil {
		return ConsentAnswer{}, err
	}
	return ConsentAnswer{State: "cancelled"}, nil
}

// orgOfSession is what the relay knows from the console's token; the fake finds it.
func orgOfSession(ctx context.Context, st store.Store, sid string) string {
	orgs, _ := st.OrganizationIDs(ctx)
	for _, o := range orgs {
		if st.Read(ctx, o, func(tx store.Tx) error { _, err := tx.Session(ctx, sid); return err }) == nil {
			return o
		}
	}
	return ""
}

// The consent routes: status with time left, a code refused with what to do, retried and
// accepted (the session back to ACTIVE), cancel ending the session, and refusals for the
// wrong session, state, person and input. Codes are audited, never recorded.
func TestConsentRoutes(t *testing.T) {
	e := newEnv(t)
	org, tok := e.owner("acme")
	var d deviceView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices", tok, deviceRequest{Name: "amt-1"}, &d))
	var started startedView
	require.Equal(t, http.StatusCreated, e.do("POST", "/api/v1/devices/"+d.ID+"/sessions", tok, nil, &started))
	sid := started.Session.ID
	base := "/api/v1/devices/" + d.ID + "/sessions/" + sid + "/consent"
	ctx := context.Background()

	var st consentView
	require.Equal(t, http.StatusOK, e.do("GET", base, tok, nil, &st))
	assert.Equal(t, "none", st.State)
	assert.Equal(t, http.StatusConflict, e.do("POST", base, tok, consentCodeBody{Code: "123456"}, nil), "not waiting for consent")

	e.machine.code, e.machine.expires = "246810", time.Now().Add(5*time.Minute)
	require.NoError(t, e.mgr.ConsentRequired(ctx, org.ID, sid, e.machine.expires))
	require.Equal(t, http.StatusOK, e.do("GET", base, tok, nil, &st))
	assert.Equal(t, "required", st.State)
	require.NotNil(t, st.SecondsLeft)
	assert.InDelta(t, 300, *st.SecondsLeft, 5)

	var apiErr Error
	assert.Equal(t, http.StatusBadRequest, e.do("POST", base, tok, consentCodeBody{Code: "12345"}, &apiErr))
	assert.Contains(t, apiErr.Message, "6 digits")
	assert.Equal(t, http.StatusNotFound, e.do("POST", "/api/v1/devices/"+store.NewID()+"/sessions/"+sid+"/consent", tok, consentCodeBody{Code: "123456"}, nil),
		"the session of another device")
	op := e.member(tok, "acme", "op@acme.example", store.RoleOperator, nil)
	assert.Equal(t, http.StatusForbidden, e.do("POST", base, op, consentCodeBody{Code: "246810"}, nil), "another operator's session")
	viewer := e.member(tok, "acme", "viewer@acme.example", store.RoleViewer, nil)
	assert.Equal(t, http.StatusForbidden, e.do("POST", base, viewer, consentCodeBody{Code: "246810"}, nil))

	require.Equal(t, http.StatusUnprocessableEntity, e.do("POST", base, tok, consentCodeBody{Code: "111 111"}, &apiErr))
	assert.Equal(t, "consent-refused", apiErr.Code)
	assert.Contains(t, apiErr.Message, "wrong code")
	assert.Contains(t, apiErr.Message, "try again until")
	var ok consentView
	require.Equal(t, http.StatusOK, e.do("POST", base, tok, consentCodeBody{Code: "246-810"}, &ok))
	assert.Equal(t, "accepted", ok.State)
	assert.Equal(t, []string{"111111", "246810"}, e.machine.codes)
	var got sessionView
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+sid, tok, nil, &got))
	assert.Equal(t, store.SessionActive, got.Current)

	// Asked again, then cancelled: the session ends.
	require.NoError(t, e.mgr.ConsentRequired(ctx, org.ID, sid, time.Now().Add(time.Minute)))
	require.Equal(t, http.StatusOK, e.do("DELETE", base, tok, nil, &ok))
	assert.Equal(t, "cancelled", ok.State)
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/sessions/"+sid, tok, nil, &got))
	assert.Equal(t, store.SessionError, got.Current)
	assert.Equal(t, sessions.ReasonConsentCancelled, got.Reason)

	var list auditList
	require.Equal(t, http.StatusOK, e.do("GET", "/api/v1/audit?limit=100", tok, nil, &list))
	var steps []string
	for _, en := range list.Entries {
		if en.Action == store.AuditConsoleConsent {
			steps = append(steps, en.Details["step"])
			assert.NotContains(t, en.Details, "code")
			for _, v := range en.Details {
				assert.NotContains(t, v, "246810", "the code is never in the audit chain")
			}
		}
	}
	assert.Equal(t, []string{"asked", "code entered", "code entered", "accepted", "asked", "cancel requested", "cancelled"}, steps)
}

// What a person types: digits with spaces or dashes between them, exactly six.
func TestConsentCodeParsing(t *testing.T) {
	for typed, want := range map[string]string{"123456": "123456", "123 456": "123456", "12-34-56": "123456"} {
		got, err := consentCode(typed)
		require.NoError(t, err, typed)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", "１２３４５６"} {
		_, err := consentCode(bad)
		assert.Error(t, err, bad)
	}
}
