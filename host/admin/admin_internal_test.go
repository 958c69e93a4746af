package admin

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	t.Parallel()
	var th throttle
	now := time.Unix(1_000_000, 0)
	for i := range throttleBurst {
		if _, ok := th.allow(now); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
		th.fail(now)
	}
	wait, ok := th.allow(now)
	if ok || wait != throttleEvery {
		t.Fatalf("after %d failures: allow = (%v, %v), want (%v, false)", throttleBurst, wait, ok, throttleEvery)
	}
	now = now.Add(throttleEvery - time.Nanosecond)
	if _, ok := th.allow(now); ok {
		t.Fatal("allowed before one interval passed")
	}
	now = now.Add(time.Nanosecond)
	if _, ok := th.allow(now); !ok {
		t.Fatal("refused after one interval")
	}
	th.fail(now)
	if _, ok := th.allow(now); ok {
		t.Fatal("allowed again right after the refilled attempt failed")
	}
	now = now.Add(throttleBurst * throttleEvery)
	for i := range throttleBurst {
		if _, ok := th.allow(now); !ok {
			t.Fatalf("after a full refill, attempt %d refused", i+1)
		}
		th.fail(now)
	}
	if _, ok := th.allow(now); ok {
		t.Fatal("the bucket holds more than the burst")
	}
}

// TestServer_checkReady_Join checks that a probe arriving while a check
// runs waits for that check instead of starting another, and that it stops
// waiting when its own context ends.
func TestServer_checkReady_Join(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	entered := make(chan struct{})
	release := make(chan struct{})
	notReady := errors.New("plugin not loaded")
	s := &Server{opts: Options{ReadyTimeout: time.Minute, Ready: func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return notReady
	}}}

	leader := make(chan error, 1)
	go func() { leader <- s.checkReady(t.Context()) }()
	<-entered

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.checkReady(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("joined probe with a canceled context: %v, want context.Canceled", err)
	}
	follower := make(chan error, 1)
	go func() { follower <- s.checkReady(t.Context()) }()

	close(release)
	if err := <-leader; !errors.Is(err, notReady) {
		t.Errorf("leader: %v, want %v", err, notReady)
	}
	if err := <-follower; !errors.Is(err, notReady) {
		t.Errorf("follower: %v, want %v", err, notReady)
	}
	// The canceled probe joined: it did not call Ready. The follower may
	// have joined or, if it ran after the leader finished, led a new call.
	if n := calls.Load(); n < 1 || n > 2 {
		t.Errorf("Ready called %d times, want 1 or 2", n)
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.ready != nil {
		t.Error("a finished check is still recorded as in flight")
	}
}
