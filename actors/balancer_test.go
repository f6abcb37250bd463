package actors_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// userBalancer is a Balancer a program might write: pick decides, from the list Build was
// given, which index each call gets. It counts what the channel asked of it.
type userBalancer struct {
	pick     func(servers []lb.Server, r *lb.Request) (int, error)
	nilPick  bool // Build returns a nil Picker
	builds   atomic.Int64
	picks    atomic.Int64
	mu       sync.Mutex
	feedback map[string]int // attempts reported, by address
}

func (b *userBalancer) Build(servers []lb.Server) lb.Picker {
	b.builds.Add(1)
	if b.nilPick {
		return nil
	}
	return userPicker{b: b, servers: servers}
}

func (b *userBalancer) Feedback(f lb.Feedback) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.feedback == nil {
		b.feedback = map[string]int{}
	}
	b.feedback[f.Server.Addr]++
}

func (b *userBalancer) Name() string { return "user" }

type userPicker struct {
	b       *userBalancer
	servers []lb.Server
}

func (p userPicker) Pick(r *lb.Request) (int, error) {
	p.b.picks.Add(1)
	return p.b.pick(p.servers, r)
}

// listOf returns the list:// URL of addrs.
func listOf(addrs []string) string { return "list://" + strings.Join(addrs, ",") }

func TestChannelBalancerPicksAreHonoured(t *testing.T) {
	svcs, addrs := echoServers(t, 3)
	var turn atomic.Int64
	// Alternate between the last two servers of the list; never the first.
	bal := &userBalancer{pick: func(servers []lb.Server, _ *lb.Request) (int, error) {
		if len(servers) != 3 {
			return -1, wire.Errorf(wire.ENODATA, "want the whole list")
		}
		return 1 + int(turn.Add(1)%2), nil
	}}
	sys := newSystem(t)
	ch, err := sys.NewChannel(listOf(addrs), &actors.ChannelOptions{Balancer: bal})
	if err != nil {
		t.Fatalf("NewChannel(Balancer) = %v, want no error", err)
	}
	const calls = 40
	for range calls {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v, want nil", err)
		}
	}
	for i, want := range []int64{0, calls / 2, calls / 2} {
		if got := svcs[i].Requests(); got != want {
			t.Errorf("server %d got %d calls, want %d (the balancer's picks)", i, got, want)
		}
	}
	if got := bal.picks.Load(); got != calls {
		t.Errorf("Pick called %d times, want %d", got, calls)
	}
	bal.mu.Lock()
	fb := bal.feedback
	bal.mu.Unlock()
	if fb[addrs[0]] != 0 || fb[addrs[1]] != calls/2 || fb[addrs[2]] != calls/2 {
		t.Errorf("Feedback by address = %v, want %d for %s and %s, none for %s", fb, calls/2, addrs[1], addrs[2], addrs[0])
	}
	if tree := sys.Inspect().String(); !strings.Contains(tree, " user") {
		t.Errorf("Inspect does not name the balancer \"user\":\n%s", tree)
	}
}

func TestChannelBalancerAndLoadBalancer(t *testing.T) {
	sys := newSystem(t)
	_, err := sys.NewChannel("list://127.0.0.1:1", &actors.ChannelOptions{LoadBalancer: "rr", Balancer: &userBalancer{}})
	if err == nil || !strings.Contains(err.Error(), "LoadBalancer") || !strings.Contains(err.Error(), "Balancer = ") {
		t.Errorf("NewChannel(LoadBalancer and Balancer) = %v, want an error naming both fields", err)
	}
	_, err = sys.NewChannel("127.0.0.1:1", &actors.ChannelOptions{Balancer: &userBalancer{}})
	if err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("NewChannel(host:port, Balancer) = %v, want the error of a target that is no naming URL", err)
	}
}

func TestChannelBalancerErrors(t *testing.T) {
	mine := errors.New("my balancer refuses")
	for _, tt := range []struct {
		name  string
		bal   *userBalancer
		code  wire.Errno
		text  string
		cause error
		picks int64 // with MaxRetry 2: how many times Pick is asked; 0: not checked
	}{
		{name: "nil Picker", bal: &userBalancer{nilPick: true}, code: wire.EINTERNAL, text: "nil Picker"},
		{name: "wire error, retried", code: wire.EHOSTDOWN, text: "none for you", picks: 3,
			bal: &userBalancer{pick: func([]lb.Server, *lb.Request) (int, error) {
				return -1, wire.Errorf(wire.EHOSTDOWN, "none for you")
			}}},
		{name: "wire error, not retried", code: wire.EREJECT, text: "turned away", picks: 1,
			bal: &userBalancer{pick: func([]lb.Server, *lb.Request) (int, error) {
				return -1, wire.Errorf(wire.EREJECT, "turned away")
			}}},
		{name: "plain error", code: wire.EINTERNAL, text: mine.Error(), cause: mine, picks: 1,
			bal: &userBalancer{pick: func([]lb.Server, *lb.Request) (int, error) { return -1, mine }}},
		{name: "index out of range", code: wire.EINTERNAL, text: "Pick returned index 7", picks: 1,
			bal: &userBalancer{pick: func([]lb.Server, *lb.Request) (int, error) { return 7, nil }}},
		{name: "Pick panics", code: wire.EINTERNAL, text: "Pick panicked: oops", picks: 1,
			bal: &userBalancer{pick: func([]lb.Server, *lb.Request) (int, error) { panic("oops") }}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svcs, addrs := echoServers(t, 2)
			sys := newSystem(t)
			ch, err := sys.NewChannel(listOf(addrs), &actors.ChannelOptions{Balancer: tt.bal, MaxRetry: 2})
			if err != nil {
				t.Fatal(err)
			}
			err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != tt.code || !errors.Is(err, tt.code) {
				t.Fatalf("Call() = %v, want a *wire.Error %v", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.text) || we.Method != echoservice.Method {
				t.Errorf("Call() = %q, want it to name the method and contain %q", err, tt.text)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("Call() = %v, want it to wrap %v", err, tt.cause)
			}
			if tt.picks != 0 && tt.bal.picks.Load() != tt.picks {
				t.Errorf("Pick called %d times, want %d", tt.bal.picks.Load(), tt.picks)
			}
			if n := svcs[0].Requests() + svcs[1].Requests(); n != 0 {
				t.Errorf("servers got %d calls, want none", n)
			}
		})
	}
}
