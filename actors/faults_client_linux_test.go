package actors_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// blackholeAddr returns a loopback address whose listener never accepts and whose accept queue
// is full: Linux drops further SYNs, so a connect to it times out.
func blackholeAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatalf("filling the accept queue of %s: %v", addr, err)
		}
		t.Cleanup(func() { c.Close() })
		if i > 16 {
			t.Skip("the accept queue does not fill: connects do not time out here")
		}
	}
}

// A connect timeout is ETIMEDOUT, retried while the call's deadline allows; three in a row
// isolate the server.
func TestConnectTimeoutIsETIMEDOUTAndRetried(t *testing.T) {
	addr := blackholeAddr(t)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectTimeout: 50 * time.Millisecond,
		Timeout: 10 * time.Second, MaxRetry: 2, HealthCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if cntl.ErrorCode() != wire.ETIMEDOUT || cntl.RetriedCount() != 2 || !strings.Contains(err.Error(), "connect timed out") {
		t.Fatalf("Call() = %v after %d retries, want ETIMEDOUT (connect timed out) after 2", err, cntl.RetriedCount())
	}
	if errors.Is(err, wire.ERPCTIMEDOUT) {
		t.Fatalf("a connect timeout matches ERPCTIMEDOUT: %v", err)
	}
	// Three connect timeouts in a row: the server is isolated.
	cntl.Reset()
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if cntl.ErrorCode() != wire.EHOSTDOWN || !errors.Is(err, wire.ETIMEDOUT) {
		t.Fatalf("Call() after 3 connect timeouts = %v, want EHOSTDOWN wrapping ETIMEDOUT", err)
	}
}

// The call's own deadline ending during a connect is ERPCTIMEDOUT, not retried.
func TestDeadlineDuringConnectIsERPCTIMEDOUT(t *testing.T) {
	addr := blackholeAddr(t)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectTimeout: 5 * time.Second, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if cntl.ErrorCode() != wire.ERPCTIMEDOUT || cntl.RetriedCount() != 0 {
		t.Fatalf("Call() = %v after %d retries, want ERPCTIMEDOUT after 0", err, cntl.RetriedCount())
	}
}
