// Package human formats values for people reading a console or an Inspect tree.
package human

import "time"

// Age prints how long something has lived with the precision a person reads it with:
// milliseconds under a second, tenths of a second under a minute, seconds beyond.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + Age(-d)
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
