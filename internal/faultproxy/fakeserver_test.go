package faultproxy

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

func TestFakeServerAnswersAndRawClientReads(t *testing.T) {
	s, err := NewFakeServer(func(req *wire.Frame) Reply {
		if string(req.Meta.Method) == "Close" {
			return Reply{Close: true}
		}
		return Answer(Response(req.Meta.CorrelationID, req.Payload, nil))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Write(Request(7, "example.EchoService.Echo", []byte("pl"))); err != nil {
		t.Fatal(err)
	}
	f, err := c.ReadFrame(timeout)
	if err != nil || !f.Meta.IsResponse || f.Meta.CorrelationID != 7 || string(f.Payload) != "pl" {
		t.Fatalf("ReadFrame() = %+v, %v; want the response to 7", f, err)
	}
	if err := c.Write(Request(8, "x.Y.Close", nil)); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitClosed(timeout); err != nil {
		t.Fatalf("WaitClosed() = %v", err)
	}
	if s.Requests() != 2 || s.Accepted() != 1 {
		t.Fatalf("Requests() = %d, Accepted() = %d; want 2, 1", s.Requests(), s.Accepted())
	}
}

func TestFrameBuilders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"bad magic", BadMagic(1), wire.ErrBadMagic},
		{"oversized header", OversizedHeader(1 << 30), wire.ErrFrameTooLarge},
		{"garbage meta", GarbageMeta(), wire.ErrBadMeta},
		{"truncated", Truncated(Response(1, []byte("abc"), nil), 14), wire.ErrTruncated},
	} {
		r := wire.NewReader(bufioReader(tc.frame), 0)
		var f wire.Frame
		if err := r.ReadFrame(&f); !errors.Is(err, tc.want) {
			t.Errorf("%s: ReadFrame() = %v, want %v", tc.name, err, tc.want)
		}
	}
	var f wire.Frame
	r := wire.NewReader(bufioReader(ErrorResponse(3, wire.ELIMIT, "busy")), 0)
	if err := r.ReadFrame(&f); err != nil || f.Meta.ErrorCode != int32(wire.ELIMIT) || f.Meta.CorrelationID != 3 {
		t.Fatalf("ErrorResponse: %+v, %v", f.Meta, err)
	}
	r = wire.NewReader(bufioReader(Request(4, "a.B.C", []byte("p"))), 0)
	if err := r.ReadFrame(&f); err != nil || f.Meta.IsResponse || string(f.Meta.Service) != "a.B" || string(f.Meta.Method) != "C" {
		t.Fatalf("Request: %+v, %v", f.Meta, err)
	}
	if !bytes.Equal(Truncated([]byte("abc"), 9), []byte("abc")) {
		t.Fatal("Truncated past the end is not the whole frame")
	}
}

func TestListenFullTimesOut(t *testing.T) {
	fl, err := ListenFull()
	if err != nil {
		t.Skipf("ListenFull: %v", err)
	}
	defer fl.Close()
	c, err := net.DialTimeout("tcp", fl.Addr(), 200*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatal("a connection to a full listener succeeded")
	}
	if !isTimeout(err) {
		t.Fatalf("Dial() = %v, want a timeout", err)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func TestFakeServerResetsAndStaysSilent(t *testing.T) {
	s, err := NewFakeServer(func(req *wire.Frame) Reply {
		if req.Meta.CorrelationID == 1 {
			return Reply{} // no answer
		}
		return Reply{Reset: true}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Write(Request(1, "a.B.C", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFrame(50 * time.Millisecond); !isTimeout(err) {
		t.Fatalf("ReadFrame() after an unanswered request = %v, want a timeout", err)
	}
	if err := c.Write(Request(2, "a.B.C", nil)); err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadFrame(timeout)
	if !errors.Is(err, syscallECONNRESET) {
		t.Fatalf("ReadFrame() after a reset = %v, want ECONNRESET", err)
	}
}
