package actors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// In a Controller as in options, 0 keeps the default (the channel's setting) and a negative
// value means none.
func TestControllerZeroKeepsTheChannelsSetting(t *testing.T) {
	sys := newSystem(t)

	t.Run("max retry", func(t *testing.T) {
		ch, err := sys.NewChannel(actorstest.DeadAddr(t), &actors.ChannelOptions{MaxRetry: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		for _, tc := range []struct {
			set, want int
		}{{0, 2}, {1, 1}, {actors.NoRetry, 0}, {-7, 0}} {
			var cntl actors.Controller
			cntl.SetMaxRetry(tc.set)
			err := ch.Call(t.Context(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, &cntl)
			if !errors.Is(err, wire.ECONNREFUSED) || cntl.RetriedCount() != tc.want {
				t.Errorf("SetMaxRetry(%d): Call() = %v after %d retries, want ECONNREFUSED after %d", tc.set, err, cntl.RetriedCount(), tc.want)
			}
		}
	})

	_, addr := startEcho(t, &echoservice.Service{})
	t.Run("timeout", func(t *testing.T) {
		ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		for _, tc := range []struct {
			set      time.Duration
			deadline bool
		}{{0, true}, {actors.NoTimeout, false}} {
			var cntl actors.Controller
			cntl.SetTimeout(tc.set)
			begin := time.Now()
			if err := ch.Call(t.Context(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, &cntl); err != nil {
				t.Fatalf("SetTimeout(%v): Call() = %v", tc.set, err)
			}
			dl, ok := cntl.Deadline()
			if ok != tc.deadline || (ok && dl.Sub(begin) < 30*time.Minute) {
				t.Errorf("SetTimeout(%v): deadline %v in %v, want the channel's hour: %v", tc.set, ok, dl.Sub(begin), tc.deadline)
			}
		}
	})

	_, slowAddr := startEcho(t, &echoservice.Service{Sleep: 300 * time.Millisecond})
	t.Run("backup request", func(t *testing.T) {
		ch, err := sys.NewChannel(slowAddr, &actors.ChannelOptions{Timeout: time.Minute, BackupRequest: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		for _, tc := range []struct {
			set  time.Duration
			sent bool
		}{{0, true}, {actors.NoBackupRequest, false}} {
			var cntl actors.Controller
			cntl.SetBackupRequest(tc.set)
			if err := ch.Call(t.Context(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, &cntl); err != nil {
				t.Fatalf("SetBackupRequest(%v): Call() = %v", tc.set, err)
			}
			if cntl.HasBackupRequest() != tc.sent {
				t.Errorf("SetBackupRequest(%v): backup request sent = %v, want %v", tc.set, cntl.HasBackupRequest(), tc.sent)
			}
		}
	})
}
