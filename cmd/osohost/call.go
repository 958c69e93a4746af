package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/api"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/logging"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/state"
)

// cmdCall runs one export of a module, without a server, and prints what
// the HTTP API would answer. Guest log lines go to stderr.
func cmdCall(ctx context.Context, args, _ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "file holding the DocumentList JSON for to_isv (\"-\" reads stdin)")
	timeout := fs.Duration("timeout", 60*time.Second, "deadline of the call")
	statePath := fs.String("state", "", "the plugin's state file, kept across calls (default: a temporary one, discarded)")
	if err := fs.Parse(reorder(args, map[string]bool{"input": true, "timeout": true, "state": true})); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: osohost call PLUGIN.wasm status|to_oso|to_isv [--input FILE] [--timeout D]")
		return 2
	}
	path, export := fs.Arg(0), fs.Arg(1)
	if export != abi.ExportStatus && export != abi.ExportToOSO && export != abi.ExportToISV {
		fmt.Fprintf(stderr, "osohost: unknown export %q (status, to_oso or to_isv)\n", export)
		return 2
	}
	var in []byte
	if export == abi.ExportToISV {
		if *input == "" {
			fmt.Fprintln(stderr, "osohost: to_isv needs --input FILE with a DocumentList")
			return 2
		}
		var body []byte
		var err error
		if *input == "-" {
			body, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
		} else {
			body, err = os.ReadFile(*input)
		}
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			return 1
		}
		if in, err = api.EncodeInput(body, api.Limits(), nil); err != nil {
			fmt.Fprintf(stderr, "osohost: %s: %v\n", *input, err)
			return 1
		}
	}
	wasm, err := plugin.ReadModule(path)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	log := logging.New(stderr, slog.LevelDebug, "osohost").With("logger", "osohost.plugin")
	if *statePath == "" {
		dir, err := os.MkdirTemp("", "osohost-call-")
		if err != nil {
			fmt.Fprintf(stderr, "osohost: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		*statePath = filepath.Join(dir, state.FileName)
	}
	st, err := state.Open(*statePath, state.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	defer st.Close()
	ns, err := st.Namespace(ctx, "osohost", state.Limits{})
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{Logger: log, HostFunctions: append(
		hostcall.State(log, hostcall.StateLimits{}), hostcall.Credentials(nil, log)...)})
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	defer eng.Close(context.WithoutCancel(ctx))
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %s: %v\n", path, err)
		return 1
	}
	pool, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: *timeout})
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %s: %v\n", path, err)
		return 1
	}
	defer pool.Close(context.WithoutCancel(ctx))
	txn := ns.Begin()
	defer txn.Rollback()
	res, err := pool.Call(state.WithTxn(ctx, txn), export, in)
	if err == nil {
		var code int
		var body []byte
		code, body, err = api.EncodeOutput(export, res, api.Limits())
		if err == nil {
			err = txn.Commit(ctx)
		}
		if err == nil {
			fmt.Fprintf(stdout, "%s\n", body)
			if code >= 400 {
				fmt.Fprintf(stderr, "osohost: status %d\n", code)
				return 1
			}
			return 0
		}
	}
	var g *plugin.GuestError
	if errors.As(err, &g) {
		fmt.Fprintf(stderr, "osohost: %s: guest error %d: %s\n", export, g.Code, g.Message)
		return 1
	}
	fmt.Fprintf(stderr, "osohost: %s: %v\n", export, err)
	return 1
}

// reorder moves flags after positional arguments to the front, so that
// "call x.wasm to_isv --input f" parses like "call --input f x.wasm to_isv".
// withValue lists the flags that take a separate value.
func reorder(args []string, withValue map[string]bool) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := a[1:]
			if len(name) > 0 && name[0] == '-' {
				name = name[1:]
			}
			if withValue[name] && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}
