package callrt

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCall returns a call in flight with deadline d from now (none when d is 0).
func testCall(d time.Duration) *Call {
	c := &Call{rt: &Runtime{}, cntl: new(Controller)}
	if d != 0 {
		c.deadline = time.Now().Add(d)
		c.cntl.deadline = c.deadline
	}
	return c
}

func TestRetryRules(t *testing.T) {
	refused := &wire.Error{Code: wire.ECONNREFUSED}
	for _, tc := range []struct {
		name    string
		max     int
		done    int
		left    time.Duration
		err     error
		policy  func(*Controller, error) bool
		closed  bool
		retries bool
	}{
		{name: "a refused connection", max: 3, err: refused, retries: true},
		{name: "no quota", max: 3, done: 3, err: refused},
		{name: "no time", max: 3, left: -time.Millisecond, err: refused},
		{name: "system closing", max: 3, err: refused, closed: true},
		{name: "timeout", max: 3, err: &wire.Error{Code: wire.ERPCTIMEDOUT}},
		{name: "cancel", max: 3, err: &wire.Error{Code: wire.ECANCELED}},
		{name: "reject", max: 3, err: &wire.Error{Code: wire.EREJECT}, policy: func(*Controller, error) bool { return true }},
		{name: "a bad request", max: 3, err: &wire.Error{Code: wire.EREQUEST}},
		{name: "policy says yes", max: 3, err: &wire.Error{Code: wire.EREQUEST}, policy: func(*Controller, error) bool { return true }, retries: true},
		{name: "policy says no", max: 3, err: refused, policy: func(*Controller, error) bool { return false }},
		{name: "an error without a code", max: 3, err: errors.New("x")},
	} {
		c := testCall(tc.left)
		c.rt.closed.Store(tc.closed)
		var r Retry
		r.Init(c, tc.max, Policy{DoRetry: tc.policy})
		r.Done = tc.done
		if got := r.Retryable(c, tc.err); got != tc.retries {
			t.Errorf("%s: Retryable() = %v, want %v", tc.name, got, tc.retries)
		}
	}
}

func TestRetryLimitFromController(t *testing.T) {
	for _, tc := range []struct{ set, want int }{{0, 3}, {1, 1}, {-1, 0}, {5000, MaxRetryLimit}} {
		c := testCall(0)
		c.cntl.SetMaxRetry(tc.set)
		var r Retry
		r.Init(c, 3, Policy{})
		if r.Max != tc.want {
			t.Errorf("SetMaxRetry(%d) on a channel of 3: Max = %d, want %d", tc.set, r.Max, tc.want)
		}
	}
}

// A call avoids the last min(Max, 8) servers it tried, and a server tried twice in a row once.
func TestRetryRemembersTheLastServers(t *testing.T) {
	var r Retry
	r.Max = 10
	for i := range 12 {
		n := naming.ServerNode{Addr: string(rune('a' + i))}
		r.Remember(n)
		r.Remember(n)
	}
	if len(r.Tried) != 8 || r.Tried[0].Addr != "e" || r.Tried[7].Addr != "l" {
		t.Errorf("Tried = %v, want the last 8 servers, e to l", r.Tried)
	}
	r = Retry{Max: 2}
	for _, a := range []string{"a", "b", "c"} {
		r.Remember(naming.ServerNode{Addr: a})
	}
	if len(r.Tried) != 2 || r.Tried[0].Addr != "b" {
		t.Errorf("Max 2: Tried = %v, want b, c", r.Tried)
	}
}

func TestBackupDelayAndWait(t *testing.T) {
	for _, tc := range []struct {
		name    string
		channel time.Duration
		policy  time.Duration // a policy's delay when positive
		set     time.Duration
		left    time.Duration
		want    time.Duration
	}{
		{"the channel's", 10 * time.Millisecond, 0, 0, time.Second, 10 * time.Millisecond},
		{"the Controller's", 10 * time.Millisecond, 0, 20 * time.Millisecond, time.Second, 20 * time.Millisecond},
		{"turned off", 10 * time.Millisecond, 0, -1, time.Second, 0},
		{"past the deadline", 10 * time.Millisecond, 0, 0, 5 * time.Millisecond, 0},
		{"none", 0, 0, 0, 0, 0},
		{"the policy's", 0, 30 * time.Millisecond, 0, time.Second, 30 * time.Millisecond},
		{"the Controller's over the policy's", 0, 30 * time.Millisecond, 20 * time.Millisecond, time.Second, 20 * time.Millisecond},
		{"turned off over the policy's", 0, 30 * time.Millisecond, -1, time.Second, 0},
		{"the policy's past the deadline", 0, 30 * time.Millisecond, 0, 5 * time.Millisecond, 0},
	} {
		c := testCall(tc.left)
		c.cntl.SetBackupRequest(tc.set)
		var r Retry
		if tc.policy > 0 {
			r.Policy.BackupDelay = func(*Controller) time.Duration { return tc.policy }
		}
		if got := r.BackupDelay(c, tc.channel); got != tc.want {
			t.Errorf("%s: BackupDelay() = %v, want %v", tc.name, got, tc.want)
		}
	}
	c := testCall(time.Second)
	r := Retry{Policy: Policy{Backoff: func(*Controller) time.Duration { return 2 * time.Second }}}
	if d := r.Wait(c); d != 0 {
		t.Errorf("a backoff past the deadline: Wait() = %v, want 0", d)
	}
	r.Backoff = func(*Controller) time.Duration { return time.Millisecond }
	if d := r.Wait(c); d != time.Millisecond {
		t.Errorf("Wait() = %v, want 1ms", d)
	}
}

// The engine-side conversions a channel relies on: Of and ChildStarter find nothing in values
// that are not troupe's, and never panic on nil pointers.
func TestLinksFindNothingElsewhere(t *testing.T) {
	type holder struct{ Link }
	type channel struct{ Nest }
	var nilHolder *holder
	var nilChannel *channel
	for name, got := range map[string]bool{
		"Of(nil)":                    Of(nil) == nil,
		"Of(a string)":               Of("x") == nil,
		"Of(a nil pointer)":          Of(nilHolder) == nil,
		"Of(a zero value)":           Of(&holder{}) == nil,
		"ChildStarter(nil)":          ChildStarter(nil) == nil,
		"ChildStarter(nil pointer)":  ChildStarter(nilChannel) == nil,
		"ChildStarter(a zero value)": ChildStarter(&channel{}) == nil,
	} {
		if !got {
			t.Errorf("%s found something", name)
		}
	}
	rt := &Runtime{}
	if Of(&holder{MakeLink(rt)}) != rt {
		t.Error("Of does not find the Runtime of a linked value")
	}
}
