// Command render renders one component of the deployment contracts
// (contracts/frontend, contracts/backend or contracts/grep11) into its
// workload section and encrypts it where the platform's tool is installed.
// The create-*.sh scripts run it; see contracts/README.md.
//
// Usage:
//
//	render -name backend -dir contracts/backend [-var-file FILE] [-out DIR] [-contract-cli CMD]
//
// Exit status: 0 encrypted, 1 an error (nothing written), 2 bad usage,
// 3 rendered but not encrypted (the tool is missing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/osohost/osohost/contracts/internal/render"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "component: frontend, backend or grep11")
	dir := fs.String("dir", "", "component directory (default contracts/<name>)")
	varFile := fs.String("var-file", "", "tfvars file (default <dir>/terraform.tfvars)")
	out := fs.String("out", "", "output directory (default <dir>/../output/<name>)")
	cli := fs.String("contract-cli", "contract-cli", "the platform's contract encryption tool")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: render -name frontend|backend|grep11 [-dir DIR] [-var-file FILE] [-out DIR]")
		return 2
	}
	if *dir == "" {
		*dir = filepath.Join("contracts", *name)
	}
	if *out == "" {
		*out = filepath.Join(*dir, "..", "output", *name)
	}
	res, err := render.Build(render.Options{Dir: *dir, Name: *name, VarFile: *varFile, Env: env})
	if err != nil {
		fmt.Fprintf(stderr, "render %s: %v\nnothing was written\n", *name, err)
		return 1
	}
	written, err := render.Write(ctx, res, *out, *cli)
	for _, f := range written {
		fmt.Fprintf(stdout, "wrote %s\n", f)
	}
	if errors.Is(err, render.ErrNotEncrypted) {
		fmt.Fprintf(stderr, "render %s: %v\n", *name, err)
		return 3
	}
	if err != nil {
		fmt.Fprintf(stderr, "render %s: %v\n", *name, err)
		return 1
	}
	if res.Debug() {
		fmt.Fprintf(stderr, "render %s: DEBUG=true: the plaintext workload and pod spec are kept in %s; delete them once checked\n", *name, *out)
	}
	return 0
}
