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

// Large and small messages in flight together on one connection each come back whole and to
// their own call: large frames wait uncopied behind the queue, small ones behind them, and the
// order of the stream never changes.
func TestLargeAndSmallMessagesShareAConnection(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{EchoAttachment: true})
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
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
