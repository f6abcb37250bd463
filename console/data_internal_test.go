package console

import (
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
)

// A method's rates come from its complete seconds: "now" is the last one, and the minute's
// average runs over the seconds since its first call, not over the current, partial second.
func TestMethodRowRates(t *testing.T) {
	m := actors.MethodStats{Method: "a.B.C", Calls: 70, Errors: map[wire.Errno]int64{wire.ELIMIT: 2, -1: 1}}
	m.PerSecond = make([]actors.SecondStats, 60)
	m.PerSecond[56] = actors.SecondStats{Calls: 10}
	m.PerSecond[57] = actors.SecondStats{Calls: 20, Errors: 2}
	m.PerSecond[58] = actors.SecondStats{Calls: 30, P99: time.Millisecond}
	m.PerSecond[59] = actors.SecondStats{Calls: 10, Errors: 1} // the current second
	row := methodRow(&m)
	if row.QPS != 30 || row.P99Now != time.Millisecond {
		t.Errorf("now: %v calls/s, p99 %v; want the last complete second's 30 and 1ms", row.QPS, row.P99Now)
	}
	if row.QPSMinute != 20 {
		t.Errorf("minute: %v calls/s, want 60 calls over 3 complete seconds", row.QPSMinute)
	}
	if row.ErrorsMinute != 3 || row.ErrorCount != 3 || row.Errors["ELIMIT"] != 2 || row.Errors["other"] != 1 {
		t.Errorf("errors: minute %d, total %d, by code %v", row.ErrorsMinute, row.ErrorCount, row.Errors)
	}
	if len(row.PerSecond) != 60 || row.PerSecond[59] != 10 {
		t.Errorf("plot: %v", row.PerSecond)
	}
	if r := methodRow(&actors.MethodStats{PerSecond: make([]actors.SecondStats, 60)}); r.QPS != 0 || r.QPSMinute != 0 {
		t.Errorf("no calls: %+v", r)
	}
}

func TestStampShowsTheDateOfAnotherDay(t *testing.T) {
	now := time.Now()
	if got := stamp(now); len(got) != len("15:04:05.000") {
		t.Errorf("stamp(now) = %q, want the time of day", got)
	}
	if got, want := stamp(now.Add(48*time.Hour)), now.Add(48*time.Hour).Format("2006-01-02"); got[:10] != want {
		t.Errorf("stamp(in two days) = %q, want it to start with %s", got, want)
	}
}
