//go:build !unix

package main

import (
	"context"
	"net"
)

// listenPrivate listens on a Unix socket; its mode is set by the caller.
func listenPrivate(ctx context.Context, path string) (net.Listener, error) {
	return (&net.ListenConfig{}).Listen(ctx, "unix", path)
}
