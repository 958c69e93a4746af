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
	"strings"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/api"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/logging"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/audit"
	"github.com/osohost/osohost/host/signing/soft"
	"github.com/osohost/osohost/host/state"
)

// cmdCall runs one export of a module, without a server. For status,
// to_oso and to_isv it prints what the HTTP API would answer; any other
// export is called as `extism call` does, with --input as its raw input,
// and its raw output is printed. Guest log lines go to stderr.
func cmdCall(ctx context.Context, args, _ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	input := fs.String("input", "", "the export's input: text as given, @FILE for a file's content, - for stdin (to_isv: a DocumentList)")
	timeout := fs.Duration("timeout", 60*time.Second, "deadline of the call")
	statePath := fs.String("state", "", "the plugin's state file, kept across calls (default: a temporary one, discarded)")
	keystore := fs.String("keystore", "", "software keystore the signing host calls use (default: a temporary one, discarded); needs --audit")
	auditFile := fs.String("audit", "", "audit log of the signatures made with --keystore")
	if err := fs.Parse(reorder(args, map[string]bool{"input": true, "timeout": true, "state": true, "keystore": true, "audit": true})); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: osohost call PLUGIN.wasm EXPORT [--input TEXT|@FILE|-] [--timeout D] [--state FILE] [--keystore DIR --audit FILE]")
		return 2
	}
	if (*keystore == "") != (*auditFile == "") {
		fmt.Fprintln(stderr, "osohost: --keystore and --audit go together: every signature made with a kept keystore is audited")
		return 2
	}
	path, export := fs.Arg(0), fs.Arg(1)
	component := export == abi.ExportStatus || export == abi.ExportToOSO || export == abi.ExportToISV
	raw, err := readInput(*input)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: --input: %v\n", err)
		return 1
	}
	in := raw
	if component {
		switch {
		case export != abi.ExportToISV:
			in = nil
		case *input == "":
			fmt.Fprintln(stderr, "osohost: to_isv needs --input with a DocumentList (TEXT, @FILE or -)")
			return 2
		default:
			if in, err = api.EncodeInput(raw, api.Limits(), nil); err != nil {
				fmt.Fprintf(stderr, "osohost: --input: %v\n", err)
				if _, serr := os.Stat(*input); serr == nil && !strings.HasPrefix(*input, "@") {
					fmt.Fprintf(stderr, "osohost: --input takes the data itself; to read the file, write --input @%s\n", *input)
				}
				return 1
			}
		}
	}
	wasm, err := plugin.ReadModule(path)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	log := logging.New(stderr, slog.LevelDebug, "osohost").With("logger", "osohost.plugin")
	tmp, err := os.MkdirTemp("", "osohost-call-")
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if *statePath == "" {
		*statePath = filepath.Join(tmp, state.FileName)
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
	signFns, closeSigning, err := callSigning(tmp, *keystore, *auditFile, log)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	defer closeSigning()
	fns := append(hostcall.State(log, hostcall.StateLimits{}), hostcall.Credentials(nil, log)...)
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{Logger: log, HostFunctions: append(fns, signFns...)})
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	defer eng.Close(context.WithoutCancel(ctx))
	compile := eng.Compile
	if !component {
		compile = eng.CompileAny // any Extism plugin, as `extism call` runs it
	}
	mod, err := compile(ctx, wasm)
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
	cctx := state.WithTxn(ctx, txn)
	if !component {
		res, err := pool.CallAny(cctx, export, in)
		if err == nil {
			err = txn.Commit(ctx)
		}
		if err == nil {
			stdout.Write(res.Data)
			if len(res.Data) > 0 && res.Data[len(res.Data)-1] != '\n' {
				fmt.Fprintln(stdout)
			}
			return 0
		}
		return callFailed(stderr, export, err)
	}
	res, err := pool.Call(cctx, export, in)
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
	return callFailed(stderr, export, err)
}

func callFailed(stderr io.Writer, export string, err error) int {
	var g *plugin.GuestError
	if errors.As(err, &g) {
		fmt.Fprintf(stderr, "osohost: %s: guest error %d: %s\n", export, g.Code, g.Message)
		return 1
	}
	if errors.Is(err, plugin.ErrUnknownExport) {
		fmt.Fprintf(stderr, "osohost: %s: the module has no such export (osohost inspect lists them)\n", export)
		return 1
	}
	fmt.Fprintf(stderr, "osohost: %s: %v\n", export, err)
	return 1
}

// maxCallInput bounds --input.
const maxCallInput = 64 << 20

// readInput returns the data --input names: the text itself, a file's
// content (@FILE) or stdin (-).
func readInput(v string) ([]byte, error) {
	var r io.Reader
	switch {
	case v == "-":
		r = os.Stdin
	case strings.HasPrefix(v, "@"):
		f, err := os.Open(v[1:])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	default:
		return []byte(v), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCallInput+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCallInput {
		return nil, fmt.Errorf("more than %d bytes", maxCallInput)
	}
	return b, nil
}

// callSigning returns the signing host functions of osohost call: the
// software backend over keystore, audited into auditFile, or over a
// temporary keystore and audit log in tmp (discarded) when keystore is "".
func callSigning(tmp, keystore, auditFile string, log *slog.Logger) ([]plugin.HostFunction, func(), error) {
	if keystore == "" {
		keystore, auditFile = filepath.Join(tmp, "keystore"), filepath.Join(tmp, "audit", audit.FileName)
	}
	s, err := soft.New(soft.Options{Dir: keystore, KEKFile: keystore + ".kek"})
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: %w", err)
	}
	alog, err := audit.Open(filepath.Dir(auditFile), audit.Options{FileName: filepath.Base(auditFile), Logger: log})
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	signer := signing.Audited(s, alog)
	return hostcall.Signing(signer, log, hostcall.Policy{}), func() {
		signer.Close()
		alog.Close()
	}, nil
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
