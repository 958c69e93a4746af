package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/signing/audit"
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

// TestE2E_CrashAudit posts documents to the signer example from several
// clients, kills the host with SIGKILL in the middle of the load, and
// restarts it on the same state and audit log: the log verifies, every
// signature acknowledged with 200 has its record, and so does every
// signed document the state kept (acknowledged or not), and every
// acknowledged document is collected from the state.
func TestE2E_CrashAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills osohost")
	}
	pk := pkitest.New(t)
	env := baseEnv(t, pk, "backend") // one APP__ROOT for both runs
	var root string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "APP__ROOT="); ok {
			root = v
		}
	}
	wasm := plugintest.Path(t, "signer")
	srv := start(t, env, wasm)
	c := client(pk, &pk.Client)
	base := "https://" + srv.addr + "/api/backend/v1alpha1/documents"

	const killAfter, perRequest = 120, 3
	var (
		mu    sync.Mutex
		acked = map[string]string{} // document id → content
		next  atomic.Int64
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				r := next.Add(1)
				var docs []string
				batch := map[string]string{}
				for i := range perRequest {
					id := fmt.Sprintf("doc-%06d-%d", r, i)
					batch[id] = "payload of " + id
					docs = append(docs, fmt.Sprintf(`{"id":%q,"content":%q,"metadata":""}`, id, batch[id]))
				}
				body := fmt.Sprintf(`{"count":%d,"documents":[%s]}`, perRequest, strings.Join(docs, ","))
				resp, err := c.Post(base, "application/json", strings.NewReader(body))
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					for id, content := range batch {
						acked[id] = content
					}
					mu.Unlock()
					if n.Add(1) == killAfter {
						srv.cmd.Process.Kill()
					}
				}
			}
		})
	}
	wg.Wait()
	<-srv.done
	t.Logf("%d requests acknowledged before SIGKILL, %d sent", n.Load(), next.Load())

	srv2 := start(t, env, wasm)
	// The restarted host repaired the log's tail; read what it holds.
	path := filepath.Join(root, "audit", audit.FileName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if nrec, err := audit.Verify(bytes.NewReader(raw)); err != nil {
		t.Fatalf("audit log after SIGKILL: %v (%d records verified)", err, nrec)
	}
	recorded := map[string]int{} // data_sha256 → records
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			DataSHA256 string `json:"data_sha256"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		recorded[rec.DataSHA256]++
	}
	hasRecord := func(content string) bool {
		sum := sha256.Sum256([]byte(content))
		return recorded[hex.EncodeToString(sum[:])] > 0
	}
	for id, content := range acked {
		if !hasRecord(content) {
			t.Errorf("document %s was signed and acknowledged with 200, but its signature has no audit record", id)
		}
	}

	base2 := "https://" + srv2.addr + "/api/backend/v1alpha1/documents"
	seen := map[string]int{}
	for {
		r := do(t, c, "GET", base2, "")
		if r.status != 200 {
			t.Fatalf("GET documents after restart: %d %s", r.status, r.body)
		}
		var list struct {
			Documents []struct{ ID, Content string } `json:"documents"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Documents) == 0 {
			break
		}
		for _, d := range list.Documents {
			seen[d.ID]++
			if !hasRecord(d.Content) {
				t.Errorf("document %s is signed in the state, but its signature has no audit record", d.ID)
			}
		}
	}
	for id := range acked {
		if seen[id] == 0 {
			t.Errorf("document %s was acknowledged with 200 but is lost", id)
		}
	}
	t.Logf("%d audit records, %d signed documents acknowledged, %d recovered from the state", len(recorded), len(acked), len(seen))
}
