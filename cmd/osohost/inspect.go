package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
)

// cmdInspect describes a module without running it.
func cmdInspect(ctx context.Context, args, _ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: osohost inspect [--json] PLUGIN.wasm")
		return 2
	}
	wasm, err := plugin.ReadModule(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %v\n", err)
		return 1
	}
	info, err := plugin.Inspect(ctx, wasm)
	if err != nil {
		fmt.Fprintf(stderr, "osohost: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	problems := info.Problems()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			plugin.Info
			Problems []string `json:"problems"`
		}{info, problems})
	} else {
		fmt.Fprintf(stdout, "module:   %s\nsha256:   %s\nsize:     %d bytes\nabi:      %s\nreactor:  %v\n", fs.Arg(0), info.SHA256, info.Size, info.ABI, info.Reactor)
		fmt.Fprintln(stdout, "exports:")
		for _, e := range info.Exports {
			fmt.Fprintf(stdout, "  %-8s %s %s\n", e.Kind, e.Name, e.Sig)
		}
		fmt.Fprintln(stdout, "imports:")
		for _, i := range info.Imports {
			mark := ""
			if !i.Known {
				mark = "  (not provided)"
			}
			fmt.Fprintf(stdout, "  %s.%s %s%s\n", i.Module, i.Name, i.Sig, mark)
		}
		switch {
		case len(problems) > 0:
		case info.ABI == plugin.ABIExtism:
			fmt.Fprintln(stdout, "status:   ok: servable through the Extism compatibility path (docs/abi-extism.md)")
		default:
			fmt.Fprintf(stdout, "status:   ok: servable as native OSO ABI v%d\n", abi.Version)
		}
		if len(problems) > 0 {
			fmt.Fprintln(stdout, "problems:")
			for _, p := range problems {
				fmt.Fprintf(stdout, "  - %s\n", p)
			}
		}
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}
