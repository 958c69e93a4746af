package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// runCLI runs the command in-process, as main does.
func runCLI(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, env, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI_Usage(t *testing.T) {
	if code, out, _ := runCLI(t, nil, "help"); code != 0 || !strings.Contains(out, "inspect PLUGIN.wasm") {
		t.Fatalf("help: %d %s", code, out)
	}
	if code, _, errs := runCLI(t, nil, "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %s", code, errs)
	}
	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "osohost ") {
		t.Fatalf("version: %d %s", code, out)
	}
}

func TestCLI_CertsAndFingerprint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	code, out, errs := runCLI(t, nil, "certs", "dev", "--out", dir)
	if code != 0 || !strings.Contains(out, "wrote development PKI") {
		t.Fatalf("certs dev: %d %s %s", code, out, errs)
	}
	// A second run reuses the files.
	if code, out, _ := runCLI(t, nil, "certs", "dev", "--out", dir); code != 0 || !strings.Contains(out, "reused") {
		t.Fatalf("second certs dev: %d %s", code, out)
	}
	dev, err := pki.LoadDev(dir)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, nil, "fingerprint", filepath.Join(dir, pki.DevClientCertFile))
	if code != 0 || strings.TrimSpace(out) != pki.FormatFingerprint(dev.ClientFingerprint) {
		t.Fatalf("fingerprint: %d %q %s", code, out, errs)
	}
	// What ssh-keygen prints for the same key, when it is installed.
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		b, err := exec.Command("ssh-keygen", "-lf", filepath.Join(dir, pki.DevClientKeyFile)).Output()
		if err != nil {
			t.Fatalf("ssh-keygen: %v", err)
		}
		if f := strings.Fields(string(b)); len(f) < 2 || f[1] != strings.TrimSpace(out) {
			t.Fatalf("ssh-keygen says %q, osohost says %q", b, out)
		}
	}
	if code, _, errs := runCLI(t, nil, "fingerprint", filepath.Join(dir, "missing.crt")); code != 1 || !strings.Contains(errs, "missing.crt") {
		t.Fatalf("missing file: %d %s", code, errs)
	}
}

func TestCLI_Inspect(t *testing.T) {
	code, out, errs := runCLI(t, nil, "inspect", plugintest.Path(t, "queue"))
	if code != 0 || !strings.Contains(out, "abi:      oso-v1") || !strings.Contains(out, "ok: servable") || !strings.Contains(out, "oso.output") {
		t.Fatalf("inspect queue: %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, nil, "inspect", "../../host/plugin/testdata/badsig.wasm")
	if code != 1 || !strings.Contains(out, `missing export "status"`) {
		t.Fatalf("inspect badsig: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, nil, "inspect", "--json", "../../host/plugin/testdata/empty.wasm")
	if code != 1 || !strings.Contains(out, `"problems"`) {
		t.Fatalf("inspect --json: %d\n%s", code, out)
	}
}

// TestCLI_CallExtism calls exports of an Extism-ABI module, component
// ones and others, as `extism call` would.
func TestCLI_CallExtism(t *testing.T) {
	wasm := filepath.Join("..", "..", "host", "plugin", "testdata", "extism.wasm")
	code, out, errs := runCLI(t, nil, "call", wasm, "status")
	if code != 0 || strings.TrimSpace(out) != `{"status_code":200,"status":"OK","errors":[],"abi":"extism"}` {
		t.Fatalf("status: %d %s %s", code, out, errs)
	}
	// to_isv gets the validated DocumentList as JSON; this module echoes it.
	code, out, errs = runCLI(t, nil, "call", wasm, "to_isv", "--input", `{"count":1,"documents":[{"id":"a","content":"b"}]}`)
	if code != 0 || strings.TrimSpace(out) != `{"documents":[{"id":"a","content":"b","metadata":""}],"count":1}` {
		t.Fatalf("to_isv: %d %s %s", code, out, errs)
	}
	// Any other export gets --input as it is, and its output is printed raw.
	code, out, errs = runCLI(t, nil, "call", wasm, "sign", "--input", `{"key_id":"none","data":"AA=="}`)
	if code != 0 || !strings.Contains(out, `"name":"not_found"`) {
		t.Fatalf("sign through the host: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, nil, "call", wasm, "fail"); code != 1 || !strings.Contains(errs, "guest error 503: backend busy, retry later") {
		t.Fatalf("fail: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "call", wasm, "trap"); code != 1 || !strings.Contains(errs, "trapped") {
		t.Fatalf("trap: %d %s", code, errs)
	}
	// Any Extism plugin, even one that is no OSO component, runs as
	// `extism call` runs it: here count_vowels of Extism's Rust PDK.
	vowels := filepath.Join("..", "..", "bench", "testdata", "extism", "count_vowels.wasm")
	code, out, errs = runCLI(t, nil, "call", vowels, "count_vowels", "--input", "Hello World")
	if code != 0 || strings.TrimSpace(out) != `{"count":3,"total":3,"vowels":"aeiouAEIOU"}` {
		t.Fatalf("count_vowels: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, nil, "call", vowels, "status"); code != 1 || !strings.Contains(errs, `missing export "status"`) {
		t.Fatalf("status of a module that is no component: %d %s", code, errs)
	}
	code, out, errs = runCLI(t, nil, "inspect", wasm)
	if code != 0 || !strings.Contains(out, "abi:      extism") || !strings.Contains(out, "servable through the Extism compatibility path") {
		t.Fatalf("inspect: %d %s %s", code, out, errs)
	}
}

func TestCLI_Call(t *testing.T) {
	wasm := plugintest.Path(t, "queue")
	code, out, errs := runCLI(t, nil, "call", wasm, "status")
	if code != 0 || !strings.Contains(out, `"status_code":200`) {
		t.Fatalf("call status: %d %s %s", code, out, errs)
	}
	in := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(in, []byte(`{"documents":[{"id":"a","content":"x","metadata":{"k":1}}],"count":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, nil, "call", wasm, "to_isv", "--input", "@"+in)
	if code != 0 || !strings.Contains(out, `"accepted":1`) {
		t.Fatalf("call to_isv: %d %s %s", code, out, errs)
	}
	code, out, errs = runCLI(t, nil, "call", wasm, "to_isv", "--input", `{"documents":[],"count":0}`)
	if code != 0 || !strings.Contains(out, `"accepted":0`) {
		t.Fatalf("call to_isv with literal input: %d %s %s", code, out, errs)
	}
	// A file name without @ is data, and not a DocumentList: the error
	// says how to read the file.
	if code, _, errs := runCLI(t, nil, "call", wasm, "to_isv", "--input", in); code != 1 || !strings.Contains(errs, "--input @"+in) {
		t.Fatalf("file name as input: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "call", wasm, "no_such_export"); code != 1 || !strings.Contains(errs, "no such export") {
		t.Fatalf("unknown export: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "call", wasm, "status", "--keystore", t.TempDir()); code != 2 || !strings.Contains(errs, "--audit") {
		t.Fatalf("keystore without audit: %d %s", code, errs)
	}
	// Each call is a fresh instance: the queue starts empty.
	code, out, _ = runCLI(t, nil, "call", wasm, "to_oso")
	if code != 0 || strings.TrimSpace(out) != `{"documents":[],"count":0}` {
		t.Fatalf("call to_oso: %d %s", code, out)
	}
	if code, _, errs := runCLI(t, nil, "call", wasm, "to_isv"); code != 2 || !strings.Contains(errs, "--input") {
		t.Fatalf("to_isv without input: %d %s", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"documents":[{"id":1}],"count":1}`), 0o600)
	if code, _, errs := runCLI(t, nil, "call", wasm, "to_isv", "--input", "@"+bad); code != 1 || !strings.Contains(errs, "documents[0].id") {
		t.Fatalf("invalid input: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "call", plugintest.Path(t, "testguest"), "to_isv", "--input", "@"+writeDoc(t, "trap")); code != 1 || !strings.Contains(errs, "trapped") {
		t.Fatalf("trap: %d %s", code, errs)
	}
}

func writeDoc(t *testing.T, id string) string {
	p := filepath.Join(t.TempDir(), id+".json")
	if err := os.WriteFile(p, []byte(`{"documents":[{"id":"`+id+`","content":"x"}],"count":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLI_Config prints the effective configuration and checks that no
// secret is shown.
func TestCLI_Config(t *testing.T) {
	pk := pkitest.New(t)
	env := baseEnv(t, pk, "backend")
	code, out, errs := runCLI(t, env, "config", "--listen", "127.0.0.1:9999", "plugin.wasm")
	if code != 0 {
		t.Fatalf("config: %d %s", code, errs)
	}
	for _, want := range []string{"backend", "127.0.0.1:9999", "plugin.wasm", pki.FormatFingerprint(pk.Client.Fingerprint)} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	keyBody := strings.Split(strings.TrimSpace(pk.Server.KeyPEM), "\n")[1]
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, keyBody) {
		t.Fatalf("config output shows the key:\n%s", out)
	}
}

// TestCLI_Keys manages keys of the software backend under APP__ROOT; the
// public key printed is the one the keystore holds.
func TestCLI_Keys(t *testing.T) {
	env := []string{"APP__ROOT=" + t.TempDir()}
	code, out, errs := runCLI(t, env, "keys", "generate", "--type", "ED25519")
	if code != 0 || !strings.Contains(out, "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("generate: %d %s %s", code, out, errs)
	}
	id := strings.SplitN(out, "\n", 2)[0]
	code, list, _ := runCLI(t, env, "keys", "list")
	if code != 0 || strings.TrimSpace(list) != id {
		t.Fatalf("list: %d %q, want %q", code, list, id)
	}
	code, pub, _ := runCLI(t, env, "keys", "pubkey", id)
	if code != 0 || !strings.Contains(out, pub) {
		t.Fatalf("pubkey: %d %q", code, pub)
	}
	if code, _, errs := runCLI(t, env, "keys", "pubkey", "../../etc/passwd"); code != 1 || strings.Contains(errs, "passwd") && !strings.Contains(errs, "unknown") {
		t.Fatalf("bad id: %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, env, "keys", "list", "--type", "RSA"); code != 2 {
		t.Fatalf("bad type: %d", code)
	}
}
