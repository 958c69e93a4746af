// Command osohost serves OSO plugins compiled to WebAssembly behind its own
// mTLS listener. Run "osohost help" for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: it parses its own flags and returns an exit code.
type command struct {
	name, usage, summary string
	run                  func(ctx context.Context, args, env []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run [flags] [PLUGIN.wasm]", "serve a plugin behind the mTLS listener", cmdRun},
		{"config", "config [flags] [PLUGIN.wasm]", "print the effective configuration, secrets redacted", cmdConfig},
		{"certs", "certs dev --out DIR", "generate a development PKI (CA, server and client certificates)", cmdCerts},
		{"fingerprint", "fingerprint CERT.pem...", "print the SHA256 fingerprint an allowlist holds for a certificate", cmdFingerprint},
		{"inspect", "inspect PLUGIN.wasm", "show a module's ABI, exports, imports and what is missing", cmdInspect},
		{"call", "call PLUGIN.wasm EXPORT [--input TEXT|@FILE|-]", "run one export without a server (any export, like extism call)", cmdCall},
		{"keys", "keys generate|list [--type T] | pubkey ID", "manage keys of the configured signing backend", cmdKeys},
		{"plugin", "plugin keygen|sign|verify|hash", "sign plugin modules and check them against the integrity policy", cmdPlugin},
		{"route", "route sign|verify [flags]", "mint or check a signed route token (OSEP-0011 short or strong)", cmdRoute},
		{"mock", "mock [--phase 1|2|both] [--serve] [--http3]", "play the OSO: move documents between a frontend and a backend", cmdMock},
		{"audit", "audit verify FILE", "check the hash chain of a signature audit log", cmdAudit},
		{"version", "version", "print the version", cmdVersion},
	}
}

// run dispatches to a subcommand; it is main without the process.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], env, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "osohost: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: osohost COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-52s %s\n", c.usage, c.summary)
	}
}

func cmdVersion(_ context.Context, _, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "osohost", version)
	return 0
}
