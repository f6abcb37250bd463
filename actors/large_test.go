package actors_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Large and small messages in flight together come back whole and to their own call, on every
// connection type: on a single connection large frames wait uncopied behind the queue and small
// ones behind them; on pooled and short ones each large frame is its connection's queue.
func TestLargeAndSmallMessagesShareAConnection(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{EchoAttachment: true})
	sys := newSystem(t)
	for _, typ := range []string{"single", "pooled", "short"} {
		t.Run(typ, func(t *testing.T) {
			ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout, ConnectionType: typ})
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			echoMixedSizes(t, ch)
		})
	}
}

// echoMixedSizes makes 60 calls at once, a third with a message over 1 MiB, a third with an
// attachment of 300 KiB, a third small, and checks that each answer is its own request's.
func echoMixedSizes(t *testing.T, ch actors.Channel) {
	const n = 60
	type sent struct {
		msg  string
		att  []byte
		resp *echopb.EchoResponse
		cntl *actors.Controller
		call *actors.Call
	}
	calls := make([]sent, n)
	for i := range calls {
		s := &calls[i]
		tag := fmt.Sprintf("[%d]", i)
		switch i % 3 {
		case 0: // a large message
			s.msg = tag + strings.Repeat(string(rune('a'+i%26)), 1<<20+i)
		case 1: // a large attachment
			s.msg, s.att = tag, bytes.Repeat([]byte{byte(i)}, 300<<10+i)
		default:
			s.msg = tag
		}
		s.resp, s.cntl = &echopb.EchoResponse{}, new(actors.Controller)
		s.cntl.SetRequestAttachment(s.att)
		s.call = ch.Go(context.Background(), echoservice.Method, echoReq(s.msg), s.resp, s.cntl, nil)
	}
	for i := range calls {
		s := &calls[i]
		select {
		case <-s.call.Done():
		case <-time.After(testTimeout):
			t.Fatalf("call %d did not end", i)
		}
		if err := s.cntl.Err(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if s.resp.GetMessage() != s.msg || !bytes.Equal(s.cntl.ResponseAttachment(), s.att) {
			t.Fatalf("call %d: got a message of %d bytes and an attachment of %d, want its own %d and %d",
				i, len(s.resp.GetMessage()), len(s.cntl.ResponseAttachment()), len(s.msg), len(s.att))
		}
	}
}
