package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// namingFile is the file:// naming service the clients follow. Each listed server has two
// lines, one per partitioning scheme: "addr i%2/2" and "addr i%3/3", so that the partition
// channel (2 partitions) and the dynamic partition channel (schemes of 2 and 3) both find their
// servers, and the cluster channels see every line as an instance.
type namingFile struct {
	path    string
	servers []*server

	mu     sync.Mutex
	listed []bool
	edits  atomic.Int64
}

func newNamingFile(path string, servers []*server) (*namingFile, error) {
	f := &namingFile{path: path, servers: servers, listed: make([]bool, len(servers))}
	for i := range f.listed {
		f.listed[i] = true
	}
	return f, f.write()
}

// write replaces the file by renaming a complete new one over it, so that a reader never sees
// half a list.
func (f *namingFile) write() error {
	var b strings.Builder
	b.WriteString("# echo servers of the soak run: address and partition tag\n")
	for i, s := range f.servers {
		if f.listed[i] {
			fmt.Fprintf(&b, "%s %d/2\n%s %d/3\n", s.Addr(), i%2, s.Addr(), i%3)
		}
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}

// edit removes a random listed server or lists a removed one again, at random. It removes a
// server only while another server of its partition (of 2) stays listed, so that the partition
// channel and the dynamic partition channel's scheme of 2 always have servers in the file,
// while the scheme of 3 loses a partition now and then.
func (f *namingFile) edit(rng *rand.Rand) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var removable, out []int
	for i, l := range f.listed {
		if !l {
			out = append(out, i)
			continue
		}
		for j, lj := range f.listed {
			if j != i && lj && j%2 == i%2 {
				removable = append(removable, i)
				break
			}
		}
	}
	switch {
	case len(out) > 0 && (len(removable) == 0 || rng.IntN(2) == 0):
		f.listed[out[rng.IntN(len(out))]] = true
	case len(removable) > 0:
		f.listed[removable[rng.IntN(len(removable))]] = false
	default:
		return nil
	}
	f.edits.Add(1)
	return f.write()
}

// restore lists every server again.
func (f *namingFile) restore() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.listed {
		f.listed[i] = true
	}
	return f.write()
}

// chaos is what happens to the servers during a phase: kills and restarts, naming edits, slow
// readers.
type chaos struct {
	servers []*server
	naming  *namingFile

	kills, restarts atomic.Int64
	slowConns       atomic.Int64
	errs            chan error // the first few failures of the chaos itself
}

func (c *chaos) fail(err error) {
	select {
	case c.errs <- err:
	default:
	}
}

// killLoop kills a random running server every 1 to 4 s, while fewer than half are down, and
// restarts each one 0.5 to 3 s later (at once when ctx ends). It returns when ctx ends and every
// server runs again.
func (c *chaos) killLoop(ctx context.Context, rng *rand.Rand) {
	var restarts sync.WaitGroup
	defer restarts.Wait()
	for wait(ctx, between(rng, time.Second, 4*time.Second)) {
		var up []*server
		for _, s := range c.servers {
			if s.Running() {
				up = append(up, s)
			}
		}
		if len(c.servers)-len(up) >= len(c.servers)/2 || len(up) == 0 {
			continue
		}
		s := up[rng.IntN(len(up))]
		s.Kill()
		c.kills.Add(1)
		delay := between(rng, 500*time.Millisecond, 3*time.Second)
		restarts.Go(func() {
			wait(ctx, delay)
			if err := s.Restart(); err != nil {
				c.fail(err)
				return
			}
			c.restarts.Add(1)
		})
	}
}

// namingLoop edits the naming file every 0.5 to 3 s, and lists every server again when ctx ends.
func (c *chaos) namingLoop(ctx context.Context, rng *rand.Rand) {
	for wait(ctx, between(rng, 500*time.Millisecond, 3*time.Second)) {
		if err := c.naming.edit(rng); err != nil {
			c.fail(err)
		}
	}
	if err := c.naming.restore(); err != nil {
		c.fail(err)
	}
}

// slowReader, until ctx ends, connects to a random running server, sends it 20 to 200 echo
// requests with 16 kB attachments, and then either never reads or reads 512 bytes every 50 ms,
// for 1 to 5 s, before closing the connection.
func (c *chaos) slowReader(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		s := c.servers[rng.IntN(len(c.servers))]
		if s.Running() {
			c.slowConn(ctx, rng, s.Addr())
		}
		wait(ctx, between(rng, 100*time.Millisecond, 500*time.Millisecond))
	}
}

func (c *chaos) slowConn(ctx context.Context, rng *rand.Rand, addr string) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return // killed in between
	}
	defer conn.Close()
	c.slowConns.Add(1)
	_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(slowRequests(rng)); err != nil {
		return
	}
	hold, cancel := context.WithTimeout(ctx, between(rng, time.Second, 5*time.Second))
	defer cancel()
	if rng.IntN(2) == 0 {
		<-hold.Done() // never reads
		return
	}
	buf := make([]byte, 512)
	for wait(hold, 50*time.Millisecond) {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
	}
}

// slowRequests encodes 20 to 200 baidu_std echo requests with 16 kB attachments.
func slowRequests(rng *rand.Rand) []byte {
	payload, _ := proto.Marshal(&echopb.EchoRequest{Message: proto.String(strings.Repeat("s", 1024))})
	att := make([]byte, 16<<10)
	var out []byte
	for id := range 20 + rng.IntN(181) {
		m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: int64(id + 1)}
		out = wire.AppendFrame(out, &m, payload, att)
	}
	return out
}

// wait waits d and reports true, or reports false as soon as ctx ends.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// between is a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}
