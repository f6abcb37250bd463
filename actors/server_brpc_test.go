package actors_test

// Interop with Apache brpc: the request frames brpc 1.17's own echo client sent (captured on
// loopback, ../wire/testdata/*.hex, see /work/shared/testdata/brpc-frames/README.md) are sent
// byte for byte to a troupe server, whose answers must match brpc's server's.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
)

// brpcExchange is one request captured from brpc's client and the response brpc's server sent.
type brpcExchange struct {
	name     string // the line prefix in errors.hex, or "<file>#<n>"
	request  []byte
	response *wire.Frame
}

// readBrpcExchanges reads the `[name] C2S <hex>` / `[name] S2C <hex>` line pairs of a capture file.
func readBrpcExchanges(t *testing.T, file string) []brpcExchange {
	t.Helper()
	data, err := os.ReadFile("../wire/testdata/" + file)
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", file, err)
	}
	var out []brpcExchange
	var pending *brpcExchange
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Fields(line)
		name := fmt.Sprintf("%s#%d", file, len(out)+1)
		if len(fields) == 3 {
			name, fields = fields[0], fields[1:]
		}
		if len(fields) != 2 {
			t.Fatalf("%s:%d: %d fields, want `[name] C2S|S2C <hex>`", file, i+1, len(fields))
		}
		b, err := hex.DecodeString(fields[1])
		if err != nil {
			t.Fatalf("%s:%d: hex.DecodeString = %v", file, i+1, err)
		}
		switch fields[0] {
		case "C2S":
			if pending != nil {
				t.Fatalf("%s:%d: two requests in a row", file, i+1)
			}
			pending = &brpcExchange{name: name, request: b}
		case "S2C":
			if pending == nil {
				t.Fatalf("%s:%d: a response without a request", file, i+1)
			}
			f := new(wire.Frame)
			if err := wire.NewReader(bufio.NewReader(bytes.NewReader(b)), 0).ReadFrame(f); err != nil {
				t.Fatalf("%s:%d: ReadFrame(brpc's response) = %v", file, i+1, err)
			}
			pending.response = f
			out = append(out, *pending)
			pending = nil
		default:
			t.Fatalf("%s:%d: direction %q, want C2S or S2C", file, i+1, fields[0])
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no exchanges", file)
	}
	return out
}

// requestCID decodes the correlation id brpc's client put in a captured request.
func requestCID(t *testing.T, b []byte) int64 {
	t.Helper()
	var f wire.Frame
	if err := wire.NewReader(bufio.NewReader(bytes.NewReader(b)), 0).ReadFrame(&f); err != nil {
		t.Fatalf("ReadFrame(brpc's request) = %v", err)
	}
	return f.Meta.CorrelationID
}

func metaBytes(f *wire.Frame) []byte {
	return f.Body[:len(f.Body)-len(f.Payload)-len(f.Attachment)]
}

func TestServerBrpcFrames(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{EchoAttachment: true})

	for _, tt := range []struct {
		file           string
		wantAttachment string
		sameMeta       bool // troupe's response meta is byte-identical to brpc's
	}{
		{"plain.hex", "", true},
		{"attach.hex", "foo", true},
		// brpc 1.17 answers a checksummed request with checksum_type 0 yet echoes the request's
		// checksum_value; troupe sends no checksum. Both are valid responses.
		{"checksum.hex", "", false},
	} {
		t.Run(tt.file, func(t *testing.T) {
			c := dialRaw(t, addr) // one connection for the file, as brpc's client used
			for _, ex := range readBrpcExchanges(t, tt.file) {
				cid := requestCID(t, ex.request)
				if cid != ex.response.Meta.CorrelationID {
					t.Fatalf("%s: brpc's request cid %d != its response cid %d", ex.name, cid, ex.response.Meta.CorrelationID)
				}
				c.write(ex.request)
				f := c.read()
				if f.Meta.CorrelationID != cid {
					t.Errorf("%s: Call() correlation_id = %d, want brpc's %d", ex.name, f.Meta.CorrelationID, cid)
				}
				resp := decodeEcho(t, f)
				if resp.GetMessage() != "hello world" {
					t.Errorf("%s: Call() message = %q, want %q", ex.name, resp.GetMessage(), "hello world")
				}
				if string(f.Attachment) != tt.wantAttachment || string(ex.response.Attachment) != tt.wantAttachment {
					t.Errorf("%s: Call() attachment = %q (brpc's %q), want %q", ex.name, f.Attachment, ex.response.Attachment, tt.wantAttachment)
				}
				if err := wire.VerifyChecksum(f); err != nil {
					t.Errorf("%s: VerifyChecksum(response) = %v, want nil", ex.name, err)
				}
				if tt.sameMeta && !bytes.Equal(metaBytes(f), metaBytes(ex.response)) {
					t.Errorf("%s: response meta = %x, want brpc's %x", ex.name, metaBytes(f), metaBytes(ex.response))
				}
			}
		})
	}

	t.Run("errors.hex", func(t *testing.T) {
		for _, ex := range readBrpcExchanges(t, "errors.hex") {
			t.Run(ex.name, func(t *testing.T) {
				c := dialRaw(t, addr)
				c.write(ex.request)
				f := c.read()
				want := ex.response
				if f.Meta.CorrelationID != want.Meta.CorrelationID {
					t.Errorf("Call(%s) correlation_id = %d, want brpc's %d", ex.name, f.Meta.CorrelationID, want.Meta.CorrelationID)
				}
				// brpc's text is "[ip:port][E<code>]<text>"; troupe's is <text>, and
				// troupe's details after the request name may differ.
				brpcText := string(want.Meta.ErrorText)
				brpcText = brpcText[strings.LastIndexByte(brpcText, ']')+1:]
				if i := strings.Index(brpcText, ","); i >= 0 {
					brpcText = brpcText[:i]
				}
				if ex.name == "enoservice" {
					// brpc says ENOMETHOD for an unknown full service name; troupe says
					// ENOSERVICE (TestServerUnknownFullServiceName).
					wantError(t, f, wire.ENOSERVICE, "Fail to find service=example.EchoServicf")
				} else {
					wantError(t, f, wire.Errno(want.Meta.ErrorCode), brpcText)
				}
				if len(want.Payload) != 0 {
					t.Errorf("brpc's %s response has a %d-byte payload, want none", ex.name, len(want.Payload))
				}
			})
		}
	})
}
