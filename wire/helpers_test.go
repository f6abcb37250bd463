package wire_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/wire"
)

// hexBytes decodes a hex literal that may hold whitespace and "//" comments to the end of a line.
func hexBytes(tb testing.TB, s string) []byte {
	tb.Helper()
	var clean strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		tb.Fatalf("hex.DecodeString(%q) = %v", clean.String(), err)
	}
	return b
}

// capture is one frame captured between brpc's echo client and server.
type capture struct {
	file  string // "plain.hex"
	line  int    // 1-based line number in file
	name  string // errors.hex only: "enomethod", "enoservice", "erequest"
	dir   string // "C2S" (request) or "S2C" (response)
	frame []byte
}

func (c capture) String() string {
	if c.name != "" {
		return fmt.Sprintf("%s:%d(%s %s)", c.file, c.line, c.name, c.dir)
	}
	return fmt.Sprintf("%s:%d(%s)", c.file, c.line, c.dir)
}

// captureFiles are the files of testdata/ that hold frames captured from brpc 1.17.
var captureFiles = []string{"plain.hex", "attach.hex", "checksum.hex", "errors.hex"}

// readCaptures parses testdata/file: lines "C2S <hex>", "S2C <hex>" or "<name> C2S <hex>".
func readCaptures(tb testing.TB, file string) []capture {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatalf("os.ReadFile(%q) = %v", file, err)
	}
	var cs []capture
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		c := capture{file: file, line: i + 1}
		switch len(f) {
		case 2:
			c.dir = f[0]
		case 3:
			c.name, c.dir = f[0], f[1]
		default:
			tb.Fatalf("%s:%d: %d fields, want 2 or 3", file, i+1, len(f))
		}
		if c.dir != "C2S" && c.dir != "S2C" {
			tb.Fatalf("%s:%d: direction %q, want C2S or S2C", file, i+1, c.dir)
		}
		if c.frame, err = hex.DecodeString(f[len(f)-1]); err != nil {
			tb.Fatalf("%s:%d: hex.DecodeString = %v", file, i+1, err)
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		tb.Fatalf("%s holds no frames", file)
	}
	return cs
}

// allCaptures returns the frames of every capture file.
func allCaptures(tb testing.TB) []capture {
	tb.Helper()
	var cs []capture
	for _, file := range captureFiles {
		cs = append(cs, readCaptures(tb, file)...)
	}
	return cs
}

// newReader returns a wire.Reader over b with body limit maxBody (0 for the default).
func newReader(b []byte, maxBody int) *wire.Reader {
	return wire.NewReader(bufio.NewReader(bytes.NewReader(b)), maxBody)
}

// readOne decodes the first frame of b with the default limit.
func readOne(tb testing.TB, b []byte) *wire.Frame {
	tb.Helper()
	var f wire.Frame
	if err := newReader(b, 0).ReadFrame(&f); err != nil {
		tb.Fatalf("ReadFrame(%x) = %v, want nil", b, err)
	}
	return &f
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// cloneMeta returns a deep copy of m that aliases no buffer m aliases.
func cloneMeta(m *wire.Meta) wire.Meta {
	c := *m
	c.Service = cloneBytes(m.Service)
	c.Method = cloneBytes(m.Method)
	c.RequestID = cloneBytes(m.RequestID)
	c.ErrorText = cloneBytes(m.ErrorText)
	c.AuthenticationData = cloneBytes(m.AuthenticationData)
	c.ChecksumValue = cloneBytes(m.ChecksumValue)
	if m.UserFields != nil {
		c.UserFields = make([]wire.UserField, len(m.UserFields))
		for i, uf := range m.UserFields {
			c.UserFields[i] = wire.UserField{Key: cloneBytes(uf.Key), Value: cloneBytes(uf.Value)}
		}
	}
	return c
}

// reencodable returns the part of m that AppendMeta is meant to carry through an encode/decode round
// trip: a response drops the request fields and a request the response fields (brpc never sends
// both), and a timeout <= 0 is not sent, as brpc does not send it.
func reencodable(m *wire.Meta) wire.Meta {
	c := cloneMeta(m)
	if c.IsResponse {
		c.Service, c.Method, c.RequestID = nil, nil, nil
		c.LogID, c.TraceID, c.SpanID, c.ParentSpanID, c.TimeoutMs = 0, 0, 0, 0, 0
	} else {
		c.ErrorCode, c.ErrorText = 0, nil
	}
	if c.TimeoutMs < 0 {
		c.TimeoutMs = 0
	}
	return c
}

// metaDiff lists the fields in which got differs from want, as "Field = got, want want". Byte
// slices compare by content, so nil equals empty (the wire cannot tell them apart for most fields).
func metaDiff(got, want *wire.Meta) []string {
	var diffs []string
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		var eq bool
		switch g := g.(type) {
		case []byte:
			eq = bytes.Equal(g, w.([]byte))
		case []wire.UserField:
			eq = userFieldsEqual(g, w.([]wire.UserField))
		default:
			eq = g == w
		}
		if !eq {
			diffs = append(diffs, fmt.Sprintf("%s = %s, want %s", name, fmtField(g), fmtField(w)))
		}
	}
	return diffs
}

func userFieldsEqual(a, b []wire.UserField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func fmtField(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%q", v)
	case []wire.UserField:
		parts := make([]string, len(v))
		for i, uf := range v {
			parts[i] = fmt.Sprintf("%q:%q", uf.Key, uf.Value)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("%v", v)
}

// checkMeta fails the test with one line per field in which got differs from want.
func checkMeta(tb testing.TB, what string, got, want *wire.Meta) {
	tb.Helper()
	for _, d := range metaDiff(got, want) {
		tb.Errorf("%s: Meta.%s", what, d)
	}
}
