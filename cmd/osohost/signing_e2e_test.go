package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// TestE2E_Signer serves examples/signer on the software backend: every
// document comes back signed, the signatures verify with the stored public
// key, the audit log holds one chained record per signature, and no key
// material reaches the log.
func TestE2E_Signer(t *testing.T) {
	pk := pkitest.New(t)
	env := baseEnv(t, pk, "backend")
	var root string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "APP__ROOT="); ok {
			root = v
		}
	}
	srv := start(t, env, plugintest.Path(t, "signer"))
	base := "https://" + srv.addr + "/api/backend/v1alpha1"
	c := client(pk, &pk.Client)

	var docs []string
	for i := range 20 {
		docs = append(docs, fmt.Sprintf(`{"id":"doc-%d","content":"transaction %d"}`, i, i))
	}
	r := do(t, c, "POST", base+"/documents", `{"documents":[`+strings.Join(docs, ",")+`],"count":20}`, "X-Trace-ID", "sign-1")
	if r.status != 200 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var list struct {
		Documents []struct{ ID, Content, Metadata string }
		Count     int
	}
	if err := json.Unmarshal(r.body, &list); err != nil || list.Count != 20 {
		t.Fatalf("%s: %v", r.body, err)
	}
	for i, d := range list.Documents {
		var m struct {
			KeyID     string `json:"key_id"`
			Signature string `json:"signature"`
			Algorithm string `json:"algorithm"`
		}
		if err := json.Unmarshal([]byte(d.Metadata), &m); err != nil || m.Algorithm != "ED25519" {
			t.Fatalf("document %d metadata %q: %v", i, d.Metadata, err)
		}
		der, err := os.ReadFile(filepath.Join(root, "keystore", "ED25519", m.KeyID+".pub"))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := hex.DecodeString(m.Signature)
		if !ed25519.Verify(pub.(ed25519.PublicKey), []byte(d.Content), sig) {
			t.Fatalf("document %d: signature does not verify", i)
		}
	}
	code, out, errs := runCLI(t, nil, "audit", "verify", filepath.Join(root, "audit", "audit.log"))
	if code != 0 || !strings.Contains(out, "20 records, chain intact") {
		t.Fatalf("audit verify: %d %s %s", code, out, errs)
	}
	log, _ := os.ReadFile(filepath.Join(root, "audit", "audit.log"))
	if !strings.Contains(string(log), "sign-1") || !strings.Contains(string(log), "SHA256:") {
		t.Fatalf("audit records lack trace id or caller:\n%s", log)
	}
	if strings.Contains(srv.out.String(), "transaction 1") {
		t.Fatal("signed content reached the log")
	}
}
