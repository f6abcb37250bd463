package combo_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// noPanic runs fn and fails the test, naming what, if it panics.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	fn()
}

// wantEINVAL fails unless err is EINVAL with a text that says what to do.
func wantEINVAL(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, wire.EINVAL) {
		t.Errorf("%s = %v, want EINVAL", what, err)
		return
	}
	if !strings.Contains(err.Error(), "make it with") && !strings.Contains(err.Error(), "not started") {
		t.Errorf("%s = %q: the text does not say how to make a usable value", what, err)
	}
}

// checkUnusable checks that a channel that cannot take calls fails them with EINVAL and never
// panics: Call returns the error, and an asynchronous call has run its done, once, by the time
// Go returns.
func checkUnusable(t *testing.T, name string, ch actors.Channel) {
	t.Helper()
	ctx := context.Background()
	noPanic(t, name+".Call", func() {
		wantEINVAL(t, name+".Call", ch.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil))
	})
	noPanic(t, name+".Go", func() {
		var runs atomic.Int32
		var cntl actors.Controller
		call := ch.Go(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl,
			func(c *actors.Controller) { runs.Add(1) })
		if n := runs.Load(); n != 1 {
			t.Errorf("%s.Go: done ran %d times before Go returned, want 1", name, n)
		}
		wantEINVAL(t, name+".Go: Wait", call.Wait())
		wantEINVAL(t, name+".Go: Controller.Err", cntl.Err())
		select {
		case <-call.Done():
		default:
			t.Errorf("%s.Go: Done is not closed", name)
		}
		actors.Join(call)
		if n := runs.Load(); n != 1 {
			t.Errorf("%s.Go: done ran %d times, want 1", name, n)
		}
	})
	noPanic(t, name+".Go without done", func() {
		//lint:ignore SA1012 a nil context must not panic either
		wantEINVAL(t, name+".Go without done", ch.Go(nil, echoservice.Method, nil, nil, nil, nil).Wait())
	})
	noPanic(t, name+".Close", func() { _ = ch.Close() })
}

// Every exported type whose zero value a user can reach either works or fails with EINVAL and a
// clear text; none panics.
func TestZeroValues(t *testing.T) {
	for name, ch := range map[string]actors.Channel{
		"actors.PlainChannel":           &actors.PlainChannel{},
		"combo.ParallelChannel":         &combo.ParallelChannel{},
		"combo.SelectiveChannel":        &combo.SelectiveChannel{},
		"combo.PartitionChannel":        &combo.PartitionChannel{},
		"combo.DynamicPartitionChannel": &combo.DynamicPartitionChannel{},
		"combo.HashingPartitioner":      &combo.HashingPartitioner{},
		"combo.CustomPartitioner":       &combo.CustomPartitioner{},
		"combo.MethodChannel":           &combo.MethodChannel{},
	} {
		t.Run(name, func(t *testing.T) { checkUnusable(t, name, ch) })
	}

	t.Run("the channels' other methods", func(t *testing.T) {
		var p combo.ParallelChannel
		noPanic(t, "ParallelChannel", func() {
			wantEINVAL(t, "ParallelChannel.AddChannel", p.AddChannel(&actors.PlainChannel{}, combo.OwnsChannel, nil, nil))
			if p.ChannelCount() != 0 || p.Weight() != 0 {
				t.Errorf("zero ParallelChannel: ChannelCount %d, Weight %d; want 0, 0", p.ChannelCount(), p.Weight())
			}
		})
		var s combo.SelectiveChannel
		noPanic(t, "SelectiveChannel", func() {
			_, err := s.AddChannel(&actors.PlainChannel{}, combo.OwnsChannel)
			wantEINVAL(t, "SelectiveChannel.AddChannel", err)
			wantEINVAL(t, "SelectiveChannel.RemoveAndDestroyChannel", s.RemoveAndDestroyChannel(1))
			if s.ChannelCount() != 0 || s.Weight() != 0 {
				t.Errorf("zero SelectiveChannel: ChannelCount %d, Weight %d; want 0, 0", s.ChannelCount(), s.Weight())
			}
		})
		var pc combo.PartitionChannel
		noPanic(t, "PartitionChannel", func() { _, _ = pc.PartitionCount(), pc.Weight() })
		var d combo.DynamicPartitionChannel
		noPanic(t, "DynamicPartitionChannel", func() { _, _ = d.Schemes(), d.Weight() })
		var h combo.HashingPartitioner
		noPanic(t, "HashingPartitioner", func() {
			_, _, _, _ = h.Ejected(), h.Inspect(), h.Partitions(), h.Stats()
			_ = h.PartitionOf("k")
			wantEINVAL(t, "HashingPartitioner.Reshard", h.Reshard(nil))
		})
		var c combo.CustomPartitioner
		noPanic(t, "CustomPartitioner", func() {
			_, _, _, _ = c.Ejected(), c.Inspect(), c.Partitions(), c.Stats()
			wantEINVAL(t, "CustomPartitioner.Reshard", c.Reshard(nil, nil))
		})
		var b combo.MethodBuilder
		noPanic(t, "MethodBuilder", func() {
			_, err := b.Method("a.B.C", combo.MethodConfig{Channel: &actors.PlainChannel{}}).Build()
			wantEINVAL(t, "MethodBuilder.Build", err)
		})
		var sh combo.Shards
		noPanic(t, "Shards", func() {
			_, _ = sh.Channels(), sh.IDs()
			_, err := sh.NewHashingPartitioner(nil, nil)
			wantEINVAL(t, "Shards.NewHashingPartitioner", err)
			_, err = sh.NewCustomPartitioner(nil, nil)
			wantEINVAL(t, "Shards.NewCustomPartitioner", err)
			sh.Subscribe(func(map[int]actors.Channel) {})()
			_ = sh.Close()
		})
	})

	t.Run("actors", func(t *testing.T) {
		var sys actors.System
		noPanic(t, "System", func() {
			_, err := sys.NewChannel("127.0.0.1:1", nil)
			wantEINVAL(t, "System.NewChannel", err)
			_, _, _ = sys.Inspect().String(), sys.Name(), sys.Processes()
			sys.Shutdown()
		})
		var call actors.Call
		noPanic(t, "Call", func() {
			wantEINVAL(t, "Call.Wait", call.Wait())
			wantEINVAL(t, "Call.Err", call.Err())
			wantEINVAL(t, "Call.Controller().Err", call.Controller().Err())
			call.Cancel()
			<-call.Done()
			actors.Join(&call, nil)
		})
		var cntl actors.Controller
		noPanic(t, "Controller", func() {
			_ = fmt.Sprint(cntl.Err(), cntl.ErrorText(), cntl.Failed(), cntl.Sub(0), cntl.SubCount(), cntl.Latency())
			cntl.StartCancel()
			cntl.Reset()
		})
		noPanic(t, "nil Controller in a backoff policy", func() {
			_ = actors.FixedBackoff{}.Backoff(nil)
			_ = actors.JitteredBackoff{}.Backoff(nil)
		})
		var srv actors.Server
		noPanic(t, "Server", func() {
			wantEINVAL(t, "Server.Register", srv.Register(echoservice.Method, actors.Method{
				NewRequest: func() proto.Message { return &echopb.EchoRequest{} },
				Handle:     func(context.Context, proto.Message) (proto.Message, error) { return nil, nil },
			}))
			_, err := srv.Listen("127.0.0.1:0")
			wantEINVAL(t, "Server.Listen", err)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			wantEINVAL(t, "Server.Serve", srv.Serve(l))
			_ = srv.Connections()
			_ = srv.Shutdown(context.Background())
		})
	})

	t.Run("nil arguments", func(t *testing.T) {
		sys := newSystem(t)
		for name, mk := range map[string]func() error{
			"NewParallelChannel(nil)":  func() error { _, err := combo.NewParallelChannel(nil, nil); return err },
			"NewSelectiveChannel(nil)": func() error { _, err := combo.NewSelectiveChannel(nil, nil); return err },
			"NewPartitionChannel(nil)": func() error {
				_, err := combo.NewPartitionChannel(nil, 1, combo.SlashParser{}, "list://127.0.0.1:1", nil)
				return err
			},
			"NewDynamicPartitionChannel(nil)": func() error {
				_, err := combo.NewDynamicPartitionChannel(nil, combo.SlashParser{}, "list://127.0.0.1:1", nil)
				return err
			},
			"NewHashingPartitioner(nil)": func() error {
				_, err := combo.NewHashingPartitioner(nil, []actors.Channel{&actors.PlainChannel{}}, nil, nil)
				return err
			},
			"NewCustomPartitioner(nil)": func() error {
				_, err := combo.NewCustomPartitioner(nil, map[int]actors.Channel{0: &actors.PlainChannel{}}, nil, nil)
				return err
			},
			"NewShards(nil)": func() error { _, err := combo.NewShards(nil, "list://127.0.0.1:1", nil); return err },
			"NewParallelChannel(zero System)": func() error {
				_, err := combo.NewParallelChannel(&actors.System{}, nil)
				return err
			},
			"AddChannel(nil)": func() error {
				p, err := combo.NewParallelChannel(sys, nil)
				if err != nil {
					return nil
				}
				var ch *actors.PlainChannel
				return p.AddChannel(ch, combo.OwnsChannel, nil, nil)
			},
		} {
			noPanic(t, name, func() {
				if err := mk(); err == nil {
					t.Errorf("%s = nil error, want one", name)
				}
			})
		}
		ch := plain(t, sys, startEcho(t, &echoservice.Service{}), nil)
		defer ch.Close()
		var typedNil *echopb.EchoResponse
		for name, call := range map[string]func() error{
			"nil request":        func() error { return ch.Call(t.Context(), echoservice.Method, nil, &echopb.EchoResponse{}, nil) },
			"nil response":       func() error { return ch.Call(t.Context(), echoservice.Method, echoReq("x"), nil, nil) },
			"typed nil response": func() error { return ch.Call(t.Context(), echoservice.Method, echoReq("x"), typedNil, nil) },
			"nil context": func() error {
				//lint:ignore SA1012 a nil context must not panic
				return ch.Call(nil, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
			},
		} {
			noPanic(t, name, func() {
				err := call()
				if name == "nil context" {
					if err != nil {
						t.Errorf("Call with a nil context = %v, want success", err)
					}
					return
				}
				if !errors.Is(err, wire.EINVAL) {
					t.Errorf("Call with a %s = %v, want EINVAL", name, err)
				}
			})
		}
	})
}
