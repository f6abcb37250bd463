package lb_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pickers lists the policies that pick without a special setup, as brpc's catalogue runs them.
func pickers() []string { return []string{"rr", "random", "wrr", "la", "c_murmurhash"} }

func mustNew(t testing.TB, spec string) lb.Balancer {
	t.Helper()
	b, err := lb.New(spec)
	if err != nil {
		t.Fatalf("New(%q) = %v", spec, err)
	}
	return b
}

func addrOf(i int) string { return fmt.Sprintf("10.0.%d.%d:%d", i/250, i%250+1, 8000+i%7) }

// mkServers returns n distinct servers of weight 1.
func mkServers(n int) []lb.Server {
	s := make([]lb.Server, n)
	for i := range s {
		s[i] = lb.Server{ServerNode: lb.ServerNode{Addr: addrOf(i), Weight: 1}}
	}
	return s
}

// request returns a request fit for policy: with a random code for consistent hashing.
func request(policy string, excluded ...lb.ServerNode) *lb.Request {
	r := &lb.Request{Excluded: excluded, Begin: time.Now()}
	if strings.HasPrefix(policy, "c_") {
		r.Code, r.HasCode = uint64(rand.Uint32()), true
	}
	return r
}

func wantCode(t testing.TB, what string, err error, code wire.Errno) {
	t.Helper()
	var we *wire.Error
	if !errors.Is(err, code) || !errors.As(err, &we) {
		t.Fatalf("%s = %v, want *wire.Error %v", what, err, code)
	}
}

func mustPick(t testing.TB, p lb.Picker, r *lb.Request) int {
	t.Helper()
	i, err := p.Pick(r)
	if err != nil {
		t.Fatalf("Pick = %d, %v, want a server", i, err)
	}
	return i
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
