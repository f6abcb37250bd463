package main

// Golden frames of brpc's parallel example: one call of example.EchoService.Echo with
// EchoRequest{value: 42} and its answer EchoResponse{value: 42}, written by hand from the
// baidu_std description and the proto's wire format (testdata/value42.hex holds the same bytes).
// They are checked against troupe's encoder, troupe's server (sent over a raw TCP connection) and
// what troupe's client sends.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/parallel_echo/pechopb"
	"github.com/troupe-rpc/troupe/wire"
)

// value42RequestHex is the request: RpcMeta's fields in the order and presence brpc's client
// uses, correlation_id 1, log_id 0, no attachment.
const value42RequestHex = `
50 52 50 43                 // magic "PRPC"
00 00 00 2b                 // body_size = 43: 41 meta + 2 payload, big-endian
00 00 00 29                 // meta_size = 41, big-endian
0a 1d                       // RpcMeta.request (field 1, LEN), 29 bytes:
  0a 13                     //   RpcRequestMeta.service_name (field 1, LEN), 19 bytes:
  65 78 61 6d 70 6c 65 2e   //     "example."
  45 63 68 6f 53 65 72 76   //     "EchoServ"
  69 63 65                  //     "ice"
  12 04 45 63 68 6f         //   RpcRequestMeta.method_name (field 2, LEN) "Echo"
  18 00                     //   RpcRequestMeta.log_id (field 3, VARINT) 0
18 00                       // compress_type (field 3, VARINT) 0 = none
20 01                       // correlation_id (field 4, VARINT) 1
50 00                       // content_type (field 10, VARINT) 0 = pb
58 00                       // checksum_type (field 11, VARINT) 0 = none
62 00                       // checksum_value (field 12, LEN) empty
08 2a                       // payload: EchoRequest.value (field 1, VARINT) 42
`

// value42ResponseHex is the successful answer to value42RequestHex.
const value42ResponseHex = `
50 52 50 43                 // magic "PRPC"
00 00 00 10                 // body_size = 16: 14 meta + 2 payload
00 00 00 0e                 // meta_size = 14
12 02                       // RpcMeta.response (field 2, LEN), 2 bytes:
  08 00                     //   RpcResponseMeta.error_code (field 1, VARINT) 0
18 00                       // compress_type (field 3, VARINT) 0 = none
20 01                       // correlation_id (field 4, VARINT) 1
50 00                       // content_type (field 10, VARINT) 0 = pb
58 00                       // checksum_type (field 11, VARINT) 0 = none
62 00                       // checksum_value (field 12, LEN) empty
08 2a                       // payload: EchoResponse.value (field 1, VARINT) 42
`

var (
	value42RequestMeta  = wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 1}
	value42ResponseMeta = wire.Meta{IsResponse: true, CorrelationID: 1}
)

// hexBytes decodes hex written with spaces, line breaks and // comments.
func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("hex.DecodeString(%q) = %v", clean.String(), err)
	}
	return b
}

// readGolden reads testdata/value42.hex: a "C2S <hex>" line and an "S2C <hex>" line.
func readGolden(t *testing.T) (request, response []byte) {
	t.Helper()
	data, err := os.ReadFile("testdata/value42.hex")
	if err != nil {
		t.Fatalf("ReadFile(testdata/value42.hex) = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("testdata/value42.hex has %d lines, want 2 (C2S, S2C)", len(lines))
	}
	var frames [2][]byte
	for i, want := range []string{"C2S", "S2C"} {
		fields := strings.Fields(lines[i])
		if len(fields) != 2 || fields[0] != want {
			t.Fatalf("testdata/value42.hex:%d = %q, want `%s <hex>`", i+1, lines[i], want)
		}
		if frames[i], err = hex.DecodeString(fields[1]); err != nil {
			t.Fatalf("testdata/value42.hex:%d: hex.DecodeString = %v", i+1, err)
		}
	}
	return frames[0], frames[1]
}

// marshal is proto.Marshal that fails the test on error.
func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("proto.Marshal(%v) = %v", m, err)
	}
	return b
}

// rawFrame reads one whole frame, header included, from r.
func rawFrame(r io.Reader) ([]byte, error) {
	hdr := make([]byte, wire.HeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("reading a frame header: %w", err)
	}
	h, err := wire.ParseHeader(hdr)
	if err != nil {
		return nil, err
	}
	frame := append(hdr, make([]byte, h.BodySize)...)
	if _, err := io.ReadFull(r, frame[wire.HeaderSize:]); err != nil {
		return nil, fmt.Errorf("reading a %d-byte frame body: %w", h.BodySize, err)
	}
	return frame, nil
}

// decodeFrame decodes one whole frame.
func decodeFrame(t *testing.T, b []byte) *wire.Frame {
	t.Helper()
	f := new(wire.Frame)
	if err := wire.NewReader(bufio.NewReader(bytes.NewReader(b)), 0).ReadFrame(f); err != nil {
		t.Fatalf("ReadFrame(%x) = %v", b, err)
	}
	return f
}

// The hand-written frames are the testdata's, and troupe's encoder writes them from the marshalled
// messages; the payloads decode to value 42.
func TestGoldenValue42Encoding(t *testing.T) {
	fileReq, fileResp := readGolden(t)
	for _, tt := range []struct {
		name   string
		hex    string
		file   []byte
		meta   wire.Meta
		msg    proto.Message
		newMsg func() proto.Message
	}{
		{"request", value42RequestHex, fileReq, value42RequestMeta,
			&pechopb.EchoRequest{Value: proto.Int32(42)}, func() proto.Message { return new(pechopb.EchoRequest) }},
		{"response", value42ResponseHex, fileResp, value42ResponseMeta,
			&pechopb.EchoResponse{Value: proto.Int32(42)}, func() proto.Message { return new(pechopb.EchoResponse) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := hexBytes(t, tt.hex)
			if !bytes.Equal(tt.file, want) {
				t.Errorf("testdata/value42.hex %s =\n%x, want the hand-written\n%x", tt.name, tt.file, want)
			}
			payload := marshal(t, tt.msg)
			if !bytes.Equal(payload, []byte{0x08, 0x2a}) {
				t.Errorf("proto.Marshal(%v) = %x, want 082a (field 1, varint 42)", tt.msg, payload)
			}
			m := tt.meta
			if got := wire.AppendFrame(nil, &m, payload, nil); !bytes.Equal(got, want) {
				t.Errorf("AppendFrame(%s) =\n%x, want\n%x", tt.name, got, want)
			}
			f := decodeFrame(t, want)
			got := tt.newMsg()
			if err := proto.Unmarshal(f.Payload, got); err != nil || !proto.Equal(got, tt.msg) {
				t.Errorf("proto.Unmarshal(%s payload %x) = %v, %v, want nil, %v", tt.name, f.Payload, err, got, tt.msg)
			}
			if f.Meta.CorrelationID != 1 || f.Meta.IsResponse != (tt.name == "response") {
				t.Errorf("ReadFrame(%s) CorrelationID, IsResponse = %d, %v, want 1, %v", tt.name, f.Meta.CorrelationID, f.Meta.IsResponse, tt.name == "response")
			}
		})
	}
}

// Troupe's parallel-example server answers the golden request, sent as raw bytes, with exactly the
// golden response.
func TestGoldenValue42Server(t *testing.T) {
	addrs, svcs := startServers(t, 1)
	conn, err := net.DialTimeout("tcp", addrs[0], testTimeout)
	if err != nil {
		t.Fatalf("net.Dial(%s) = %v", addrs[0], err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write(hexBytes(t, value42RequestHex)); err != nil {
		t.Fatalf("conn.Write(golden request) = %v", err)
	}
	got, err := rawFrame(conn)
	if err != nil {
		t.Fatalf("reading the server's answer = %v", err)
	}
	if want := hexBytes(t, value42ResponseHex); !bytes.Equal(got, want) {
		t.Errorf("server's answer to the golden request =\n%x, want\n%x", got, want)
	}
	if n := svcs[0].Requests(); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

// Troupe's client, calling with EchoRequest{value: 42}, sends the golden request but for its own
// correlation id, and takes the golden response (with that correlation id) as value 42. The call
// has no deadline: with one, troupe's client also sends the time left in RpcRequestMeta.timeout_ms,
// which brpc 1.17's captured client does not.
func TestGoldenValue42Client(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The raw server answers the first request with the golden response under the request's
	// correlation id, then hands the request over and reads until the client closes.
	served := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(testTimeout))
		req, err := rawFrame(conn)
		if err != nil {
			return
		}
		var f wire.Frame
		if err := wire.NewReader(bufio.NewReader(bytes.NewReader(req)), 0).ReadFrame(&f); err != nil {
			return
		}
		m := value42ResponseMeta
		m.CorrelationID = f.Meta.CorrelationID
		conn.Write(wire.AppendFrame(nil, &m, []byte{0x08, 0x2a}, nil))
		served <- req
		io.Copy(io.Discard, conn)
	}()
	defer func() { ln.Close(); <-done }()

	sys, err := actors.NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	// The raw server's connection deadline bounds the call.
	ch, err := sys.NewChannel(ln.Addr().String(), &actors.ChannelOptions{MaxRetry: actors.NoRetry, Timeout: actors.NoTimeout})
	if err != nil {
		t.Fatal(err)
	}
	resp := &pechopb.EchoResponse{}
	callErr := ch.Call(context.Background(), "example.EchoService.Echo", &pechopb.EchoRequest{Value: proto.Int32(42)}, resp, nil)
	ch.Close()
	req, ok := <-served
	if !ok {
		t.Fatalf("the raw server read no request (Call() = %v)", callErr)
	}
	if callErr != nil || resp.Value == nil || resp.GetValue() != 42 {
		t.Errorf("Call(value 42) = %v, value %v, want nil, 42", callErr, resp.Value)
	}
	m := value42RequestMeta
	m.CorrelationID = decodeFrame(t, req).Meta.CorrelationID
	if want := wire.AppendFrame(nil, &m, []byte{0x08, 0x2a}, nil); !bytes.Equal(req, want) {
		t.Errorf("client's request =\n%x, want the golden request with its correlation id %d\n%x", req, m.CorrelationID, want)
	}
}
