//go:build !linux

package callrt

// newAlarm returns an alarm that calls ring on a Go timer.
func newAlarm(ring func(), _ func(func())) alarm { return &timerAlarm{ring: ring} }
