package human

import (
	"testing"
	"time"
)

func TestAge(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{1234567 * time.Nanosecond, "1ms"},
		{999 * time.Millisecond, "999ms"},
		{1260 * time.Millisecond, "1.3s"},
		{59940 * time.Millisecond, "59.9s"},
		{61500 * time.Millisecond, "1m2s"},
		{-1260 * time.Millisecond, "-1.3s"},
	} {
		if got := Age(tt.d); got != tt.want {
			t.Errorf("Age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
