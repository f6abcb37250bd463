package actors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// startRepeatServer serves an echo whose answer repeats the request's message 100 times.
func startRepeatServer(t *testing.T) string {
	t.Helper()
	srv, err := NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Handle(srv, echoMethod, func(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return &echopb.EchoResponse{Message: proto.String(strings.Repeat(req.GetMessage(), 100))}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return addr.String()
}

// TestOversizedRequestFailsBeforeSending: a request whose body exceeds MaxBodySize — by its
// payload and attachment, or only once its meta is added — fails with EREQUEST naming the sizes,
// is not retried, and no byte of it reaches the server; a request that fits does.
func TestOversizedRequestFailsBeforeSending(t *testing.T) {
	rl := startRawListener(t, false)
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(rl.addr, &ChannelOptions{MaxBodySize: 4096, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	req := &echopb.EchoRequest{Message: proto.String("m")}
	for _, tc := range []struct {
		name string
		att  int
	}{
		{"payload and attachment over the limit", 8192},
		{"meta tips it over the limit", 4096 - proto.Size(req)},
	} {
		var cntl Controller
		cntl.SetRequestAttachment(make([]byte, tc.att))
		err := ch.Call(t.Context(), echoMethod, req, &echopb.EchoResponse{}, &cntl)
		var we *wire.Error
		if !errors.Is(err, wire.EREQUEST) || !errors.As(err, &we) {
			t.Fatalf("%s: Call = %v, want EREQUEST", tc.name, err)
		}
		if !strings.Contains(we.Text, "request of ") || !strings.HasSuffix(we.Text, " bytes exceeds max_body_size=4096") {
			t.Errorf("%s: Call = %v, want \"request of N bytes exceeds max_body_size=4096\"", tc.name, err)
		}
		if cntl.RetriedCount() != 0 {
			t.Errorf("%s: RetriedCount() = %d, want 0", tc.name, cntl.RetriedCount())
		}
	}
	if n := ch.sock.frames.Load(); n != 0 {
		t.Fatalf("%d frames queued for the server after two refused requests, want 0", n)
	}
	// A request that fits goes out (and times out: the listener never answers); it is all the
	// listener ever reads.
	var cntl Controller
	cntl.SetTimeout(100 * time.Millisecond)
	if err := ch.Call(t.Context(), echoMethod, req, &echopb.EchoResponse{}, &cntl); !errors.Is(err, wire.ERPCTIMEDOUT) {
		t.Fatalf("Call(small request) = %v, want ERPCTIMEDOUT", err)
	}
	waitUntil(t, "the small request to arrive", func() bool { return rl.read.Load() > 0 })
	if n := rl.read.Load(); n >= 1024 {
		t.Errorf("the listener read %d bytes, want only the small request's", n)
	}
}

// TestResponseOverMaxBodySizeFailsTheConnection: an answer whose body exceeds the channel's
// MaxBodySize fails the connection it came on, and the call sees why; a channel with the default
// limit reads the same answer.
func TestResponseOverMaxBodySizeFailsTheConnection(t *testing.T) {
	addr := startRepeatServer(t)
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	req := &echopb.EchoRequest{Message: proto.String(strings.Repeat("y", 100))} // answered with 10000 bytes
	small, err := sys.NewChannel(addr, &ChannelOptions{MaxBodySize: 4096, MaxRetry: NoRetry,
		ConnectTimeout: 5 * time.Second, Timeout: 10 * time.Second, ConnectionType: "pooled"})
	if err != nil {
		t.Fatal(err)
	}
	err = small.Call(t.Context(), echoMethod, req, &echopb.EchoResponse{}, nil)
	var we *wire.Error
	if !errors.Is(err, wire.ErrFrameTooLarge) || !errors.As(err, &we) {
		t.Fatalf("Call(answer of 10000 bytes, max_body_size=4096) = %v, want a broken connection for a frame too large", err)
	}
	// The socket fails the call before it closes the connection: wait for the close.
	waitUntil(t, "the connection that carried the answer too large to close", func() bool { return small.sock.open.Load() == 0 })
	def, err := sys.NewChannel(addr, &ChannelOptions{ConnectTimeout: 5 * time.Second, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var resp echopb.EchoResponse
	if err := def.Call(t.Context(), echoMethod, req, &resp, nil); err != nil || len(resp.GetMessage()) != 10000 {
		t.Fatalf("Call(default max_body_size) = %v, %d bytes, want nil, 10000 bytes", err, len(resp.GetMessage()))
	}
}

// TestCompressedResponseOverMaxBodySizeFailsTheCall: a compressed answer that fits in the frame
// but would decompress beyond MaxBodySize fails its call with ERESPONSE naming the limit; the
// connection stays, and the next call on it succeeds.
func TestCompressedResponseOverMaxBodySizeFailsTheCall(t *testing.T) {
	addr := startRepeatServer(t)
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr, &ChannelOptions{MaxBodySize: 4096, ConnectTimeout: 5 * time.Second, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var cntl Controller
	cntl.SetCompressType(wire.CompressGzip)
	req := &echopb.EchoRequest{Message: proto.String(strings.Repeat("z", 100))}
	err = ch.Call(t.Context(), echoMethod, req, &echopb.EchoResponse{}, &cntl)
	if !errors.Is(err, wire.ERESPONSE) || !strings.Contains(err.Error(), "max_body_size=4096") {
		t.Fatalf("Call(gzip answer of 10000 bytes, max_body_size=4096) = %v, want ERESPONSE naming max_body_size=4096", err)
	}
	var resp echopb.EchoResponse
	cntl.Reset()
	cntl.SetCompressType(wire.CompressGzip)
	if err := ch.Call(t.Context(), echoMethod, &echopb.EchoRequest{Message: proto.String("a")}, &resp, &cntl); err != nil {
		t.Fatalf("Call(small answer) after the oversized one = %v, want nil", err)
	}
	if n := ch.sock.conns.Load(); n != 1 {
		t.Errorf("%d connections made, want 1: an answer too large to decompress fails its call only", n)
	}
}

// TestWriteLimitOptions: 0 means brpc's defaults, a negative value no limit, and a body limit
// the frame format cannot carry is refused with EINVAL naming the field.
func TestWriteLimitOptions(t *testing.T) {
	for _, tc := range []struct {
		in            ChannelOptions
		unwritten     int64
		body          int
		wantFieldFail string
	}{
		{ChannelOptions{}, DefaultMaxUnwrittenBytes, DefaultMaxBodySize, ""},
		{ChannelOptions{MaxUnwrittenBytes: NoLimit, MaxBodySize: NoLimit}, NoLimit, NoLimit, ""},
		{ChannelOptions{MaxUnwrittenBytes: -7, MaxBodySize: -7}, NoLimit, NoLimit, ""},
		{ChannelOptions{MaxUnwrittenBytes: 1, MaxBodySize: 1<<32 - 1}, 1, 1<<32 - 1, ""},
		{ChannelOptions{MaxBodySize: 1 << 32}, 0, 0, "ChannelOptions.MaxBodySize"},
	} {
		v, err := tc.in.validate()
		if tc.wantFieldFail != "" {
			if !errors.Is(err, wire.EINVAL) || !strings.Contains(err.Error(), tc.wantFieldFail) {
				t.Errorf("validate(%+v) = %v, want EINVAL naming %s", tc.in, err, tc.wantFieldFail)
			}
			continue
		}
		if err != nil || v.MaxUnwrittenBytes != tc.unwritten || v.MaxBodySize != tc.body {
			t.Errorf("validate(MaxUnwrittenBytes %d, MaxBodySize %d) = %d, %d, %v, want %d, %d, nil", tc.in.MaxUnwrittenBytes,
				tc.in.MaxBodySize, v.MaxUnwrittenBytes, v.MaxBodySize, err, tc.unwritten, tc.body)
		}
	}
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	if _, err := sys.NewChannel("127.0.0.1:1", &ChannelOptions{MaxBodySize: 1 << 40}); !errors.Is(err, wire.EINVAL) ||
		!strings.Contains(err.Error(), "ChannelOptions.MaxBodySize = 1099511627776") {
		t.Errorf("NewChannel(MaxBodySize 1<<40) = %v, want EINVAL naming the field and its value", err)
	}
}
