package signaling

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/signaling/wire"
)

// fakeRelay is a holder's VideoRelay: it offers at once and records what reaches its peers.
type fakeRelay struct {
	mu     sync.Mutex
	refuse error
	peers  []*fakePeer
}

type fakePeer struct {
	v          RelayedViewer
	mu         sync.Mutex
	answers    []string
	candidates []wire.Candidate
	done       chan struct{}
	once       sync.Once
}

func (p *fakePeer) Answer(sdp string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers = append(p.answers, sdp)
	return nil
}

func (p *fakePeer) Candidate(c wire.Candidate) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.candidates = append(p.candidates, c)
	return nil
}

func (p *fakePeer) Close()                { p.once.Do(func() { close(p.done) }) }
func (p *fakePeer) Done() <-chan struct{} { return p.done }

func (r *fakeRelay) StartViewer(ctx context.Context, v RelayedViewer, send ViewerSend) (ViewerPeer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse != nil {
		return nil, r.refuse
	}
	p := &fakePeer{v: v, done: make(chan struct{})}
	r.peers = append(r.peers, p)
	if err := send(ctx, wire.TypeVideoOffer, wire.SDP{SDP: "v=0 offer"}); err != nil {
		return nil, err
	}
	if err := send(ctx, wire.TypeVideoCandidate, wire.Candidate{Candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host"}); err != nil {
		return nil, err
	}
	return p, nil
}

func (r *fakeRelay) Decodes([]string) bool { return true }

func (r *fakeRelay) peer(i int) *fakePeer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.peers) {
		return nil
	}
	return r.peers[i]
}

// next returns the link's next message, failing after a while.
func nextLinkMessage(t *testing.T, l *StreamLink) wire.Envelope {
	t.Helper()
	select {
	case env, ok := <-l.Messages():
		require.True(t, ok, "the link's messages ended")
		return env
	case <-time.After(5 * time.Second):
		t.Fatal("no message on the node link")
		return wire.Envelope{}
	}
}

// TestStreamLinkRouting: a node link's messages travel the bus both ways: the holder's
// relayed-viewer peer (holder only: ForNode names the receiving node) offers as an agent does,
// the receiving node's answer and candidates reach that peer, and closing the link closes it.
// A peer that ends by itself, or a holder that cannot serve, sends the receiving node a bye.
func TestStreamLinkRouting(t *testing.T) {
	relay := &fakeRelay{}
	holder := startRelayWith(t, func(c *Config) { c.Viewers = relay })
	other, err := NewServer(Config{Bus: holder.bus, Registry: holder.srv.cfg.Registry, Issuer: holder.issuer})
	require.NoError(t, err)
	defer other.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err = other.StartStreamLink(ctx, other.Node(), UplinkTarget{Device: "dev1"})
	require.Error(t, err, "no link to oneself")

	tests := []struct {
		name string
		end  func(t *testing.T, l *StreamLink, p *fakePeer)
	}{
		{name: "the receiving node closes the link", end: func(t *testing.T, l *StreamLink, p *fakePeer) {
			l.Close()
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the holder's peer was not closed with the link")
			}
		}},
		{name: "the holder's peer ends by itself", end: func(t *testing.T, l *StreamLink, p *fakePeer) {
			defer l.Close()
			p.Close()
			env := nextLinkMessage(t, l)
			assert.Equal(t, wire.TypeBye, env.Type, "the receiving node is told")
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := other.StartStreamLink(ctx, holder.srv.Node(), UplinkTarget{Device: "dev1", Agent: "dev1"})
			require.NoError(t, err)
			offer := nextLinkMessage(t, l)
			assert.Equal(t, wire.TypeOffer, offer.Type, "the holder's video-offer arrives as an agent's offer")
			assert.Equal(t, l.SID(), offer.SID)
			cand := nextLinkMessage(t, l)
			assert.Equal(t, wire.TypeCandidate, cand.Type)
			p := relay.peer(i)
			require.NotNil(t, p)
			assert.Equal(t, RelayedViewer{SID: l.SID(), Device: "dev1", ForNode: other.Node()}, p.v, "holder only, for the receiving node")

			require.NoError(t, l.Send(ctx, wire.TypeAnswer, wire.SDP{SDP: "v=0 answer"}))
			require.NoError(t, l.Send(ctx, wire.TypeCandidate, wire.Candidate{Candidate: "candidate:2 1 udp 1 10.0.0.2 6000 typ host"}))
			require.Eventually(t, func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				return len(p.answers) == 1 && len(p.candidates) == 1
			}, 5*time.Second, 10*time.Millisecond, "the answer and candidate reach the holder's peer")
			tt.end(t, l, p)
		})
	}

	relay.mu.Lock()
	relay.refuse = errors.New("not the holder")
	relay.mu.Unlock()
	l, err := other.StartStreamLink(ctx, holder.srv.Node(), UplinkTarget{Device: "dev1"})
	require.NoError(t, err)
	defer l.Close()
	env := nextLinkMessage(t, l)
	assert.Equal(t, wire.TypeBye, env.Type, "a holder that cannot serve says so")
}
