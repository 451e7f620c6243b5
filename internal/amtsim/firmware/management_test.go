package firmware

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/wsman"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// The consent state machine as AMT runs it: a code displayed, a wrong code refused, the right
// one accepted, KVM admitted only with consent and holding it for its session, and a code
// that expires.
func TestConsentStateMachine(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	var shown []string
	m := NewManagement(ManagementConfig{Consent: ConsentKVM, CodeWindow: time.Minute, Now: clk.now, OnCode: func(c string) { shown = append(shown, c) }})
	assert.Equal(t, wsman.OptInKVM, m.Features().OptInRequired)
	require.Error(t, m.admitKVM(), "no KVM without consent")

	require.Equal(t, wsman.ReturnSuccess, m.StartOptIn())
	code := m.Code()
	require.Len(t, code, 6)
	assert.Equal(t, []string{code}, shown)
	assert.Equal(t, wsman.OptInStateDisplayed, m.Features().OptInState)
	assert.Equal(t, wsman.ReturnNotReady, m.StartOptIn(), "a code is already displayed")

	n, err := strconv.Atoi(code)
	require.NoError(t, err)
	assert.Equal(t, wsman.ReturnUnsupported, m.SendOptInCode((n+1)%1_000_000), "a wrong code")
	assert.Equal(t, wsman.OptInStateDisplayed, m.Features().OptInState, "may be retried")
	assert.Equal(t, wsman.ReturnSuccess, m.SendOptInCode(n))
	assert.Equal(t, wsman.OptInStateReceived, m.Features().OptInState)
	require.NoError(t, m.admitKVM())
	assert.Equal(t, wsman.OptInStateInSession, m.Features().OptInState)
	m.endKVM()
	require.Error(t, m.admitKVM(), "consent is per session")

	require.Equal(t, wsman.ReturnSuccess, m.StartOptIn())
	clk.add(time.Minute)
	assert.Equal(t, "", m.Code(), "the code expired")
	assert.Equal(t, wsman.ReturnNotPermitted, m.SendOptInCode(n))
	assert.Equal(t, wsman.OptInStateNotStarted, m.Features().OptInState)
}

func TestPowerAndDisplays(t *testing.T) {
	m := NewManagement(ManagementConfig{Power: wsman.PowerOffSoft, Screens: 2, Width: 1024, Height: 768})
	assert.Equal(t, wsman.ReturnNotReady, m.RequestPowerStateChange(wsman.PowerMasterBusReset), "no reset while off")
	assert.Equal(t, wsman.ReturnSuccess, m.RequestPowerStateChange(wsman.PowerOn))
	assert.Equal(t, wsman.PowerOn, m.PowerState())
	assert.Equal(t, wsman.ReturnSuccess, m.RequestPowerStateChange(wsman.PowerOffSoft))
	assert.Equal(t, wsman.PowerOffSoft, m.PowerState())
	assert.Equal(t, wsman.ReturnInvalidParameter, m.RequestPowerStateChange(99))
	assert.Equal(t, []int{wsman.PowerMasterBusReset, wsman.PowerOn, wsman.PowerOffSoft, 99}, m.PowerActions())

	d := m.Displays()
	require.Len(t, d, 2)
	assert.True(t, d[0].IsDefault)
	assert.Equal(t, 1024, d[1].UpperLeftX)
	require.NoError(t, m.SetDefaultDisplay(1))
	assert.Equal(t, 1, m.DefaultDisplay())
	assert.Error(t, m.SetDefaultDisplay(2))
	assert.Equal(t, wsman.ReturnUnsupported, NewManagement(ManagementConfig{}).StartOptIn(), "no consent configured")
}
