//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/osohost/osohost/host/mock"
)

// phaseSignals turns SIGUSR1 into phase 1 and SIGUSR2 into phase 2, as the
// framework's mock does. stop releases the signals.
func phaseSignals() (<-chan mock.Phase, func(), error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	out := make(chan mock.Phase)
	done := make(chan struct{})
	go func() {
		for {
			var s os.Signal
			select {
			case <-done:
				return
			case s = <-sigs:
			}
			p := mock.ToBackend
			if s == syscall.SIGUSR2 {
				p = mock.ToFrontend
			}
			select {
			case <-done:
				return
			case out <- p:
			}
		}
	}()
	return out, func() { signal.Stop(sigs); close(done) }, nil
}
