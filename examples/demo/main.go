// Command demo starts echo servers on loopback and shows what a troupe channel does: synchronous,
// asynchronous and semi-synchronous calls, cancellation, timeouts, errors carrying brpc's codes,
// the actor tree of a stuck call, and a short burst of load. Everything runs in this process over
// real sockets; it needs no flags and exits 0 when every step behaved as it should.
//
// With -console ADDR it serves troupe's debugging console (package console) on ADDR while it runs
// and prints its URL; -console_hold keeps the process, a light load and the console up that long
// after the steps, to look around.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/console"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/examples/internal/consolehttp"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func main() {
	duration := flag.Duration("duration", 3*time.Second, "length of the load phase at the end")
	consoleAddr := flag.String("console", "", "serve the debugging console over HTTP on this address (127.0.0.1:0 picks a port)")
	hold := flag.Duration("console_hold", 0, "with -console: keep the console up this long after the steps, under a light load")
	flag.Parse()
	if err := run(*duration, *consoleAddr, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
	fmt.Println("demo finished: every step behaved as expected")
}

// demo holds the servers and the channels of the run.
type demo struct {
	sys        *actors.System
	fast, slow *echopbtroupe.EchoServiceClient // the generated client over each server's channel
	fastCh     actors.Channel                  // for a call by name of a method the server lacks
	servers    []*actors.Server
	rec        *rpcz.Recorder // the console's recent calls; nil without -console
}

func run(load time.Duration, consoleAddr string, hold time.Duration) error {
	d := &demo{}
	if consoleAddr != "" {
		d.rec = rpcz.New(nil)
	}
	defer d.tearDown()
	if err := d.setUp(); err != nil {
		return err
	}
	if consoleAddr != "" {
		url, stop, err := consolehttp.Serve(consoleAddr, console.Options{System: d.sys, Servers: d.servers, Title: "troupe demo"})
		if err != nil {
			return err
		}
		defer stop()
		fmt.Println("console:", url)
	}
	steps := []struct {
		title string
		fn    func() error
	}{
		{"synchronous call", d.syncCall},
		{"asynchronous calls, joined (semi-synchronous)", d.asyncCalls},
		{"a call cancelled in flight", d.cancelled},
		{"a call that times out against a slow server", d.timedOut},
		{"errors from the server carry brpc's codes", d.serverErrors},
		{"what a stuck call is waiting on", d.inspectStuck},
		{fmt.Sprintf("closed-loop load for %v", load), func() error { return d.load(load) }},
	}
	for i, s := range steps {
		fmt.Printf("\n== %d. %s\n", i+1, s.title)
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}
	if consoleAddr != "" && hold > 0 {
		d.hold(hold)
	}
	return nil
}

// setUp starts the servers and the channels; tearDown stops what it started, also after it
// failed.
func (d *demo) setUp() error {
	fastAddr, err := d.startServer(&echoservice.Service{Index: 0, EchoAttachment: true})
	if err != nil {
		return err
	}
	slowAddr, err := d.startServer(&echoservice.Service{Index: 1, Sleep: 300 * time.Millisecond})
	if err != nil {
		return err
	}
	fmt.Printf("echo servers: fast on %s, slow (300ms) on %s\n", fastAddr, slowAddr)
	if d.sys, err = actors.NewSystem(&actors.SystemOptions{Rpcz: d.rec}); err != nil {
		return err
	}
	if d.fastCh, err = d.sys.NewChannel(fastAddr, nil); err != nil {
		return err
	}
	slowCh, err := d.sys.NewChannel(slowAddr, &actors.ChannelOptions{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	d.fast, d.slow = echopbtroupe.NewEchoServiceClient(d.fastCh), echopbtroupe.NewEchoServiceClient(slowCh)
	return nil
}

// hold keeps the console up for dur, or until SIGINT or SIGTERM, while four callers call the
// fast server every 10 ms and one the slow server, so that its pages have something to show.
func (d *demo) hold(dur time.Duration) {
	fmt.Printf("\nthe console stays up for %v under a light load (Ctrl-C ends it)\n", dur)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			client, pause := d.fast, 10*time.Millisecond
			if i == 4 {
				client, pause = d.slow, 0
			}
			for ctx.Err() == nil {
				_, _ = client.Echo(ctx, request("hold"), nil)
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	wg.Wait()
}

func (d *demo) startServer(svc *echoservice.Service) (string, error) {
	srv, err := actors.NewServer(&actors.ServerOptions{Rpcz: d.rec})
	if err != nil {
		return "", err
	}
	if err := echopbtroupe.RegisterEchoServiceServer(srv, svc); err != nil {
		return "", err
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		return "", err
	}
	d.servers = append(d.servers, srv)
	return addr.String(), nil
}

func (d *demo) tearDown() {
	if d.sys != nil {
		d.sys.Shutdown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range d.servers {
		_ = s.Shutdown(ctx)
	}
}

func request(msg string) *echopb.EchoRequest {
	return &echopb.EchoRequest{Message: proto.String(msg)}
}

func (d *demo) syncCall() error {
	var cntl actors.Controller
	cntl.SetRequestAttachment([]byte("attached bytes"))
	resp, err := d.fast.Echo(context.Background(), request("hello"), &cntl)
	if err != nil {
		return err
	}
	fmt.Printf("reply %q, attachment %q, from %s in %v\n", resp.GetMessage(), cntl.ResponseAttachment(),
		cntl.RemoteSide(), cntl.Latency().Round(time.Microsecond))
	return nil
}

func (d *demo) asyncCalls() error {
	var calls []*actors.Call
	var callbacks atomic.Int32
	for i := range 5 {
		resp := &echopb.EchoResponse{}
		calls = append(calls, d.fast.GoEcho(context.Background(), request(fmt.Sprint("async ", i)), resp, nil,
			func(c *actors.Controller) {
				callbacks.Add(1)
				fmt.Printf("  done callback: %q err=%v\n", resp.GetMessage(), c.Err())
			}))
	}
	actors.Join(calls...)
	if n := callbacks.Load(); n != 5 {
		return fmt.Errorf("%d callbacks ran, want 5", n)
	}
	fmt.Println("Join returned after all 5 calls and their callbacks")
	return nil
}

func (d *demo) cancelled() error {
	call := d.slow.GoEcho(context.Background(), request("never answered in time"), &echopb.EchoResponse{}, nil, nil)
	time.Sleep(20 * time.Millisecond)
	call.Cancel()
	err := call.Wait()
	fmt.Printf("cancelled after 20ms: %v\n  errors.Is(err, wire.ECANCELED)=%v errors.Is(err, context.Canceled)=%v\n",
		err, errors.Is(err, wire.ECANCELED), errors.Is(err, context.Canceled))
	if !errors.Is(err, wire.ECANCELED) {
		return fmt.Errorf("got %v, want ECANCELED", err)
	}
	return nil
}

func (d *demo) timedOut() error {
	var cntl actors.Controller
	cntl.SetTimeout(50 * time.Millisecond)
	_, err := d.slow.Echo(context.Background(), request("too slow"), &cntl)
	fmt.Printf("after %v: %v\n  code=%d errors.Is(err, context.DeadlineExceeded)=%v\n",
		cntl.Latency().Round(time.Millisecond), err, cntl.ErrorCode(), errors.Is(err, context.DeadlineExceeded))
	if cntl.ErrorCode() != wire.ERPCTIMEDOUT {
		return fmt.Errorf("got %v, want ERPCTIMEDOUT", err)
	}
	return nil
}

func (d *demo) serverErrors() error {
	req := request("fail please")
	req.FailCode = proto.Int32(int32(wire.ELIMIT))
	_, err := d.fast.Echo(context.Background(), req, nil)
	fmt.Printf("server failed the call: %v (code %d)\n", err, wire.ErrnoOf(err))
	err2 := d.fastCh.Call(context.Background(), "example.EchoService.Nope", request("x"), &echopb.EchoResponse{}, nil)
	fmt.Printf("unknown method: %v (code %d)\n", err2, wire.ErrnoOf(err2))
	if wire.ErrnoOf(err) != wire.ELIMIT || wire.ErrnoOf(err2) != wire.ENOMETHOD {
		return errors.New("wrong codes")
	}
	return nil
}

func (d *demo) inspectStuck() error {
	call := d.slow.GoEcho(context.Background(), request("stuck for a while"), &echopb.EchoResponse{}, nil, nil)
	time.Sleep(50 * time.Millisecond)
	fmt.Print(d.sys.Inspect())
	return call.Wait()
}

func (d *demo) load(dur time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var ok, failed atomic.Int64
	const callers = 16
	done := make(chan struct{}, callers)
	for range callers {
		go func() {
			defer func() { done <- struct{}{} }()
			req := request("load")
			for ctx.Err() == nil {
				if _, err := d.fast.Echo(context.Background(), req, nil); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	for range callers {
		<-done
	}
	fmt.Printf("%d callers: %d calls in %v (%.0f calls/s), %d failed\n", callers, ok.Load(), dur,
		float64(ok.Load())/dur.Seconds(), failed.Load())
	if failed.Load() > 0 {
		return fmt.Errorf("%d calls failed", failed.Load())
	}
	return nil
}
