package main

import (
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWalkthrough runs the whole 3 → 4 partition migration; it fails if any call fails.
func TestWalkthrough(t *testing.T) {
	c := config{loadBalancer: "rr", threads: 4, timeout: time.Second, maxRetry: 3, stage: 300 * time.Millisecond}
	if err := walk(c, io.Discard); err != nil {
		t.Fatalf("walkthrough: %v", err)
	}
}
