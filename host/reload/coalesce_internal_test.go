package reload

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osohost/osohost/host/plugin"
)

// TestRequest_Coalesce: requests made while a reload runs are served by
// one more reload after it; an explicit trigger wins over "file".
func TestRequest_Coalesce(t *testing.T) {
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	path := filepath.Join(t.TempDir(), "plugin.wasm")
	wasm, err := os.ReadFile("testdata/tiny.wasm")
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	var gated atomic.Bool
	var attempts atomic.Int64
	m, err := New(ctx, Options{
		Path:   path,
		Engine: eng,
		Read: func(string) ([]byte, error) {
			attempts.Add(1)
			return wasm, nil
		},
		Check: func(ctx context.Context, p *plugin.Pool) error {
			if gated.Load() {
				entered <- struct{}{}
				<-gate
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	gated.Store(true)

	first := m.request(TriggerSignal)
	select {
	case <-entered: // the first reload runs, held in its check
	case <-time.After(time.Minute):
		t.Fatal("reload did not start")
	}
	second := m.request(TriggerFile)
	for _, trigger := range []string{TriggerFile, TriggerAdmin, TriggerFile, TriggerSignal} {
		if r := m.request(trigger); r != second {
			t.Fatalf("request %q while a reload runs did not join the pending one", trigger)
		}
	}
	if second == first {
		t.Fatal("a request while a reload runs joined the running one")
	}
	if second.trigger != TriggerAdmin {
		t.Fatalf("pending trigger %q, want admin (an explicit trigger wins over file)", second.trigger)
	}
	gated.Store(false)
	close(gate)
	for _, r := range []*run{first, second} {
		select {
		case <-r.done:
			if r.err != nil {
				t.Fatal(r.err)
			}
		case <-time.After(time.Minute):
			t.Fatal("reload did not end")
		}
	}
	if n := attempts.Load(); n != 3 { // New, first, second
		t.Fatalf("%d loads, want 3", n)
	}
	if g := m.Current().Generation; g != 3 {
		t.Fatalf("generation %d, want 3", g)
	}
}
