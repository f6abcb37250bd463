package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/console"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// stuckLogID marks the call that never gets its answer; failLogID the call that fails.
const (
	stuckLogID = 31337
	failLogID  = 4040
)

// world is a process as the console sees it: a System whose channel calls an echo server under
// steady load, a call stuck on a second server that never answers, one call that failed, and
// the console serving all of it over HTTP.
type world struct {
	sys       *actors.System
	srv       *actors.Server
	addr      string // the echo server's
	slowAddr  string // the server the stuck call waits on
	stuck     *actors.Call
	con       *console.Console
	url       string
	stopLoad  chan struct{}
	loadDone  sync.WaitGroup
	failedErr error
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{stopLoad: make(chan struct{})}
	rec := rpcz.New(&rpcz.Options{PerSecond: -1})
	// The servers stop after the System: its connections' closing ends the stuck handler.
	w.srv, w.addr = startServer(t, rec, &echoservice.Service{})
	slow, slowAddr := startServer(t, rec, &echoservice.Service{Sleep: time.Hour})
	w.slowAddr = slowAddr
	var err error
	w.sys, err = actors.NewSystem(&actors.SystemOptions{Rpcz: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.sys.Shutdown()
		if n := w.sys.Processes(); n != 0 {
			t.Errorf("after Shutdown, %d troupe processes remain registered", n)
		}
	})

	ch, err := w.sys.NewChannel(w.addr, &actors.ChannelOptions{Timeout: actorstest.Timeout, MaxRetry: actors.NoRetry})
	if err != nil {
		t.Fatal(err)
	}
	slowCh, err := w.sys.NewChannel(slowAddr, &actors.ChannelOptions{Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	var cntl actors.Controller
	cntl.SetLogID(stuckLogID)
	w.stuck = slowCh.Go(context.Background(), echoservice.Method, actorstest.EchoRequest("stuck"), &echopb.EchoResponse{}, &cntl, nil)

	req := actorstest.EchoRequest("fail")
	req.FailCode = proto.Int32(int32(wire.EREQUEST))
	var fc actors.Controller
	fc.SetLogID(failLogID)
	w.failedErr = ch.Call(context.Background(), echoservice.Method, req, &echopb.EchoResponse{}, &fc)
	if !errors.Is(w.failedErr, wire.EREQUEST) {
		t.Fatalf("failing call = %v, want EREQUEST", w.failedErr)
	}

	w.loadDone.Add(1)
	go func() {
		defer w.loadDone.Done()
		for {
			select {
			case <-w.stopLoad:
				return
			default:
			}
			_ = ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("load"), &echopb.EchoResponse{}, nil)
		}
	}()

	w.con, err = console.New(console.Options{System: w.sys, Servers: []*actors.Server{w.srv, slow}, Title: "console test"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.StripPrefix("/console", w.con))
	w.url = hs.URL + "/console/"
	t.Cleanup(func() {
		close(w.stopLoad)
		w.loadDone.Wait()
		w.stuck.Cancel()
		<-w.stuck.Done()
		hs.Close()
		w.con.Close()
	})
	return w
}

func startServer(t *testing.T, rec *rpcz.Recorder, svc *echoservice.Service) (*actors.Server, string) {
	t.Helper()
	return actorstest.StartEchoWith(t, &actors.ServerOptions{Rpcz: rec}, svc)
}

// get returns the body of the console's page path (with its query), failing on a status other
// than 200.
func (w *world) get(t *testing.T, path string) string {
	t.Helper()
	body, code := w.getStatus(t, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d\n%s", path, code, body)
	}
	return body
}

func (w *world) getStatus(t *testing.T, path string) (string, int) {
	t.Helper()
	resp, err := http.Get(w.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}

// getJSON decodes the JSON form of page path into v.
func (w *world) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	sep := "?"
	for _, c := range path {
		if c == '?' {
			sep = "&"
		}
	}
	body := w.get(t, path+sep+"format=json")
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}
