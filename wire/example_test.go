package wire_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/troupe-rpc/troupe/wire"
)

func ExampleErrno() {
	err := fmt.Errorf("calling: %w", &wire.Error{Code: wire.ERPCTIMEDOUT, Text: "Reached timeout=500ms"})
	fmt.Println(errors.Is(err, wire.ERPCTIMEDOUT), errors.Is(err, context.DeadlineExceeded))
	fmt.Println(wire.ErrnoOf(err).Name(), int(wire.ErrnoOf(err)))
	fmt.Println(wire.ELIMIT.Error())
	// Output:
	// true true
	// ERPCTIMEDOUT 1008
	// server reached its concurrency limit [ELIMIT 2004]
}

func ExampleParseEndpoint() {
	for _, s := range []string{"127.0.0.1:8000", "[::1]:80", "localhost:9000", "127.0.0.1:90000", "10.39.2.300:8000"} {
		ep, err := wire.ParseEndpoint(s)
		fmt.Println(ep, err)
	}
	// Output:
	// 127.0.0.1:8000 <nil>
	// [::1]:80 <nil>
	// localhost:9000 <nil>
	// :0 invalid endpoint "127.0.0.1:90000": port 90000 is out of range 0..65535
	// :0 invalid endpoint "10.39.2.300:8000": "10.39.2.300" is not a valid IPv4 address
}

func ExampleAppendFrame() {
	meta := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 7}
	frame := wire.AppendFrame(nil, &meta, []byte("payload"), []byte("attachment"))

	var f wire.Frame
	err := wire.NewReader(bufio.NewReader(bytes.NewReader(frame)), 0).ReadFrame(&f)
	fmt.Printf("%v %s.%s id=%d payload=%q attachment=%q\n", err, f.Meta.Service, f.Meta.Method,
		f.Meta.CorrelationID, f.Payload, f.Attachment)
	// Output: <nil> example.EchoService.Echo id=7 payload="payload" attachment="attachment"
}

// A large payload can go out from its own buffer: the head (header and meta) first, then the
// payload and the attachment, in one vectored write (net.Buffers writes them with writev on a
// TCP connection). FrameSize says how long the frame is, to size a buffer in advance.
func ExampleAppendFrameHead() {
	meta := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 8}
	payload, attachment := bytes.Repeat([]byte("p"), 100_000), []byte("attachment")
	size := wire.FrameSize(&meta, payload, attachment)

	var conn bytes.Buffer // stands for a connection
	bufs := net.Buffers{wire.AppendFrameHead(nil, &meta, payload, attachment), payload, attachment}
	n, err := bufs.WriteTo(&conn)
	fmt.Println(n == int64(size), err)

	var f wire.Frame
	r := wire.NewReader(bufio.NewReader(&conn), 0)
	r.SetAllocator(func(n int) []byte { return make([]byte, n) }) // a program's pool, say
	err = r.ReadFrame(&f)
	fmt.Printf("%v id=%d payload=%d bytes attachment=%q\n", err, f.Meta.CorrelationID, len(f.Payload), f.Attachment)
	// Output:
	// true <nil>
	// <nil> id=8 payload=100000 bytes attachment="attachment"
}
