package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// TestE2E_CrashDurability posts documents to the queue example from
// several clients, kills the host with SIGKILL in the middle of the load,
// restarts it on the same state, and drains the queue: every document
// acknowledged with 200 is there exactly once.
func TestE2E_CrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills osohost")
	}
	pk := pkitest.New(t)
	env := baseEnv(t, pk, "frontend") // one APP__ROOT for both runs
	wasm := plugintest.Path(t, "queue")
	srv := start(t, env, wasm)
	c := client(pk, &pk.Client)
	base := "https://" + srv.addr + "/api/frontend/v1alpha1/documents"

	const killAfter = 120
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		next  atomic.Int64
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := fmt.Sprintf("doc-%06d", next.Add(1))
				body := fmt.Sprintf(`{"count":1,"documents":[{"id":%q,"content":"payload of %s","metadata":""}]}`, id, id)
				resp, err := c.Post(base, "application/json", strings.NewReader(body))
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
					if n.Add(1) == killAfter {
						srv.cmd.Process.Kill()
					}
				}
			}
		}()
	}
	wg.Wait()
	<-srv.done
	t.Logf("%d documents acknowledged before SIGKILL, %d sent", len(acked), next.Load())

	srv2 := start(t, env, wasm)
	base2 := "https://" + srv2.addr + "/api/frontend/v1alpha1/documents"
	seen := map[string]int{}
	for {
		r := do(t, c, "GET", base2, "")
		if r.status != 200 {
			t.Fatalf("GET documents after restart: %d %s", r.status, r.body)
		}
		var list struct {
			Documents []struct{ ID string } `json:"documents"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Documents) == 0 {
			break
		}
		for _, d := range list.Documents {
			seen[d.ID]++
		}
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("document %s handed over %d times", id, k)
		}
	}
	for id := range acked {
		if seen[id] == 0 {
			t.Errorf("document %s was acknowledged with 200 but is lost", id)
		}
	}
	t.Logf("%d documents recovered (%d acknowledged, %d more that were written but not acknowledged)", len(seen), len(acked), len(seen)-len(acked))
}
