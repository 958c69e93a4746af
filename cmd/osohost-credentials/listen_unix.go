//go:build unix

package main

import (
	"context"
	"net"
	"syscall"
)

// listenPrivate listens on a Unix socket whose file is created with mode
// 0600, with no window in which others may connect. The umask is
// process-wide: call it before serving starts.
func listenPrivate(ctx context.Context, path string) (net.Listener, error) {
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return (&net.ListenConfig{}).Listen(ctx, "unix", path)
}
