package combo_test

import (
	"errors"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestSelectiveRetriesOnAnotherSubChannel(t *testing.T) {
	good := &echoservice.Service{Index: 1}
	goodAddr := startEcho(t, good)
	sys := newSystem(t)
	s, err := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{LoadBalancer: "rr", MaxRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); !errors.Is(err, wire.ENODATA) {
		t.Fatalf("Call on an empty selective channel = %v, want ENODATA", err)
	}
	dead, err := sys.NewChannel(deadAddr(t), &actors.ChannelOptions{MaxRetry: actors.NoRetry})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddChannel(dead, combo.OwnsChannel); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddChannel(plain(t, sys, goodAddr, nil), combo.OwnsChannel); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddChannel(dead, combo.OwnsChannel); err == nil {
		t.Fatal("adding a sub-channel twice succeeded")
	}
	for range 10 {
		var cntl actors.Controller
		resp := &echopb.EchoResponse{}
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl); err != nil {
			t.Fatalf("Call() = %v", err)
		}
		if resp.GetServerIndex() != 1 || cntl.SubCount() != 1 || cntl.Sub(0).Failed() || cntl.RemoteSide() != goodAddr {
			t.Fatalf("answered by %d via %s, SubCount %d", resp.GetServerIndex(), cntl.RemoteSide(), cntl.SubCount())
		}
	}
	noCallsLeft(t, sys)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	return actorstest.DeadAddr(t)
}
