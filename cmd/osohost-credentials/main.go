// Command osohost-credentials is the reference credentials driver of
// osohost: a separate process that holds the credentials plugins may ask
// for, and serves them to the host over gRPC on a Unix domain socket
// (service osohost.credentials.v1.Credentials, host/credentials/credpb).
//
// Usage:
//
//	osohost-credentials serve --socket PATH --from FILE [--log-level LEVEL]
//	osohost-credentials serve --socket PATH --dev
//
// FILE is a JSON or YAML file mapping names to credentials (format in
// docs/credentials.md); --dev serves the embedded development set instead,
// whose tokens are fake. The socket file is created with mode 0600 and
// removed on exit; a stale socket left by a killed driver is replaced, a
// live one is refused.
//
// Once it listens it prints one line on stdout, such as
//
//	{"event":"listening","socket":"/run/osohost/credentials.sock","credentials":3}
//
// SIGHUP re-reads FILE: on success it prints {"event":"reloaded",…} and
// serves the new set; on failure it prints {"event":"reload_failed"}, logs
// why and keeps serving the old set. SIGTERM or SIGINT stop it gracefully.
// Logs go to stderr as JSON and name credentials, never their tokens.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
