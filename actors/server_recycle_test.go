package actors_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// The server recycles the frame of a request without an attachment once its handler returned.
// Requests that follow one another on a connection, with and without meta fields, must each see
// only their own; and an attachment a handler keeps must stay as it was.
func TestServerRequestsSeeOnlyTheirOwnMeta(t *testing.T) {
	var mu sync.Mutex
	var problems []string
	kept := map[int][]byte{} // call number -> the attachment its handler kept
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	srv := newServer(t, nil)
	handle(t, srv, "example.EchoService.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		call := actors.ServerCallFromContext(ctx)
		n, err := strconv.Atoi(req.GetMessage())
		if err != nil {
			return nil, err
		}
		v, ok := call.UserField("n")
		att := call.RequestAttachment()
		if n%2 == 0 { // sent with a user field, a log id and an attachment
			if !ok || v != req.GetMessage() || call.LogID() != int64(n) || string(att) != "attachment "+req.GetMessage() {
				report("call %d saw user field %q (%v), log id %d, attachment %q", n, v, ok, call.LogID(), att)
			}
			mu.Lock()
			kept[n] = att
			mu.Unlock()
		} else if ok || call.LogID() != 0 || len(att) != 0 {
			report("call %d, sent bare, saw user field %q (%v), log id %d, attachment %q", n, v, ok, call.LogID(), att)
		}
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	ch, err := newSystem(t).NewChannel(listen(t, srv), &actors.ChannelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	const callers, perCaller = 8, 100
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range perCaller {
				n := c*perCaller + i
				var cntl actors.Controller
				if n%2 == 0 {
					cntl.SetRequestUserField("n", strconv.Itoa(n))
					cntl.SetLogID(int64(n))
					cntl.SetRequestAttachment([]byte("attachment " + strconv.Itoa(n)))
				}
				if err := ch.Call(context.Background(), "example.EchoService.Echo", echoReq(strconv.Itoa(n)), &echopb.EchoResponse{}, &cntl); err != nil {
					report("call %d: %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if len(kept) != callers*perCaller/2 {
		t.Errorf("%d handlers kept an attachment, want %d", len(kept), callers*perCaller/2)
	}
	for n, att := range kept {
		if want := "attachment " + strconv.Itoa(n); string(att) != want {
			t.Errorf("the attachment call %d's handler kept is now %q, want %q", n, att, want)
		}
	}
}
