//go:build linux

package actors_test

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
)

// serverFDLimitEnv makes TestServerKeepsAcceptingOutOfDescriptors run the server side: lower
// the descriptor limit, serve, print the address, and serve until stdin ends.
const serverFDLimitEnv = "TROUPE_TEST_SERVER_FD_LIMIT_CHILD"

// A server out of descriptors keeps trying to accept and serves again once connections close.
// The server runs in a child process whose RLIMIT_NOFILE is 64; this process opens more idle
// connections than that, closes them, and then calls.
func TestServerKeepsAcceptingOutOfDescriptors(t *testing.T) {
	if os.Getenv(serverFDLimitEnv) == "1" {
		serveWithFewDescriptors(t)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestServerKeepsAcceptingOutOfDescriptors$", "-test.count=1")
	cmd.Env = append(os.Environ(), serverFDLimitEnv+"=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	output := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
			}
			all.WriteString(sc.Text() + "\n")
		}
		output <- all.String()
	}()
	defer func() {
		stdin.Close()
		out := receive(t, output, "the child's output")
		if err := cmd.Wait(); err != nil {
			t.Errorf("child server process = %v, want success; stdout:\n%s\nstderr:\n%s", err, out, stderr.String())
		}
	}()
	a := receive(t, addr, "the child server's address")

	var conns []net.Conn
	for range 150 {
		c, err := net.DialTimeout("tcp", a, testTimeout)
		if err != nil {
			t.Fatalf("net.Dial(%q) = %v, want a connection (the kernel queues it)", a, err)
		}
		conns = append(conns, c)
	}
	serverWaitFor(t, "the child to log an accept failure", func() bool {
		return strings.Contains(stderr.String(), "too many open files")
	})
	for _, c := range conns {
		c.Close()
	}
	c := dialRaw(t, a)
	if got := decodeEcho(t, c.echo(1, hello("after"), nil)).GetMessage(); got != "after" {
		t.Errorf("Call(after the descriptors came back) message = %q, want %q", got, "after")
	}
}

// serveWithFewDescriptors is the child's side.
func serveWithFewDescriptors(t *testing.T) {
	lim := syscall.Rlimit{Cur: 64, Max: 64}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("Setrlimit(RLIMIT_NOFILE, 64) = %v", err)
	}
	srv := newServer(t, &actors.ServerOptions{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, srv)
	os.Stdout.WriteString("ADDR " + addr + "\n")
	done := make(chan struct{})
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until the parent closes stdin
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * testTimeout):
		t.Error("the parent did not close stdin")
	}
}
