package device_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
)

var errWrongCode = errors.New("the machine refused the code")

// asking runs Ask in the background, with try accepting only want.
func asking(t *testing.T, c *device.Consent, window time.Duration, want string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	changed := c.Changed()
	go func() {
		done <- c.Ask(context.Background(), time.Now().Add(window), func(_ context.Context, code string) error {
			if code != want {
				return errWrongCode
			}
			return nil
		})
	}()
	<-changed
	require.Equal(t, device.ConsentRequired, c.Status().State)
	return done
}

func TestConsentWrongThenRightCode(t *testing.T) {
	c := device.NewConsent()
	require.ErrorIs(t, c.Submit(context.Background(), "123456"), device.ErrNoConsentPending)
	done := asking(t, c, time.Minute, "654321")
	require.ErrorIs(t, c.Submit(context.Background(), "12345"), device.ErrBadConsentCode)
	require.ErrorIs(t, c.Submit(context.Background(), "123456"), errWrongCode)
	st := c.Status()
	assert.Equal(t, device.ConsentRequired, st.State, "a wrong code may be retried")
	assert.Equal(t, 1, st.Attempts)
	assert.Equal(t, errWrongCode.Error(), st.Error)
	require.NoError(t, c.Submit(context.Background(), "654321"))
	require.NoError(t, <-done)
	assert.Equal(t, device.ConsentAccepted, c.Status().State)
	assert.Equal(t, 2, c.Status().Attempts)
}

func TestConsentExpiresAndCancels(t *testing.T) {
	c := device.NewConsent()
	done := asking(t, c, 50*time.Millisecond, "654321")
	require.ErrorIs(t, <-done, device.ErrConsentExpired)
	assert.Equal(t, device.ConsentExpired, c.Status().State)
	require.ErrorIs(t, c.Submit(context.Background(), "654321"), device.ErrNoConsentPending)

	done = asking(t, c, time.Minute, "654321")
	assert.True(t, c.Cancel())
	require.ErrorIs(t, <-done, device.ErrConsentCancelled)
	assert.Equal(t, device.ConsentCancelled, c.Status().State)
	assert.False(t, c.Cancel(), "nothing left to cancel")
}

// Guessing is not a matter of patience: after MaxConsentAttempts wrong codes the request is
// withdrawn and says why.
func TestConsentGivesUpAfterTooManyWrongCodes(t *testing.T) {
	c := device.NewConsent()
	done := asking(t, c, time.Minute, "654321")
	for i := range device.MaxConsentAttempts {
		err := c.Submit(context.Background(), fmt.Sprintf("%06d", i))
		require.ErrorIs(t, err, errWrongCode, "attempt %d", i+1)
	}
	require.ErrorIs(t, <-done, device.ErrConsentAttempts)
	st := c.Status()
	assert.Equal(t, device.ConsentCancelled, st.State)
	assert.Contains(t, st.Error, "too many wrong consent codes")
	require.ErrorIs(t, c.Submit(context.Background(), "654321"), device.ErrNoConsentPending, "not even the right code, now")
}
