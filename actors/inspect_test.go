package actors_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A stuck call shows what a person debugging it asks first: which channel, how long it has
// left, its log id, how many retries it made; the server shows the request in its handler.
func TestInspectShowsACallsDeadlineLogIDRetriesAndTheServerSide(t *testing.T) {
	srv, addr := startEcho(t, &echoservice.Service{Sleep: time.Hour})
	sys := newSystem(t)
	// A backup request after 1 ms: the call then waits on two attempts and shows one retry.
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: time.Hour, BackupRequest: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	cntl.SetLogID(777)
	started := time.Now()
	call := ch.Go(t.Context(), echoservice.Method, echoReq("stuck"), &echopb.EchoResponse{}, &cntl, nil)
	var c *actors.Node
	eventually(t, "the call to show its backup request", func() bool {
		c = sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "call" })
		return c != nil && c.Counters["retries"] == 1
	})
	if c.Method != echoservice.Method || c.Channel != addr || c.LogID != 777 {
		t.Errorf("call node: method %q channel %q log id %d", c.Method, c.Channel, c.LogID)
	}
	if want := started.Add(time.Hour); c.Deadline.Before(want.Add(-time.Minute)) || c.Deadline.After(want.Add(time.Minute)) {
		t.Errorf("deadline %v, want about %v", c.Deadline, want)
	}
	if c.TimeLeft < 50*time.Minute || c.TimeLeft > time.Hour {
		t.Errorf("time left %v, want under an hour", c.TimeLeft)
	}
	if s := sys.Inspect().String(); !strings.Contains(s, "log_id=777") || !strings.Contains(s, "time_left=") || !strings.Contains(s, "retries=1") {
		t.Errorf("String() lacks the call's details:\n%s", s)
	}

	// Inspect reads the server's, the method's and the connection's counters one after another,
	// so one snapshot may catch the second request counted by some and not yet by the others.
	var tree *actors.Node
	eventually(t, "the server to show both requests in their handler", func() bool {
		tree = srv.Inspect()
		m := tree.Find(func(n *actors.Node) bool { return n.Kind == "method" && n.Name == echoservice.Method })
		conn := tree.Find(func(n *actors.Node) bool { return n.Kind == "connection" })
		return m != nil && m.Counters["in_flight"] == 2 && tree.Counters["in_flight"] == 2 &&
			conn != nil && conn.Counters["requests"] == 2 && conn.Counters["in_handlers"] == 2
	})
	if tree.Kind != "server" || tree.Name != addr || tree.State != "serving" || tree.Counters["in_flight"] != 2 {
		t.Errorf("server node:\n%s", tree)
	}
	conn := tree.Find(func(n *actors.Node) bool { return n.Kind == "connection" })
	if conn == nil || conn.Counters["requests"] != 2 || conn.Counters["in_handlers"] != 2 || conn.Counters["bytes_in"] == 0 {
		t.Fatalf("connection node:\n%s", tree)
	}
	st := srv.Stats()
	if len(st.Connections) != 1 || st.Connections[0].InHandlers != 2 || st.Connections[0].TLS {
		t.Errorf("connection stats: %+v", st.Connections)
	}

	call.Cancel()
	if err := waitDone(t, call); !errors.Is(err, wire.ECANCELED) {
		t.Fatalf("call = %v", err)
	}
	var zero actors.Server
	if n := zero.Inspect(); n.Kind != "server" || !strings.Contains(n.State, "NewServer") {
		t.Errorf("zero Server's Inspect = %+v", n)
	}
}
