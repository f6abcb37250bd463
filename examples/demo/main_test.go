package main

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs the whole demo: every step checks what it shows and fails the run otherwise.
func TestDemo(t *testing.T) {
	if err := run(300 * time.Millisecond); err != nil {
		t.Fatalf("run() = %v", err)
	}
}
