package actors

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/mailbox"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// rawListener is a loopback listener that accepts connections and answers nothing: with deaf it
// never reads them either (and, on Linux, gives them a small receive buffer), otherwise it reads
// and counts what arrives. It closes everything when
// the test ends.
type rawListener struct {
	addr string
	read atomic.Int64
}

func startRawListener(t *testing.T, deaf bool) *rawListener {
	t.Helper()
	lc := net.ListenConfig{}
	if deaf {
		lc = deafListenConfig()
	}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &rawListener{addr: ln.Addr().String()}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if !deaf {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 32<<10)
					for {
						n, err := c.Read(buf)
						rl.read.Add(int64(n))
						if err != nil {
							return
						}
					}
				}()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return rl
}

// clientHeapInuse returns the bytes of heap in use after a collection.
func clientHeapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// leftUnwritten bounds what a connection may still hold once every call on it ended: what the
// backlog goroutine was given (a chunk, or the rest of one frame), which cannot be taken back.
const leftUnwritten = backlogChunk + 2*(65<<10)

// TestOvercrowdedConnectionRefusesAtOnce: on a server that never reads, calls with 64 KiB
// attachments and a 5 min deadline queue up to the default max_unwritten_bytes; the calls beyond
// it fail at once with EOVERCROWDED, unretried, while the earlier ones still wait; the client's
// heap stays bounded; once the waiting calls are cancelled their frames leave the queue.
func TestOvercrowdedConnectionRefusesAtOnce(t *testing.T) {
	rl := startRawListener(t, true)
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(rl.addr, &ChannelOptions{Timeout: 5 * time.Minute, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sk := ch.sock
	before := clientHeapInuse()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const n = 2000 // 125 MiB of frames: about twice the bound, beyond what the kernel buffers
	att := make([]byte, 64<<10)
	req := &echopb.EchoRequest{Message: proto.String("crowd")}
	var crowded atomic.Int64
	var pendingAtFirst atomic.Int64
	pendingAtFirst.Store(-1)
	calls := make([]*Call, 0, n)
	for range n {
		cntl := new(Controller)
		cntl.SetRequestAttachment(att)
		calls = append(calls, ch.Go(ctx, echoMethod, req, &echopb.EchoResponse{}, cntl, func(c *Controller) {
			if c.ErrorCode() == wire.EOVERCROWDED && crowded.Add(1) == 1 {
				pendingAtFirst.Store(int64(sk.pending.len()))
			}
		}))
	}
	waitUntil(t, "every attempt to be queued or refused", func() bool { return sk.frames.Load()+crowded.Load() == n })
	if crowded.Load() == 0 {
		t.Fatalf("no call failed with EOVERCROWDED out of %d queued on a server that does not read", n)
	}
	if p := pendingAtFirst.Load(); p <= 0 {
		t.Errorf("%d calls pending when the first call failed with EOVERCROWDED, want the earlier ones still waiting", p)
	}
	if grew := int64(clientHeapInuse()) - int64(before); grew > DefaultMaxUnwrittenBytes+48<<20 {
		t.Errorf("client heap grew by %d MiB with %d MiB of frames queued, want under %d MiB", grew>>20,
			n*64>>10, (DefaultMaxUnwrittenBytes+48<<20)>>20)
	}
	if u := sk.unwritten.Load(); u > DefaultMaxUnwrittenBytes {
		t.Errorf("unwritten bytes = %d, want at most max_unwritten_bytes=%d", u, DefaultMaxUnwrittenBytes)
	}
	for _, c := range calls {
		select {
		case <-c.Done():
		default:
			continue
		}
		cntl := c.Controller()
		err := c.Err()
		var we *wire.Error
		if !errors.Is(err, wire.EOVERCROWDED) || !errors.As(err, &we) {
			t.Fatalf("call = %v, want EOVERCROWDED", err)
		}
		if want := "max_unwritten_bytes=67108864 on " + rl.addr; !strings.Contains(err.Error(), want) {
			t.Errorf("call = %v, want its text to name %q", err, want)
		}
		if cntl.RetriedCount() != 0 {
			t.Errorf("EOVERCROWDED call retried %d times, want 0 (its one server refused it)", cntl.RetriedCount())
		}
	}
	cancel()
	Join(calls...)
	waitUntil(t, "the frames of the cancelled calls to leave the queue", func() bool { return sk.unwritten.Load() <= leftUnwritten })
}

// TestFramesOfTimedOutCallsAreDropped: 64 callers, each making calls with 64 KiB attachments and
// a 100 ms deadline to a server that never reads. The frames of the calls that ended leave the
// queue: once the callers stop almost nothing is left unwritten, and the heap is back near where
// it started.
func TestFramesOfTimedOutCallsAreDropped(t *testing.T) {
	rl := startRawListener(t, true)
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(rl.addr, &ChannelOptions{Timeout: 100 * time.Millisecond, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sk := ch.sock
	before := clientHeapInuse()
	att := make([]byte, 64<<10)
	req := &echopb.EchoRequest{Message: proto.String("deaf")}
	var wg sync.WaitGroup
	var ended, refused atomic.Int64
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				cntl := new(Controller)
				cntl.SetRequestAttachment(att)
				err := ch.Call(t.Context(), echoMethod, req, &echopb.EchoResponse{}, cntl)
				if !errors.Is(err, wire.ERPCTIMEDOUT) && !errors.Is(err, wire.EOVERCROWDED) {
					errs <- err
					return
				}
				ended.Add(1)
				if errors.Is(err, wire.EOVERCROWDED) {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Call = %v, want ERPCTIMEDOUT or EOVERCROWDED", err)
	}
	// The socket actor may still be taking the attempts of calls that already timed out.
	waitUntil(t, "the frames of the timed-out calls to leave the queue", func() bool {
		return sk.frames.Load()+refused.Load() == ended.Load() && sk.unwritten.Load() <= leftUnwritten
	})
	if grew := int64(clientHeapInuse()) - int64(before); grew > 32<<20 {
		t.Errorf("client heap grew by %d MiB after %d calls of 64 KiB ended, want under 32 MiB", grew>>20, ended.Load())
	}
}

// TestDropEndedKeepsTheFramesStillWaitedFor: the queue after head keeps exactly the frames whose
// attempts are pending, in order; what is before head is not touched.
func TestDropEndedKeepsTheFramesStillWaitedFor(t *testing.T) {
	sk := &socket{}
	sk.pending.m = map[int64]*mailbox.Light{}
	a := &socketActor{sk: sk}
	c := &sconn{}
	for id := int64(1); id <= 6; id++ {
		m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: id}
		c.out = wire.AppendFrame(c.out, &m, []byte(strings.Repeat("p", int(id)*100)), make([]byte, id*1000))
		if id == 2 {
			c.head = len(c.out) // frames 1 and 2 are written
		}
		if id%2 == 0 {
			sk.pending.put(id, nil)
		}
	}
	// Frames 7 to 10 wait behind the queue in buffers of their own, as large frames and those
	// after them do.
	for id := int64(7); id <= 10; id++ {
		m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: id}
		f := &frameBuf{b: wire.AppendFrame(nil, &m, []byte("p"), make([]byte, maxPooledBuf+int(id)))}
		c.later = append(c.later, f)
		c.laterN += len(f.b)
		if id%2 == 0 {
			sk.pending.put(id, nil)
		}
	}
	c.stale = true
	a.dropEnded(c)
	var later []int64
	laterN := 0
	for _, f := range c.later {
		id, _ := frameID(f.b)
		later = append(later, id)
		laterN += len(f.b)
	}
	if want := []int64{8, 10}; !slices.Equal(later, want) || laterN != c.laterN {
		t.Errorf("frames waiting behind the queue after dropEnded = %v (%d bytes, counted %d), want %v", later, laterN, c.laterN, want)
	}
	var got []int64
	for p := 0; p < len(c.out); {
		end := c.frameEnd(p)
		id, ok := frameID(c.out[p:end])
		if !ok {
			t.Fatalf("no frame at %d of %d", p, len(c.out))
		}
		got = append(got, id)
		p = end
	}
	if want := []int64{1, 2, 4, 6}; !slices.Equal(got, want) {
		t.Errorf("frames after dropEnded = %v, want %v", got, want)
	}
	if c.stale {
		t.Errorf("connection still stale after dropEnded")
	}
	if n := sk.dropped.Load(); n != 4 {
		t.Errorf("frames_dropped = %d after dropping frames 3, 5, 7 and 9, want 4", n)
	}
}

// TestLargeFramesWaitUncopied: a large frame queued behind unwritten bytes waits in its own
// buffer, and so do the frames after it; once the queue drained, the large frame's buffer
// becomes the queue, the small frames after it are copied behind it, and the next large frame
// waits for the next drain. Order never changes.
func TestLargeFramesWaitUncopied(t *testing.T) {
	sk := &socket{}
	a := &socketActor{sk: sk}
	frame := func(id int64, size int) *frameBuf {
		m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: id}
		return &frameBuf{b: wire.AppendFrame(nil, &m, []byte("p"), make([]byte, size))}
	}
	ids := func(b []byte) (out []int64) {
		c := &sconn{out: b}
		for p := 0; p < len(b); p = c.frameEnd(p) {
			id, _ := frameID(b[p:c.frameEnd(p)])
			out = append(out, id)
		}
		return out
	}
	c := &sconn{}
	a.queueFrame(c, frame(1, 100)) // copied into the queue, which is not written yet
	large := frame(2, 2*maxPooledBuf)
	a.queueFrame(c, large)
	a.queueFrame(c, frame(3, 100))
	a.queueFrame(c, frame(4, 100))
	a.queueFrame(c, frame(5, 3*maxPooledBuf))
	a.queueFrame(c, frame(6, 100))
	if got := ids(c.out); !slices.Equal(got, []int64{1}) || len(c.later) != 5 {
		t.Fatalf("queue %v with %d frames behind it, want [1] and 5", got, len(c.later))
	}
	if want := len(c.out) + c.laterN; c.unwritten() != want {
		t.Errorf("unwritten = %d, want the queue and the frames behind it, %d", c.unwritten(), want)
	}
	largeData := &large.b[0]
	c.head = len(c.out) // written
	c.emptied()
	if !c.promote() {
		t.Fatal("promote moved nothing into a drained queue")
	}
	if got := ids(c.out); !slices.Equal(got, []int64{2, 3, 4}) || &c.out[0] != largeData {
		t.Errorf("queue after the first drain = %v (the large frame's own buffer: %v), want [2 3 4] in it", got, &c.out[0] == largeData)
	}
	if c.promote() {
		t.Error("promote moved a large frame into a queue not yet written")
	}
	c.head = len(c.out)
	c.emptied()
	c.promote()
	if got := ids(c.out); !slices.Equal(got, []int64{5, 6}) || len(c.later) != 0 || c.laterN != 0 {
		t.Errorf("queue after the second drain = %v, %d frames (%d bytes) still behind it; want [5 6], none", got, len(c.later), c.laterN)
	}
}

// TestEmptyConnectionTakesOneFrameOverTheBound: a frame larger than MaxUnwrittenBytes still goes
// out when nothing else is unwritten, and is answered.
func TestEmptyConnectionTakesOneFrameOverTheBound(t *testing.T) {
	addr := startEchoServer(t, closedChan())
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr, &ChannelOptions{MaxUnwrittenBytes: 1024, ConnectTimeout: 5 * time.Second, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var cntl Controller
	cntl.SetRequestAttachment(make([]byte, 64<<10))
	var resp echopb.EchoResponse
	if err := ch.Call(t.Context(), echoMethod, &echopb.EchoRequest{Message: proto.String("big")}, &resp, &cntl); err != nil || resp.GetMessage() != "big" {
		t.Fatalf("Call(64 KiB attachment, max_unwritten_bytes=1024, nothing queued) = %v, %q, want nil, \"big\"", err, resp.GetMessage())
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// TestOvercrowdedServerOfAClusterIsRetriedElsewhere: in a cluster of a server that never reads
// and one that answers, a call the crowded connection refuses with EOVERCROWDED is retried on
// the other server and succeeds. The crowded connection is filled first through a single-server
// channel, which shares the socket with the cluster (same connection type, no authenticator);
// then the cluster's calls go one at a time, so the answering server's connection never holds
// more than one frame. The kernel may still take some of what was queued when a call was refused
// (its buffers grow, its writer may not have run yet): a cluster call the crowded connection
// admits then waits there until its deadline, and the connection is filled again. Those are the
// only failures allowed.
func TestOvercrowdedServerOfAClusterIsRetriedElsewhere(t *testing.T) {
	deaf := startRawListener(t, true)
	echo := startEchoServer(t, closedChan())
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	opts := ChannelOptions{MaxUnwrittenBytes: 1 << 20, ConnectTimeout: 5 * time.Second, Timeout: 5 * time.Minute}
	direct, err := sys.NewChannel(deaf.addr, &opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	att := make([]byte, 64<<10)
	req := &echopb.EchoRequest{Message: proto.String("elsewhere")}
	var filling []*Call
	fill := func() *Call {
		cntl := new(Controller)
		cntl.SetRequestAttachment(att)
		c := direct.Go(ctx, echoMethod, req, &echopb.EchoResponse{}, cntl, nil)
		filling = append(filling, c)
		return c
	}
	// fillUntilRefused adds calls that wait five minutes until one of them is refused.
	fillUntilRefused := func() {
		t.Helper()
		var last *Call
		for range 2000 { // 125 MiB at most: far beyond the kernel's buffers and the bound
			if last != nil {
				select {
				case <-last.Done():
					if !errors.Is(last.Err(), wire.EOVERCROWDED) {
						t.Fatalf("call to the server that never reads = %v, want it waiting or EOVERCROWDED", last.Err())
					}
					return
				default:
				}
			}
			// Only the latest call's end is looked at: when it is refused, so were those after
			// the first refusal before it.
			last = fill()
		}
		select {
		case <-last.Done():
		case <-time.After(time.Minute):
			t.Fatal("no call with a 64 KiB attachment to a server that never reads was refused with EOVERCROWDED")
		}
	}
	fill()
	waitUntil(t, "the connection to the server that never reads", func() bool { return direct.sock.open.Load() == 1 })
	fillUntilRefused()

	opts.LoadBalancer = "rr"
	opts.Timeout = 2 * time.Second
	cluster, err := sys.NewChannel("list://"+deaf.addr+","+echo, &opts)
	if err != nil {
		t.Fatal(err)
	}
	var retried, admitted int
	for i := 0; retried < 3; i++ { // round robin: about half of them go to the crowded server first
		if i == 40 {
			t.Fatalf("%d of %d calls were retried and %d waited on the crowded server, want 3 retried", retried, i, admitted)
		}
		cntl := new(Controller)
		cntl.SetRequestAttachment(att)
		var resp echopb.EchoResponse
		err := cluster.Call(ctx, echoMethod, req, &resp, cntl)
		switch {
		case err == nil && cntl.RemoteSide() == echo:
			if cntl.RetriedCount() > 0 {
				retried++
			}
		case errors.Is(err, wire.ERPCTIMEDOUT) && cntl.RemoteSide() == deaf.addr && cntl.RetriedCount() == 0:
			admitted++ // there was room for it after all
			fillUntilRefused()
		default:
			t.Fatalf("call %d = %v from %s after %d retries, want it answered by %s", i, err, cntl.RemoteSide(), cntl.RetriedCount(), echo)
		}
	}
	if n := len(sys.allSockets()); n != 2 {
		t.Errorf("%d sockets for two servers, want the cluster to share the crowded one", n)
	}
	cancel()
	Join(filling...)
}
