package main

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs the whole demo: every step checks what it shows and fails the run otherwise.
func TestDemo(t *testing.T) {
	if err := run(300*time.Millisecond, "", 0); err != nil {
		t.Fatalf("run() = %v", err)
	}
}

// TestDemoWithConsole runs it with the console up, held a moment under the light load.
func TestDemoWithConsole(t *testing.T) {
	if err := run(100*time.Millisecond, "127.0.0.1:0", 200*time.Millisecond); err != nil {
		t.Fatalf("run(-console) = %v", err)
	}
	if err := run(100*time.Millisecond, "no-port", 0); err == nil {
		t.Fatal("run(-console no-port) = nil, want an error")
	}
}
