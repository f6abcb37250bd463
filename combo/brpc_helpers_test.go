package combo_test

import (
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// The helpers of the brpc-derived tests (parallel_brpc_test.go, selective_brpc_test.go,
// nested_test.go): brpc's test fixture builds 8 sub-channels to one echo server and varies the
// request per sub-channel with a CallMapper; these do the same.

// nsub is how many sub-channels brpc's parallel tests use.
const nsub = 8

// mapEach returns a mapper that gives sub-call i a copy of the request edited by edit, with
// code = i+1 as brpc's fixture sets it. edit may be nil.
func mapEach(edit func(i int, r *echopb.EchoRequest)) combo.CallMapper {
	return combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
		r := proto.Clone(req).(*echopb.EchoRequest)
		r.Code = proto.Int32(int32(i + 1))
		if edit != nil {
			edit(i, r)
		}
		return combo.SubCall{Method: method, Request: r, Response: &echopb.EchoResponse{}}
	})
}

// sleepUs returns an edit that makes the sub-calls for which slow is true sleep d on the server.
func sleepUs(d time.Duration, slow func(i int) bool) func(int, *echopb.EchoRequest) {
	return func(i int, r *echopb.EchoRequest) {
		if slow(i) {
			r.SleepUs = proto.Int32(int32(d.Microseconds()))
		}
	}
}

// newPChan returns a parallel channel of n sub-channels, each a plain channel to addr owned by
// the parallel channel, with mapper and merger, and a 10 s timeout unless opts sets one; it is
// closed when the test ends.
func newPChan(t testing.TB, sys *actors.System, opts *combo.ParallelOptions, addr string, n int, mapper combo.CallMapper, merger combo.ResponseMerger) *combo.ParallelChannel {
	t.Helper()
	if opts == nil {
		opts = &combo.ParallelOptions{}
	}
	if opts.Timeout == 0 { // brpc's default of 500 ms is not enough on a loaded machine
		o := *opts
		o.Timeout = testTimeout
		opts = &o
	}
	p, err := combo.NewParallelChannel(sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	for range n {
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, mapper, merger); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// newSChan returns a selective channel owning the given sub-channels, with a 10 s timeout
// unless opts sets one; it is closed when the test ends.
func newSChan(t testing.TB, sys *actors.System, opts *combo.SelectiveOptions, subs ...actors.Channel) *combo.SelectiveChannel {
	t.Helper()
	if opts == nil {
		opts = &combo.SelectiveOptions{}
	}
	if opts.Timeout == 0 { // brpc's default of 500 ms is not enough on a loaded machine
		o := *opts
		o.Timeout = testTimeout
		opts = &o
	}
	s, err := combo.NewSelectiveChannel(sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, ch := range subs {
		if _, err := s.AddChannel(ch, combo.OwnsChannel); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// wantErrno fails the test unless err's own code is want (0: success).
func wantErrno(t testing.TB, what string, err error, want wire.Errno) {
	t.Helper()
	if got := wire.ErrnoOf(err); got != want {
		t.Fatalf("%s = %v (code %v), want %v", what, err, got, want)
	}
}

// wantSub fails the test unless sub-controller i of cntl exists and ended with want.
func wantSub(t testing.TB, cntl *actors.Controller, i int, want wire.Errno) {
	t.Helper()
	s := cntl.Sub(i)
	if s == nil {
		t.Fatalf("Sub(%d) = nil, want a controller that ended with %v", i, want)
	}
	if s.ErrorCode() != want {
		t.Fatalf("Sub(%d).ErrorCode() = %v (%v), want %v", i, s.ErrorCode(), s.Err(), want)
	}
}

// eventually waits until cond holds, failing the test after actorstest.Timeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	actorstest.Eventually(t, what, cond)
}

// closeCounter is a channel that counts how often it was closed.
type closeCounter struct {
	actors.Channel
	closes atomic.Int32
}

func (c *closeCounter) Close() error {
	c.closes.Add(1)
	return c.Channel.Close()
}
