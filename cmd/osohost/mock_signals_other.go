//go:build !unix

package main

import (
	"errors"

	"github.com/osohost/osohost/host/mock"
)

// phaseSignals fails: SIGUSR1 and SIGUSR2 exist on Unix systems only.
func phaseSignals() (<-chan mock.Phase, func(), error) {
	return nil, nil, errors.New("--serve needs SIGUSR1 and SIGUSR2, which this system does not have: run the phases with --phase")
}
