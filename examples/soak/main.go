// Command soak is a bounded soak test of troupe's client under mixed load and faults. It starts
// -servers echo servers on loopback as child processes of itself (the same binary run with
// -serve), so that a kill is a real SIGKILL of a process with its own memory, writes a file://
// naming file listing them, and drives -callers goroutines of asynchronous calls over five
// channels: a cluster channel over the file, a parallel channel, a selective channel, a
// partition channel and a dynamic partition channel. Calls have random sizes, attachments,
// timeouts (some none), cancels and occasionally slow handlers. Meanwhile it kills and restarts
// servers, removes servers from the naming file and lists them again, and keeps a few raw
// connections that send requests and then read their answers slowly or never.
//
// The run has two phases with the same mix: a -warmup phase, then the -duration phase. Each
// opens its own channels and, at its end, stops issuing calls, waits for every call it issued
// to finish, and closes its channels. The client's resident memory, goroutines and the actors
// its System still has are measured after each phase, once the System has no channel, call or
// socket left and the goroutines settled, and after a GC and debug.FreeOSMemory: the measure
// after the warm-up is the start, the one after the run the end. The warm-up is long enough (30 s
// by default) for the process to reach the threads and runtime structures its load keeps, so
// that the start is its steady footprint rather than one still growing. It prints a report of
// "key: value" lines, the last one "result: PASS" or "result: FAIL (<why>)", and exits 1 when a
// done callback ran twice, a call never finished, an answer of its own echo servers did not
// parse (ERESPONSE), a channel, call or socket outlived the closed channels, or the end's
// anonymous resident memory holding data grew more than 10 % over the start's (or 2 MB, when
// that is more), or its goroutines more than 10 % (or 5); less at the end is fine. Anonymous
// memory (RssAnon: the heap, stacks, the runtime's structures) is where a leak shows, once the
// free heap pages the runtime keeps are taken out (they hold nothing, and how many stay resident
// varies); the whole RSS (VmRSS, also printed) adds the pages of the binary's code and data
// mapped in as more of it runs, which are no leak.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
)

// config is the run's flags.
type config struct {
	duration, warmup time.Duration
	callers          int
	window           int // calls in flight per caller
	servers          int
	slowReaders      int
	seed             uint64
	// goMemory judges the Go runtime's own memory (heap in use, stacks, runtime structures)
	// instead of the anonymous RSS, by the same limit: under the race detector most of the RSS
	// is the race runtime's, which keeps growing its metadata for a while and never gives it back.
	goMemory bool
	out      io.Writer
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == serveFlag {
		os.Exit(serve(os.Args[2]))
	}
	c := config{out: os.Stdout}
	flag.DurationVar(&c.duration, "duration", 5*time.Minute, "length of the measured run")
	flag.DurationVar(&c.warmup, "warmup", 30*time.Second, "length of the warm-up phase before the start measure")
	flag.IntVar(&c.callers, "callers", 64, "goroutines issuing calls")
	flag.IntVar(&c.window, "window", 4, "asynchronous calls each caller keeps in flight")
	flag.IntVar(&c.servers, "servers", 4, "echo servers (child processes); at least 2")
	flag.IntVar(&c.slowReaders, "slow_readers", 3, "raw connections at a time that read slowly or never")
	flag.Uint64Var(&c.seed, "seed", 0, "random seed (0: from the clock)")
	flag.Parse()
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// soak is the state of a run.
type soak struct {
	cfg     config
	sys     *actors.System
	servers []*server
	chaos   *chaos
	tally   *tally
	seq     uint64 // seeds of the goroutines' generators
	// perChannel sums each channel kind's successes and calls over the phases, in opening order.
	perChannel []channelTotal
}

type channelTotal struct {
	name             string
	successes, calls int64
}

// run runs both phases and prints the report; it returns an error when the run failed.
func run(c config) error {
	if c.duration <= 0 || c.warmup <= 0 || c.callers < 1 || c.window < 1 || c.servers < 2 || c.slowReaders < 0 {
		return fmt.Errorf("-duration, -warmup, -callers and -window must be positive, -servers at least 2, -slow_readers not negative")
	}
	s := &soak{cfg: c, tally: &tally{errors: map[wire.Errno]int64{}, examples: map[wire.Errno]string{}}}
	defer s.stopServers()
	if err := s.startServers(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "troupe-soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	nf, err := newNamingFile(filepath.Join(dir, "servers"), s.servers)
	if err != nil {
		return err
	}
	s.chaos = &chaos{servers: s.servers, naming: nf, errs: make(chan error, 4)}
	if s.sys, err = actors.NewSystem(nil); err != nil {
		return err
	}
	defer s.sys.Shutdown()
	fmt.Fprintf(c.out, "soak: duration=%v warmup=%v callers=%d window=%d servers=%d (child processes) slow_readers=%d seed=%d\n",
		c.duration, c.warmup, c.callers, c.window, c.servers, c.slowReaders, c.seed)
	if err := s.phase(c.warmup); err != nil {
		return err
	}
	start, startServers := s.measure(0), s.serverRSS()
	if err := s.phase(c.duration); err != nil {
		return err
	}
	end := s.measure(start.goroutines + max(5, start.goroutines/10))
	return s.report(start, end, startServers, s.serverRSS())
}

func (s *soak) startServers() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	for i := range s.cfg.servers {
		srv, err := startServer(exe, i)
		if err != nil {
			return err
		}
		s.servers = append(s.servers, srv)
	}
	return nil
}

func (s *soak) stopServers() {
	for _, srv := range s.servers {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
		}
	}
}

func (s *soak) rng() *rand.Rand {
	s.seq++
	return rand.New(rand.NewPCG(s.cfg.seed, s.seq))
}

// phase opens the channels, runs the load and the chaos for d, waits for every call issued and
// closes the channels. Every server runs and is listed again when it returns.
func (s *soak) phase(d time.Duration) error {
	clients, err := openClients(s.sys, s.chaos.naming.path, s.servers[0].Addr())
	if err != nil {
		return err
	}
	defer closeClients(clients)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for range s.cfg.callers {
		rng := s.rng()
		wg.Go(func() { s.tally.caller(ctx, rng, clients, s.cfg.window) })
	}
	for range s.cfg.slowReaders {
		rng := s.rng()
		wg.Go(func() { s.chaos.slowReader(ctx, rng) })
	}
	killRng, namingRng := s.rng(), s.rng()
	wg.Go(func() { s.chaos.killLoop(ctx, killRng) })
	wg.Go(func() { s.chaos.namingLoop(ctx, namingRng) })
	wg.Wait()
	if err := s.waitCalls(30 * time.Second); err != nil {
		return err
	}
	s.addPerChannel(clients)
	select {
	case err := <-s.chaos.errs:
		return err
	default:
	}
	return nil
}

// waitCalls waits up to limit for every issued call's done callback.
func (s *soak) waitCalls(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for s.tally.finished.Load() < s.tally.issued.Load() {
		if time.Now().After(deadline) {
			stuck := s.tally.issued.Load() - s.tally.finished.Load()
			tree := s.sys.Inspect().String()
			if len(tree) > 8<<10 {
				tree = tree[:8<<10] + "\n…"
			}
			fmt.Fprintf(os.Stderr, "what the system is waiting on:\n%s\n", tree)
			return fmt.Errorf("%d of %d calls never finished (their done callback did not run within %v of the load's end)",
				stuck, s.tally.issued.Load(), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// snapshot is the client's resident memory (kB), goroutines, and the channels, calls and
// sockets its System still has.
type snapshot struct {
	rss        int64  // VmRSS, kB
	anon       int64  // RssAnon, kB: the part of rss no file backs
	idle       int64  // kB of free heap pages the runtime keeps, not given back (HeapIdle - HeapReleased)
	heap       uint64 // bytes of live heap objects after the GC (MemStats.HeapAlloc)
	heapInuse  uint64 // bytes of heap spans in use (MemStats.HeapInuse): live objects and the room between them
	stacks     uint64 // bytes of goroutine stacks (MemStats.StackInuse)
	runtimeMem uint64 // bytes the runtime holds for itself: spans, caches, GC metadata, profiling, other
	threads    int64  // OS threads; Go keeps the ones it made, and each holds some RSS
	goroutines int
	actors     int
}

// measure waits for the client to settle — at most 20 s for its System to have no channel, call
// or socket left and for its goroutine count to stay the same for a second, or to drop to target
// when target is positive — then collects garbage twice (emptying sync.Pools), returns freed
// memory to the system and reads VmRSS, RssAnon and the runtime's own accounts.
func (s *soak) measure(target int) snapshot {
	deadline := time.Now().Add(20 * time.Second)
	last, since := runtime.NumGoroutine(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if leftActors(s.sys) > 0 {
			continue
		}
		n := runtime.NumGoroutine()
		if target > 0 && n <= target || n == last && time.Since(since) >= time.Second {
			break
		}
		if n != last {
			last, since = n, time.Now()
		}
	}
	runtime.GC()
	debug.FreeOSMemory() // a second collection: sync.Pools are empty after two
	rss, _ := vmRSS("/proc/self/status")
	anon, _ := statusField("/proc/self/status", "RssAnon")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := statusField("/proc/self/status", "Threads")
	return snapshot{rss: rss, anon: anon, idle: int64(ms.HeapIdle-ms.HeapReleased) >> 10, heap: ms.HeapAlloc, heapInuse: ms.HeapInuse, stacks: ms.StackInuse,
		runtimeMem: ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.GCSys + ms.OtherSys,
		threads:    threads, goroutines: runtime.NumGoroutine(), actors: leftActors(s.sys)}
}

// heldSlackKB is how much the anonymous memory holding data may grow whatever its percentage: the
// runtime's own structures grow with the highest the heap has been (0.5 MB in a run whose heap
// peaked near 150 MB), and its spans in use move by a few hundred kB from one measure to the next.
// A leak of one byte per call passes it within the default run, about 3 million calls.
const heldSlackKB = 2 << 10

// held is the anonymous resident memory that holds something: RssAnon without the free heap
// pages the runtime keeps. Even debug.FreeOSMemory leaves some of those resident (here up to a
// few MB after a run that peaked at 150 MB of heap), and how many varies from run to run; a leak
// cannot hide in them, since they hold no object.
func (s snapshot) held() int64 { return s.anon - s.idle }

// goMemory is the Go runtime's own memory in kB: heap spans in use, stacks and its structures.
func (s snapshot) goMemory() int64 { return int64(s.heapInuse+s.stacks+s.runtimeMem) >> 10 }

// leftActors counts the channels, calls and sockets sys's Inspect tree shows.
func leftActors(sys *actors.System) int {
	n := 0
	for _, group := range sys.Inspect().Children {
		n += len(group.Children)
	}
	return n
}

// serverRSS is each running server's VmRSS, in kB.
func (s *soak) serverRSS() []int64 {
	out := make([]int64, len(s.servers))
	for i, srv := range s.servers {
		out[i] = srv.RSS()
	}
	return out
}

// report prints the run's report and returns why the run failed, if it did.
func (s *soak) report(start, end snapshot, serversStart, serversEnd []int64) error {
	t, c := s.tally, s.chaos
	w := s.cfg.out
	fmt.Fprintf(w, "calls: %d\n", t.issued.Load())
	fmt.Fprintf(w, "successes: %d\n", t.successes.Load())
	fmt.Fprintf(w, "errors: %s\n", t.errorLine())
	fmt.Fprintf(w, "successes/calls by channel: %s\n", s.byChannel())
	for _, l := range t.exampleLines() {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "finished twice: %d\n", t.twice.Load())
	fmt.Fprintf(w, "never finished: %d\n", t.issued.Load()-t.finished.Load())
	fmt.Fprintf(w, "kills: %d\nrestarts: %d\n", c.kills.Load(), c.restarts.Load())
	fmt.Fprintf(w, "naming edits: %d\n", c.naming.edits.Load())
	fmt.Fprintf(w, "slow reader connections: %d\n", c.slowConns.Load())
	fmt.Fprintf(w, "client rss: start=%dkB end=%dkB (%+.1f%%)\n", start.rss, end.rss, pct(start.rss, end.rss))
	fmt.Fprintf(w, "client anonymous rss: start=%dkB end=%dkB (%+.1f%%)\n", start.anon, end.anon, pct(start.anon, end.anon))
	fmt.Fprintf(w, "client anonymous rss holding data: start=%dkB end=%dkB (%+.1f%%; without %dkB and %dkB of free heap pages kept)\n",
		start.held(), end.held(), pct(start.held(), end.held()), start.idle, end.idle)
	fmt.Fprintf(w, "client live heap: start=%dkB end=%dkB\n", start.heap>>10, end.heap>>10)
	fmt.Fprintf(w, "client heap in use, stacks, runtime: start=%dkB,%dkB,%dkB end=%dkB,%dkB,%dkB\n",
		start.heapInuse>>10, start.stacks>>10, start.runtimeMem>>10, end.heapInuse>>10, end.stacks>>10, end.runtimeMem>>10)
	fmt.Fprintf(w, "client threads: start=%d end=%d\n", start.threads, end.threads)
	fmt.Fprintf(w, "client goroutines: start=%d end=%d\n", start.goroutines, end.goroutines)
	fmt.Fprintf(w, "client actors left after closing: start=%d end=%d (channels, calls and sockets)\n", start.actors, end.actors)
	fmt.Fprintf(w, "server rss: start=%s end=%s (kB per server; a restarted server's is its new process's)\n",
		kbList(serversStart), kbList(serversEnd))
	var why []string
	if n := t.twice.Load(); n > 0 {
		why = append(why, fmt.Sprintf("%d done callbacks ran a second time", n))
	}
	if n := t.issued.Load() - t.finished.Load(); n != 0 {
		why = append(why, fmt.Sprintf("%d calls never finished", n))
	}
	t.mu.Lock()
	bad := t.errors[wire.ERESPONSE]
	t.mu.Unlock()
	if bad > 0 {
		why = append(why, fmt.Sprintf("%d answers from the echo servers did not parse (ERESPONSE)", bad))
	}
	if start.actors > 0 || end.actors > 0 {
		why = append(why, fmt.Sprintf("channels, calls or sockets outlived their closed channels (%d, then %d)", start.actors, end.actors))
	}
	const limit = 10 // percent the client's memory may grow between start and end
	// Only growth fails: memory or goroutines given back (a start measured on a busy machine, a
	// collection the end saw and the start did not) are no leak.
	what, from, to := "client anonymous rss holding data", start.held(), end.held()
	if s.cfg.goMemory {
		what, from, to = "client Go memory (heap in use, stacks, runtime)", start.goMemory(), end.goMemory()
	}
	if d := to - from; d > max(from*limit/100, heldSlackKB) {
		why = append(why, fmt.Sprintf("%s grew %+dkB, %+.1f%% (limit %d%% or %dkB)", what, d, pct(from, to), limit, heldSlackKB))
	}
	if d, tol := end.goroutines-start.goroutines, max(5, start.goroutines/10); d > tol {
		why = append(why, fmt.Sprintf("client goroutines grew by %+d (limit %d)", d, tol))
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "result: FAIL (%s)\n", strings.Join(why, "; "))
		return fmt.Errorf("%s", strings.Join(why, "; "))
	}
	fmt.Fprintln(w, "result: PASS")
	return nil
}

func (s *soak) addPerChannel(clients []*client) {
	for i, c := range clients {
		if i == len(s.perChannel) {
			s.perChannel = append(s.perChannel, channelTotal{name: c.name})
		}
		s.perChannel[i].successes += c.successes.Load()
		s.perChannel[i].calls += c.calls.Load()
	}
}

// byChannel is "cluster=<successes>/<calls> parallel=…", over both phases.
func (s *soak) byChannel() string {
	var parts []string
	for _, c := range s.perChannel {
		parts = append(parts, fmt.Sprintf("%s=%d/%d", c.name, c.successes, c.calls))
	}
	return strings.Join(parts, " ")
}

func pct(from, to int64) float64 {
	if from == 0 {
		return 0
	}
	return float64(to-from) * 100 / float64(from)
}

func kbList(kb []int64) string {
	parts := make([]string, len(kb))
	for i, v := range kb {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}
