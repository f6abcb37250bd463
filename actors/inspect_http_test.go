package actors_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestInspectHandler(t *testing.T) {
	sys, ch := newChannel(t, nil, nil)
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sys.InspectHandler())
	defer srv.Close()
	get := func(query string) (string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(b)
	}
	ct, body := get("")
	if !strings.HasPrefix(ct, "text/plain") || !strings.Contains(body, "socket "+ch.Target()) {
		t.Errorf("text view: %s\n%s", ct, body)
	}
	ct, body = get("?format=json")
	var tree actors.Node
	if err := json.Unmarshal([]byte(body), &tree); err != nil || ct != "application/json" {
		t.Fatalf("json view: %v (%s)\n%s", err, ct, body)
	}
	if n := tree.Find(func(n *actors.Node) bool { return n.Kind == "channel" }); n == nil || n.Counters["succeeded"] != 1 {
		t.Errorf("json view lacks the channel with its counters: %s", body)
	}
	// The connection's reader is one of the System's goroutines.
	if n := tree.Counters["goroutines"]; n < 1 {
		t.Errorf("json view counts %d goroutines with a connection open, want its reader at least", n)
	}
	ct, body = get("?format=html")
	if !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "<li>") || !strings.Contains(body, ch.Target()) {
		t.Errorf("html view: %s\n%s", ct, body)
	}
	if strings.Contains(body, "refresh") {
		t.Errorf("html view reloads itself without &refresh:\n%s", body)
	}
	// Ages as people read them: no nanoseconds.
	if ages := regexp.MustCompile(`age=[0-9.]+[a-zµ]+`).FindAllString(body, -1); len(ages) == 0 {
		t.Errorf("html view shows no ages:\n%s", body)
	} else {
		for _, a := range ages {
			if regexp.MustCompile(`\.[0-9]{4,}`).MatchString(a) || strings.HasSuffix(a, "ns") {
				t.Errorf("html view shows %s, want milliseconds at most", a)
			}
		}
	}
	_, body = get("?format=html&refresh=2")
	if !strings.Contains(body, `<meta http-equiv="refresh" content="2">`) {
		t.Errorf("html view with refresh=2 does not reload itself:\n%s", body)
	}
}
