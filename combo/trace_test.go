package combo_test

// Traces of combo calls: each sub-call's span is a child of the combo call's, and each sub-call's
// attempts are children of the sub-call's span.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// newTracedSystem returns a System tracing into a span recorder, checked as newSystem's are.
func newTracedSystem(t *testing.T) (*actors.System, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	sys, err := actors.NewSystem(&actors.SystemOptions{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sys.Shutdown()
		if n := sys.Processes(); n != 0 {
			t.Errorf("after Shutdown, %d troupe processes remain registered", n)
		}
		_ = tp.Shutdown(context.Background())
	})
	return sys, rec
}

// checkSubCallSpans checks that the recorder holds one combo call span of target, n sub-call
// spans under it (indexed 0..n-1 when indexed), and an attempt under each sub-call.
func checkSubCallSpans(t *testing.T, rec *tracetest.SpanRecorder, target string, n int) {
	t.Helper()
	var top sdktrace.ReadOnlySpan
	byParent := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byParent[s.Parent().SpanID()] = append(byParent[s.Parent().SpanID()], s)
		if s.Name() == echoservice.Method && !s.Parent().IsValid() {
			if top != nil {
				t.Fatalf("two root spans: %v and %v", top.Name(), s.Name())
			}
			top = s
		}
	}
	if top == nil || attrOf(top, "troupe.channel") != target {
		t.Fatalf("root span %v, want the combo call's, on channel %q", top, target)
	}
	subs := byParent[top.SpanContext().SpanID()]
	if len(subs) != n {
		t.Fatalf("%d spans under the combo call's, want %d sub-calls", len(subs), n)
	}
	seen := map[string]bool{}
	for _, sub := range subs {
		idx := attrOf(sub, "troupe.sub_call")
		if sub.Name() != echoservice.Method || sub.SpanKind() != trace.SpanKindClient || idx == "" || seen[idx] {
			t.Errorf("sub-call span %q kind %v sub_call %q, want %q, client, a distinct index", sub.Name(), sub.SpanKind(), idx, echoservice.Method)
		}
		seen[idx] = true
		ats := byParent[sub.SpanContext().SpanID()]
		if len(ats) != 1 || ats[0].Name() != echoservice.Method+" attempt" {
			t.Errorf("sub-call %s has %d spans under it, want its one attempt", idx, len(ats))
		}
	}
}

// attrOf returns span s's attribute k as text, "" when it has none.
func attrOf(s sdktrace.ReadOnlySpan, k string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == k {
			return kv.Value.String()
		}
	}
	return ""
}

func TestTraceParallelSubCalls(t *testing.T) {
	addr := startEcho(t, &echoservice.Service{})
	sys, rec := newTracedSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 3 {
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
	checkSubCallSpans(t, rec, "parallel channel", 3)
}

func TestTraceSelectiveSubCall(t *testing.T) {
	addr := startEcho(t, &echoservice.Service{})
	sys, rec := newTracedSystem(t)
	s := newSChan(t, sys, &combo.SelectiveOptions{Timeout: testTimeout}, plain(t, sys, addr, nil), plain(t, sys, addr, nil))
	if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
	checkSubCallSpans(t, rec, "selective channel", 1)
}

func TestTracePartitionSubCalls(t *testing.T) {
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = startEcho(t, &echoservice.Service{Index: int32(i)})
	}
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, addrs[0]+" 0/3", addrs[1]+" 1/3", addrs[2]+" 2/3")
	sys, rec := newTracedSystem(t)
	pc, err := combo.NewPartitionChannel(sys, 3, combo.SlashParser{}, "file://"+path, &combo.PartitionOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	waitFor(t, "every partition to answer", func() bool {
		rec.Reset()
		return pc.Call(t.Context(), echoservice.Method, echoReq("p"), &echopb.EchoResponse{}, nil) == nil
	})
	checkSubCallSpans(t, rec, "parallel channel", 3) // a partition channel is a parallel one
}

// A user's own sub-channel gets the sub-call's span in its ctx: the troupe call it makes is the
// sub-call's child.
func TestTraceUserSubChannel(t *testing.T) {
	addr := startEcho(t, &echoservice.Service{})
	sys, rec := newTracedSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.AddChannel(shoutingChannel{plain(t, sys, addr, nil)}, combo.OwnsChannel, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byID[s.SpanContext().SpanID()] = s
	}
	var depth []string // the attempt's ancestors, nearest first
	for _, s := range rec.Ended() {
		if s.Name() != echoservice.Method+" attempt" {
			continue
		}
		for p := byID[s.Parent().SpanID()]; p != nil; p = byID[p.Parent().SpanID()] {
			depth = append(depth, attrOf(p, "troupe.channel")+"/"+attrOf(p, "troupe.sub_call"))
		}
	}
	if len(depth) != 3 || depth[0] != addr+"/" || !strings.HasSuffix(depth[1], "/0") || depth[2] != "parallel channel/" {
		t.Errorf("the attempt's ancestors (channel/sub-call index) = %q, want the plain channel's call, the sub-call 0, the parallel call", depth)
	}
}
