package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/internal/testbin"
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

// TestE2E_SignerGREP11 runs the same plugin against the grep11 backend: a
// development GREP11 server as a separate process, reached over mTLS with
// the framework's addon variables.
func TestE2E_SignerGREP11(t *testing.T) {
	pk := pkitest.New(t)
	dir := t.TempDir()
	dev := testbin.MustBuild(t, "cmd/grep11dev")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hsm := exec.Command(dev, "--ca", write("ca.pem", pk.CAPEM), "--cert", write("srv.pem", pk.Server.CertPEM), "--key", write("srv.key", pk.Server.KeyPEM))
	out, err := hsm.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	hsm.Stderr = os.Stderr
	if err := hsm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hsm.Process.Kill(); hsm.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("grep11dev ready line: %v", err)
	}
	var ready struct{ Addr string }
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Addr == "" {
		t.Fatalf("ready line %q: %v", line, err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	keystore := filepath.Join(dir, "keystore")
	env := append(baseEnv(t, pk, "backend"),
		"PLUGIN__ADDONS__0__TYPE=oso.framework.plugin.addons.signing_server",
		"PLUGIN__ADDONS__0__GREP11_ENDPOINT=localhost:"+ready.Addr[strings.LastIndexByte(ready.Addr, ':')+1:],
		"PLUGIN__ADDONS__0__CA_CERT="+b64(pk.CAPEM),
		"PLUGIN__ADDONS__0__CLIENT_CERT="+b64(pk.Client.CertPEM),
		"PLUGIN__ADDONS__0__CLIENT_KEY="+b64(pk.Client.KeyPEM),
		"PLUGIN__ADDONS__0__KEYSTORE_PATH="+keystore,
	)
	srv := start(t, env, plugintest.Path(t, "signer"))
	base := "https://" + srv.addr + "/api/backend/v1alpha1"
	c := client(pk, &pk.Client)
	if r := do(t, c, "GET", base+"/status", ""); r.status != 200 {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	r := do(t, c, "POST", base+"/documents", `{"documents":[{"id":"a","content":"pay 1"},{"id":"b","content":"pay 2"}],"count":2}`)
	if r.status != 200 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	var list struct {
		Documents []struct{ ID, Content, Metadata string }
	}
	json.Unmarshal(r.body, &list)
	if len(list.Documents) != 2 {
		t.Fatalf("%s", r.body)
	}
	for _, d := range list.Documents {
		var m struct {
			KeyID     string `json:"key_id"`
			Signature string `json:"signature"`
		}
		if err := json.Unmarshal([]byte(d.Metadata), &m); err != nil {
			t.Fatalf("metadata %q: %v", d.Metadata, err)
		}
		der, err := os.ReadFile(filepath.Join(keystore, "ED25519", m.KeyID+".pub"))
		if err != nil {
			t.Fatalf("%s: %v", d.Metadata, err)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := hex.DecodeString(m.Signature)
		if !ed25519.Verify(pub.(ed25519.PublicKey), []byte(d.Content), sig) {
			t.Fatalf("%s: signature does not verify", d.ID)
		}
	}
	// The HSM goes away: /status reports it, signing answers 503, the host
	// keeps running.
	hsm.Process.Kill()
	hsm.Wait()
	if r := do(t, c, "GET", base+"/status", ""); r.status != 500 || !strings.Contains(string(r.body), `"code":"signing"`) {
		t.Fatalf("status without HSM: %d %s", r.status, r.body)
	}
	if r := do(t, c, "POST", base+"/documents", `{"documents":[{"id":"c","content":"x"}],"count":1}`); r.status < 500 {
		t.Fatalf("signing without HSM: %d %s", r.status, r.body)
	}
}
