package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
)

// serveFlag is the first argument that makes the program (or its test binary) an echo server.
const serveFlag = "-serve"

// serve is the child process: one echo server (attachments echoed, delays from the request's
// sleep_us) on addr. It prints "listening <addr>" once it listens and runs until its standard
// input closes, which happens when the parent stops it or dies; then it shuts down gracefully.
// It returns the process's exit code.
func serve(addr string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := actors.NewServer(&actors.ServerOptions{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak server:", err)
		return 1
	}
	if err := echopbtroupe.RegisterEchoServiceServer(srv, &echoservice.Service{EchoAttachment: true}); err != nil {
		fmt.Fprintln(os.Stderr, "soak server:", err)
		return 1
	}
	bound, err := srv.Listen(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak server:", err)
		return 1
	}
	fmt.Printf("listening %s\n", bound)
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "soak server: shutdown:", err)
		return 1
	}
	return 0
}

// server is one echo server run as a child process, restartable on the same address.
type server struct {
	index int
	exe   string

	mu     sync.Mutex
	addr   string // fixed by the first start
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{} // closed once cmd.Wait returned; nil when not running
}

// startServer starts server index on a free loopback port.
func startServer(exe string, index int) (*server, error) {
	s := &server{index: index, exe: exe}
	if err := s.start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

// start runs the child on addr and waits for its "listening" line (at most 30 s: a child built
// with the race detector starts slowly on a busy machine).
func (s *server) start(addr string) error {
	cmd := exec.Command(s.exe, serveFlag, addr)
	cmd.Stderr = os.Stderr
	// The child also dies with the parent: its stdin closes, and on Linux Pdeathsig kills it.
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("server %d: %w", s.index, err)
	}
	exited := make(chan struct{})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		_ = cmd.Wait() // after the read: Wait closes stdout
		close(exited)
	}()
	var got string
	select {
	case got = <-line:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		got = <-line
	}
	bound, ok := strings.CutPrefix(strings.TrimSpace(got), "listening ")
	if !ok {
		_ = stdin.Close()
		<-exited
		return fmt.Errorf("server %d did not start on %s (it printed %q)", s.index, addr, got)
	}
	s.mu.Lock()
	s.addr, s.cmd, s.stdin, s.exited = bound, cmd, stdin, exited
	s.mu.Unlock()
	return nil
}

// Addr is the server's address, the same across restarts.
func (s *server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Running reports whether the child process is up.
func (s *server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited != nil
}

// Kill kills the child with SIGKILL and waits for it to be gone.
func (s *server) Kill() {
	s.mu.Lock()
	cmd, stdin, exited := s.cmd, s.stdin, s.exited
	s.cmd, s.stdin, s.exited = nil, nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	_ = stdin.Close()
}

// Restart starts the child again on its address, retrying for a few seconds while the port is
// not free yet.
func (s *server) Restart() error {
	var err error
	for range 10 {
		if err = s.start(s.Addr()); err == nil {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return err
}

// Stop closes the child's stdin so that it shuts down gracefully, and waits for it (killing it
// after 10 s).
func (s *server) Stop() error {
	s.mu.Lock()
	cmd, stdin, exited := s.cmd, s.stdin, s.exited
	s.cmd, s.stdin, s.exited = nil, nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = stdin.Close()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("server %d did not stop within 10s of its stdin closing", s.index)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("server %d exited with %d", s.index, code)
	}
	return nil
}

// RSS is the child's resident set in kB (VmRSS), or 0 when it is not running.
func (s *server) RSS() int64 {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return 0
	}
	kb, _ := vmRSS(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	return kb
}

// vmRSS reads the VmRSS line of a /proc/<pid>/status file, in kB.
func vmRSS(path string) (int64, error) { return statusField(path, "VmRSS") }

// statusField reads the number on a "<key>:" line of a /proc/<pid>/status file ("VmRSS",
// "Threads"), without its unit.
func statusField(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New(path + ": no " + key + " line")
}
