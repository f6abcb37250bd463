package actors_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
)

// A method with a fixed limit N runs N requests at once; the next one is refused with ELIMIT,
// naming the method and the limit, without its handler running, while other methods go on; and
// once the N are answered, the method takes requests again.
func TestServerMethodMaxConcurrencyFixed(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MethodMaxConcurrency: map[string]string{
		"test.Svc.Block": "2", "test.Svc.Other": "unlimited"}})
	g, other := newGate(t), newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	handle(t, srv, "test.Svc.Other", other.handle)
	c := dialRaw(t, listen(t, srv))

	c.send(methodMeta("test.Svc", "Block", 1), marshal(t, hello("one")), nil)
	c.send(methodMeta("test.Svc", "Block", 2), marshal(t, hello("two")), nil)
	g.waitEntered(t, 2)

	f := c.call(methodMeta("test.Svc", "Block", 3), marshal(t, hello("three")), nil)
	wantError(t, f, wire.ELIMIT, "test.Svc.Block")
	wantError(t, f, wire.ELIMIT, "max_concurrency=2")
	select {
	case m := <-g.entered:
		t.Fatalf("handler entered with %q over test.Svc.Block's limit of 2, want it refused", m)
	default:
	}

	// Another method is not held back by Block's limit.
	c.send(methodMeta("test.Svc", "Other", 4), marshal(t, hello("four")), nil)
	other.waitEntered(t, 1)
	other.open()
	if f := c.read(); f.Meta.CorrelationID != 4 || decodeEcho(t, f).GetMessage() != "four" {
		t.Fatalf("Call(Other) = cid %d %q, want cid 4 %q", f.Meta.CorrelationID, decodeEcho(t, f).GetMessage(), "four")
	}

	g.open()
	seen := map[int64]string{}
	for range 2 {
		f := c.read()
		seen[f.Meta.CorrelationID] = decodeEcho(t, f).GetMessage()
	}
	if want := map[int64]string{1: "one", 2: "two"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("responses after release = %v, want %v", seen, want)
	}
	// A method's slot is given back before its response is written, so the next request finds
	// it free.
	for id := int64(10); id < 13; id++ {
		if resp := decodeEcho(t, c.call(methodMeta("test.Svc", "Block", id), marshal(t, hello("after")), nil)); resp.GetMessage() != "after" {
			t.Errorf("Call(Block after release) message = %q, want %q", resp.GetMessage(), "after")
		}
	}
}

// "*" limits every method without an entry of its own; an entry of its own (a number or
// "unlimited") wins.
func TestServerMethodMaxConcurrencyDefault(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MethodMaxConcurrency: map[string]string{
		"*": "1", "test.Svc.Own": "3", "test.Svc.Free": "0"}})
	gates := map[string]*gate{}
	for _, m := range []string{"Plain", "Own", "Free"} {
		gates[m] = newGate(t)
		handle(t, srv, "test.Svc."+m, gates[m].handle)
	}
	c := dialRaw(t, listen(t, srv))

	id := int64(0)
	for _, tc := range []struct {
		method string
		admit  int // requests admitted at once; 0: no limit (checked up to 8)
	}{{"Plain", 1}, {"Own", 3}, {"Free", 0}} {
		n := tc.admit
		if n == 0 {
			n = 8
		}
		for range n {
			id++
			c.send(methodMeta("test.Svc", tc.method, id), marshal(t, hello(tc.method)), nil)
		}
		gates[tc.method].waitEntered(t, n)
		if tc.admit == 0 {
			continue
		}
		id++
		f := c.call(methodMeta("test.Svc", tc.method, id), marshal(t, hello(tc.method)), nil)
		wantError(t, f, wire.ELIMIT, fmt.Sprintf("test.Svc.%s's ConcurrencyLimiter", tc.method))
		wantError(t, f, wire.ELIMIT, fmt.Sprintf("max_concurrency=%d", tc.admit))
	}
	for _, g := range gates {
		g.open()
	}
	for range 1 + 3 + 8 {
		if f := c.read(); f.Meta.ErrorCode != 0 {
			t.Errorf("Call(cid %d) error_code = %d (%s), want 0", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
		}
	}
}

// The server-wide MaxConcurrency is checked before a method's limit.
func TestServerMaxConcurrencyBeforeMethodLimit(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MaxConcurrency: 1, MethodMaxConcurrency: map[string]string{"*": "5"}})
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	c := dialRaw(t, listen(t, srv))
	c.send(methodMeta("test.Svc", "Block", 1), marshal(t, hello("one")), nil)
	g.waitEntered(t, 1)
	wantError(t, c.call(methodMeta("test.Svc", "Block", 2), marshal(t, hello("two")), nil), wire.ELIMIT, "server's max_concurrency=1")
	g.open()
	decodeEcho(t, c.read())
}

// A key naming no registered method makes Listen and Serve fail with ENOMETHOD, naming the key;
// a bad value makes NewServer fail with EINVAL, naming the key and the value.
func TestServerMethodMaxConcurrencyErrors(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MethodMaxConcurrency: map[string]string{
		"test.Svc.Echo": "3", "test.Svc.Missing": "auto"}})
	g := newGate(t)
	handle(t, srv, "test.Svc.Echo", g.handle)
	_, err := srv.Listen("127.0.0.1:0")
	if !errors.Is(err, wire.ENOMETHOD) || !strings.Contains(fmt.Sprint(err), `"test.Svc.Missing"`) {
		t.Errorf("Listen() = %v, want ENOMETHOD naming test.Svc.Missing", err)
	}
	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	if err := srv.Serve(l); !errors.Is(err, wire.ENOMETHOD) || !strings.Contains(fmt.Sprint(err), `"test.Svc.Missing"`) {
		t.Errorf("Serve() = %v, want ENOMETHOD naming test.Svc.Missing", err)
	}

	for _, v := range []string{"-1", "abc", "", "1.5", "auto2", "0x10"} {
		_, err := actors.NewServer(&actors.ServerOptions{MethodMaxConcurrency: map[string]string{"*": v}})
		var werr *wire.Error
		if !errors.As(err, &werr) || werr.Code != wire.EINVAL || !strings.Contains(werr.Text, fmt.Sprintf("[%q] = %q", "*", v)) {
			t.Errorf("NewServer(MethodMaxConcurrency[*] = %q) = %v, want EINVAL naming the key and value", v, err)
		}
	}
	for _, v := range []string{"auto", "AUTO", "unlimited", "Unlimited", "0", "7", " 7 "} {
		if _, err := actors.NewServer(&actors.ServerOptions{MethodMaxConcurrency: map[string]string{"*": v}}); err != nil {
			t.Errorf("NewServer(MethodMaxConcurrency[*] = %q) = %v, want nil", v, err)
		}
	}
}
