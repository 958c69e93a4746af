package config

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
)

// sshString is an SSH wire "string": a big-endian uint32 length and the
// bytes (RFC 4251 §5).
func sshString(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// expectedFingerprint returns what `ssh-keygen -lf` prints for key. With
// ssh-keygen installed it runs it on the PEM private key (RSA, ECDSA) or on
// an authorized_keys line built by hand (Ed25519, whose PKCS#8 form
// ssh-keygen cannot read). Without it, Ed25519 fingerprints are computed
// by hand from the wire encoding (string "ssh-ed25519", string key), which
// is checked against ssh-keygen when it is there; other key types skip the
// test.
func expectedFingerprint(t *testing.T, key crypto.Signer) string {
	t.Helper()
	keygen, err := exec.LookPath("ssh-keygen")
	var file []byte
	byHand := ""
	switch k := key.(type) {
	case ed25519.PrivateKey:
		blob := append(sshString([]byte("ssh-ed25519")), sshString(k.Public().(ed25519.PublicKey))...)
		sum := sha256.Sum256(blob)
		byHand = "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
		if err != nil {
			return byHand
		}
		file = []byte("ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " test\n")
	case *rsa.PrivateKey:
		file = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	case *ecdsa.PrivateKey:
		der, mErr := x509.MarshalECPrivateKey(k)
		if mErr != nil {
			t.Fatal(mErr)
		}
		file = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	default:
		t.Fatalf("unexpected key type %T", key)
	}
	if err != nil {
		t.Skipf("ssh-keygen not found: cannot compute the expected fingerprint of a %T", key)
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), keygen, "-lf", path).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -lf: %v", err)
	}
	fields := strings.Fields(string(out)) // "256 SHA256:… comment (ED25519)"
	if len(fields) < 2 || !strings.HasPrefix(fields[1], "SHA256:") {
		t.Fatalf("unexpected ssh-keygen output %q", out)
	}
	if byHand != "" && fields[1] != byHand {
		t.Errorf("ssh-keygen prints %s; the wire encoding built by hand gives %s", fields[1], byHand)
	}
	return fields[1]
}

// TestAllowlist_RealCertificates puts the fingerprints ssh-keygen prints for
// real keys into AUTH__PARSERS__0__ALLOWLIST and checks that the allowlist
// Load builds contains the fingerprint of each certificate's key, as the
// front door will compute it.
func TestAllowlist_RealCertificates(t *testing.T) {
	t.Parallel()
	p := pkitest.New(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := p.RSACAStyleLeaf.TLS.PrivateKey.(*rsa.PrivateKey)
	for _, tt := range []struct {
		name string
		key  crypto.Signer
	}{
		{"ed25519", edKey},
		{"ecdsa-p384", ecKey},
		{"rsa", rsaKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := expectedFingerprint(t, tt.key)
			id := p.Issue(t, nil, pkitest.ClientTemplate(tt.name), tt.key)
			leaf := id.Leaf()
			fp, err := pki.Fingerprint(leaf.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			// The form with one '=' of padding must work too.
			list, _ := json.Marshal(map[string][]string{"component": {want + "="}, "other": {want}})
			cfg, _, err := Load(certsEnv(t,
				"PLUGIN__MODE=frontend",
				"AUTH__PARSERS__0__TYPE=oso.framework.auth.mtls",
				"AUTH__PARSERS__0__ALLOWLIST="+string(list),
			), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			parser, ok := cfg.Auth.MTLS()
			if !ok {
				t.Fatal("no mtls parser")
			}
			for _, name := range []string{"component", "other"} {
				a, ok := parser.Allowlist(name)
				if !ok || !a.Contains(fp) || a.Len() != 1 {
					t.Errorf("allowlist %q from %s does not hold exactly the certificate's fingerprint %s", name, want, pki.FormatFingerprint(fp))
				}
			}
			if a, _ := parser.Allowlist("component"); a.Strings()[0] != want {
				t.Errorf("Strings() = %v; want [%s]", a.Strings(), want)
			}
			if _, ok := parser.Allowlist("Component"); ok {
				t.Error(`Allowlist("Component") found; names must match exactly`)
			}
			var stranger [32]byte
			if a, _ := parser.Allowlist("component"); a.Contains(stranger) {
				t.Error("allowlist contains the zero fingerprint")
			}
		})
	}
}

func TestParseAllowlists(t *testing.T) {
	t.Parallel()
	const fp1 = "SHA256:yo6+LcGmR/o+YYhX9PqbaWG+IoNCMXSLGeYLnvzkqMM"
	const fp2 = "SHA256:3/BAlzJd5ioS4ZlUyyXRBxD4dsMNG0pEKfboCiMOVAA"
	tests := []struct {
		name string
		in   any
		want map[string][]string
	}{
		{"empty object", "{}", map[string][]string{}},
		{"multi-line with trailing newline", "{\n  \"component\": [\n    \"" + fp1 + "\"\n  ]\n}\n", map[string][]string{"component": {fp1}}},
		{"empty list", `{"component": []}`, map[string][]string{"component": {}}},
		{"padding", `{"a": ["` + fp2 + `="]}`, map[string][]string{"a": {fp2}}},
		{"last repeat wins", `{"a": ["` + fp1 + `"], "a": ["` + fp2 + `"]}`, map[string][]string{"a": {fp2}}},
		{"repeated entries", `{"a": ["` + fp1 + `", "` + fp1 + `", "` + fp2 + `"]}`, map[string][]string{"a": {fp1, fp2}}},
		{"mapping from YAML", map[string]any{"component": []any{fp1, fp2}}, map[string][]string{"component": {fp1, fp2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseAllowlists(tt.in)
			if len(r.errs) > 0 {
				t.Fatalf("errors: %v", r.errs)
			}
			got := make(map[string][]string)
			for name, a := range r.lists {
				got[name] = a.Strings()
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("got %s; want %s", gj, wj)
			}
		})
	}
}

func TestParseAllowlists_Errors(t *testing.T) {
	t.Parallel()
	const fp = "SHA256:yo6+LcGmR/o+YYhX9PqbaWG+IoNCMXSLGeYLnvzkqMM"
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"string value", `{"component":"x"}`, `allowlist "component" must be a list of fingerprints, not a string`},
		{"list", `[1]`, "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"empty list", `[]`, "must be a JSON object"},
		{"empty text", ``, "invalid JSON: unexpected end of input"},
		{"trailing garbage", `{} x`, "invalid JSON"},
		{"second object", `{}{}`, "invalid JSON: data after the object"},
		{"single quotes", `{'component': []}`, "invalid JSON"},
		{"truncated", `{"component": ["` + fp + `"`, "unexpected end of input"},
		{"null list", `{"component": null}`, "not null"},
		{"number entry", `{"component": [1]}`, `"component"[0]: must be a string, not a number`},
		{"nested list", `{"component": [[]]}`, `"component"[0]: must be a string, not a list`},
		{"bad entry index", `{"component": ["` + fp + `", "SHA256:abc"]}`, `"component"[1]: `},
		{"yaml scalar", 5, "must be a JSON object"},
		{"yaml entry", map[string]any{"c": []any{fp, 3}}, `"c"[1]: must be a string`},
		{"long name", `{"` + strings.Repeat("n", maxAllowlistName+1) + `": []}`, "longer than 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseAllowlists(tt.in)
			if len(r.errs) == 0 || !strings.Contains(strings.Join(r.errs, "\n"), tt.want) {
				t.Errorf("errors %q; want one containing %q", r.errs, tt.want)
			}
		})
	}
}

// TestParseAllowlists_Bounds checks that a huge value is refused without
// repeating it, and that the number of reported entry problems is bounded.
func TestParseAllowlists_Bounds(t *testing.T) {
	t.Parallel()
	big := strings.Repeat(`"SHA256:AAAA",`, maxAllowlistEntries+1)
	r := parseAllowlists(`{"a": [` + big + `"x"]}`)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "more than 65536 fingerprints") {
		t.Errorf("errors = %.200q; want one about the bound", r.errs)
	}

	bad := strings.TrimSuffix(strings.Repeat(`"SHA256:AAAA",`, 50), ",")
	r = parseAllowlists(`{"a": [` + bad + `]}`)
	if len(r.errs) != maxEntryProblems+1 || r.errs[maxEntryProblems] != "and 40 more invalid entries" {
		t.Errorf("errors = %q; want %d entry problems and a count", r.errs, maxEntryProblems)
	}
	for _, e := range r.errs {
		if strings.Contains(e, "AAAA") {
			t.Errorf("error %q repeats an entry", e)
		}
	}
}

func TestAllowlist_Zero(t *testing.T) {
	t.Parallel()
	var a Allowlist
	if a.Contains([32]byte{}) || a.Len() != 0 || len(a.Fingerprints()) != 0 {
		t.Error("the zero Allowlist is not empty")
	}
	b := NewAllowlist([32]byte{1}, [32]byte{2}, [32]byte{1})
	if b.Len() != 2 || !b.Contains([32]byte{2}) {
		t.Errorf("NewAllowlist: Len %d", b.Len())
	}
	fps := b.Fingerprints()
	fps[0] = [32]byte{9}
	if !b.Contains([32]byte{1}) || b.Contains([32]byte{9}) {
		t.Error("Fingerprints returned the allowlist's own memory")
	}
}
