// Command precompile fills a compilation cache with guest modules, the way
// plugin.Engine compiles them with default options, so that a test binary
// built with -race (whose instrumented compiler is many times slower)
// finds them compiled:
//
//	precompile -cache DIR module.wasm...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/osohost/osohost/host/plugin"
)

func main() {
	cache := flag.String("cache", "", "compilation cache directory")
	flag.Parse()
	if *cache == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: precompile -cache DIR module.wasm...")
		os.Exit(2)
	}
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: *cache})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer eng.Close(ctx)
	var wg sync.WaitGroup
	errs := make([]error, flag.NArg())
	for i, path := range flag.Args() {
		wg.Go(func() {
			b, err := plugin.ReadModule(path)
			if err == nil {
				_, err = eng.Compile(ctx, b)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", flag.Arg(i), err)
			os.Exit(1)
		}
	}
}
