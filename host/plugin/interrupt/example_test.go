package interrupt_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/host/plugin/interrupt"
)

// A host stops a guest that never returns. The runtime is built without
// WithCloseOnContextDone: the instrumented module checks its flag itself,
// and a timer standing for the call deadline sets it. The timer's callback
// and the code that disarms the timer after the call share a mutex, so that
// Set never runs concurrently with another access to the flag.
func Example() {
	ctx := context.Background()
	wasm, err := os.ReadFile("testdata/endless.wasm") // (func (export "run") (loop br 0))
	if err != nil {
		log.Fatal(err)
	}
	if wasm, err = interrupt.Instrument(wasm); err != nil {
		log.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		log.Fatal(err)
	}
	flag := mod.ExportedGlobal(interrupt.GlobalExport).(api.MutableGlobal)

	var mu sync.Mutex
	deadline := time.AfterFunc(50*time.Millisecond, func() {
		mu.Lock()
		defer mu.Unlock()
		flag.Set(1)
	})
	_, err = mod.ExportedFunction("run").Call(ctx)
	mu.Lock()
	expired := !deadline.Stop()
	mu.Unlock()

	fmt.Println("deadline expired:", expired)
	fmt.Println(strings.SplitN(err.Error(), "\n", 2)[0])
	// Output:
	// deadline expired: true
	// wasm error: unreachable
}
