package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
)

// stage is one step of the migration: the server list, and what to expect.
type stage struct {
	title  string
	lines  func(a, b, c string) []string
	expect string
}

var stages = []stage{
	{"3-partition scheme on A, 4-partition scheme on B",
		func(a, b, c string) []string {
			return []string{a + " 0/3", a + " 1/3", a + " 2/3", b + " 0/4", b + " 1/4", b + " 2/4", b + " 3/4"}
		}, "A:B ≈ 3:4 (each scheme gets half the calls; a call makes 3 or 4 sub-calls)"},
	{"C joins the 4-partition scheme",
		func(a, b, c string) []string {
			return []string{a + " 0/3", a + " 1/3", a + " 2/3", b + " 0/4", b + " 1/4", b + " 2/4", b + " 3/4",
				c + " 0/4", c + " 1/4", c + " 2/4", c + " 3/4"}
		}, "A:B:C ≈ 3:4:4 (the 4-partition scheme has twice the capacity)"},
	{"A's 2/3 commented out",
		func(a, b, c string) []string {
			return []string{a + " 0/3", a + " 1/3", "# " + a + " 2/3", b + " 0/4", b + " 1/4", b + " 2/4", b + " 3/4",
				c + " 0/4", c + " 1/4", c + " 2/4", c + " 3/4"}
		}, "A gets nothing (its scheme has an empty partition); B and C share everything"},
}

// walkthrough runs brpc's dynamic-partition migration against three in-process servers.
func walkthrough(c config) error {
	return walk(c, os.Stdout)
}

func walk(c config, w io.Writer) error {
	svcs, addrs, stop, err := startServers(3)
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "troupe-walkthrough")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "server_list")
	if err := writeList(path, stages[0].lines(addrs[0], addrs[1], addrs[2])); err != nil {
		return err
	}
	sys, err := actors.NewSystem(nil)
	if err != nil {
		return err
	}
	defer sys.Shutdown()
	c.server = "file://" + path
	d, err := newChannel(sys, c)
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(w, "servers: A=%s B=%s C=%s, list in %s\n", addrs[0], addrs[1], addrs[2], path)
	var failed atomic.Int64
	stopLoad := startLoad(d, c.threads, &failed, w)
	defer stopLoad()
	for i, s := range stages {
		if err := writeList(path, s.lines(addrs[0], addrs[1], addrs[2])); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // the file is checked every 100ms; calls in flight finish
		share := measure(svcs, c.stage)
		fmt.Fprintf(w, "\nstage %d: %s\n  schemes (partitions: capacity): %v\n  traffic A:B:C = %s\n  expected: %s\n",
			i+1, s.title, d.Schemes(), share, s.expect)
	}
	fmt.Fprintf(w, "\nfailed calls during the whole migration: %d\n", failed.Load())
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d calls failed", n)
	}
	return nil
}

// measure counts each server's requests over d and prints them relative to A's as 3 units.
func measure(svcs []*echoservice.Service, d time.Duration) string {
	before := make([]int64, len(svcs))
	for i, s := range svcs {
		before[i] = s.Requests()
	}
	time.Sleep(d)
	got := make([]int64, len(svcs))
	for i, s := range svcs {
		got[i] = s.Requests() - before[i]
	}
	unit := float64(got[0]) / 3
	if unit == 0 {
		unit = float64(got[1]) / 4
	}
	parts := make([]string, len(got))
	for i, g := range got {
		parts[i] = fmt.Sprintf("%.1f", float64(g)/max(unit, 1))
	}
	return fmt.Sprintf("%s   (requests: %v)", strings.Join(parts, " : "), got)
}

func startLoad(ch actors.Channel, threads int, failed *atomic.Int64, w io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := call(ch); err != nil {
					if failed.Add(1) <= 3 {
						fmt.Fprintf(w, "  a call failed: %v\n", err)
					}
				}
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

func startServers(n int) ([]*echoservice.Service, []string, func(), error) {
	var svcs []*echoservice.Service
	var addrs []string
	var servers []*actors.Server
	stop := func() {
		for _, s := range servers {
			_ = s.Shutdown(context.Background())
		}
	}
	for i := range n {
		svc := &echoservice.Service{Index: int32(i)}
		srv, err := actors.NewServer(nil)
		if err == nil {
			err = echopbtroupe.RegisterEchoServiceServer(srv, svc)
		}
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		addr, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		servers = append(servers, srv)
		svcs = append(svcs, svc)
		addrs = append(addrs, addr.String())
	}
	return svcs, addrs, stop, nil
}

// writeList replaces the server list atomically, as an operator's tool would.
func writeList(path string, lines []string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
