package config

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// secretNeedles returns substrings of a PEM private key that must never
// appear in output: the text, each base64 line of its body, its base64
// encoding (as CLIENT_KEY carries it) and, for Ed25519, the seed in hex.
func secretNeedles(t *testing.T, keyPEM string) []string {
	t.Helper()
	needles := []string{keyPEM, base64.StdEncoding.EncodeToString([]byte(keyPEM))[:40]}
	for line := range strings.SplitSeq(keyPEM, "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			needles = append(needles, line)
		}
	}
	if k, err := parsePKCS8(keyPEM); err == nil {
		if ed, ok := k.(ed25519.PrivateKey); ok {
			needles = append(needles, hex.EncodeToString(ed.Seed()), fmt.Sprint([]byte(ed.Seed())[:8]))
		}
	}
	return needles
}

func parsePKCS8(keyPEM string) (any, error) {
	rest := []byte(keyPEM)
	for {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return nil, fmt.Errorf("no PKCS#8 key")
		}
		if blk.Type == "PRIVATE KEY" {
			return x509.ParsePKCS8PrivateKey(blk.Bytes)
		}
	}
}

// TestSecrets_NeverPrinted loads a configuration holding every kind of
// secret and prints it in every way a caller might, then looks for the
// secrets in the output.
func TestSecrets_NeverPrinted(t *testing.T) {
	t.Parallel()
	appKey := readFixture(t, "app.key")
	clientKey := readFixture(t, "ec.key")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	env := []string{
		"PLUGIN__MODE=backend",
		"CERTS__CA=" + readFixture(t, "ca.crt"),
		"CERTS__APP_CRT=" + readFixture(t, "app.crt"),
		"CERTS__APP_KEY=" + appKey,
		"PLUGIN__ADDONS__0__TYPE=signing_server",
		"PLUGIN__ADDONS__0__KEYSTORE_PATH=/k",
		"PLUGIN__ADDONS__0__GREP11_ENDPOINT=grep11:9876",
		"PLUGIN__ADDONS__0__CLIENT_CERT=" + b64(readFixture(t, "ec.crt")),
		"PLUGIN__ADDONS__0__CLIENT_KEY=" + b64(clientKey),
		"AUTH__PARSERS__0__TYPE=mtls",
		`AUTH__PARSERS__0__ALLOWLIST={"component":["SHA256:yo6+LcGmR/o+YYhX9PqbaWG+IoNCMXSLGeYLnvzkqMM"]}`,
	}
	cfg, warns, err := Load(env, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Certs.AppKey.IsSet() || cfg.Certs.AppKey.Reveal() != appKey {
		t.Fatal("AppKey does not hold the key")
	}

	var out bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		log := slog.New(h)
		log.Info("config", "config", cfg, "value", *cfg, "certs", cfg.Certs, "key", cfg.Certs.AppKey,
			"plugin", cfg.Plugin, "addons", cfg.Plugin.Addons, "server", cfg.Plugin.Addons[0].SigningServer)
	}
	for _, v := range []any{cfg, *cfg, cfg.Certs, cfg.Certs.AppKey, cfg.Plugin, cfg.Plugin.Addons, cfg.Plugin.Addons[0].SigningServer.ClientKey} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		if b, err := json.Marshal(v); err == nil {
			out.Write(b)
		} else {
			t.Errorf("json.Marshal(%T): %v", v, err)
		}
		if b, err := yaml.Marshal(v); err == nil {
			out.Write(b)
		} else {
			t.Errorf("yaml.Marshal(%T): %v", v, err)
		}
	}
	if err := cfg.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&out, cfg.Redacted(), warns)

	for _, key := range []string{appKey, clientKey} {
		for _, needle := range secretNeedles(t, key) {
			if bytes.Contains(out.Bytes(), []byte(needle)) {
				t.Errorf("output contains secret material %.20q…", needle)
			}
		}
	}
	if !bytes.Contains(out.Bytes(), []byte(RedactedText)) {
		t.Error("output never says REDACTED; did the secrets print at all?")
	}
}

// TestSecrets_NotInErrors makes every secret-holding setting invalid in
// several ways and checks that no message repeats it.
func TestSecrets_NotInErrors(t *testing.T) {
	t.Parallel()
	const marker = "TOPSECRETMARKERVALUE"
	keyPEM := "-----BEGIN PRIVATE KEY-----\n" + marker + "\n-----END PRIVATE KEY-----\n"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	addon := []string{
		"PLUGIN__MODE=frontend",
		"PLUGIN__ADDONS__0__TYPE=signing_server",
		"PLUGIN__ADDONS__0__KEYSTORE_PATH=/k",
		"PLUGIN__ADDONS__0__CLIENT_CERT=" + b64(readFixture(t, "ec.crt")),
	}
	tests := []struct {
		name  string
		env   []string
		names []string
	}{
		{"malformed PEM", []string{
			"PLUGIN__MODE=frontend",
			"CERTS__APP_CRT=" + readFixture(t, "app.crt"),
			"CERTS__APP_KEY=" + keyPEM,
			"CERTS__CA=" + marker,
		}, []string{"CERTS__APP_KEY", "CERTS__CA"}},
		{"mismatched key", []string{
			"PLUGIN__MODE=frontend",
			"CERTS__APP_CRT=" + readFixture(t, "app.crt"),
			"CERTS__APP_KEY=" + readFixture(t, "other.key"),
		}, []string{"CERTS__APP_KEY"}},
		{"malformed PEM in base64", append(addon, "PLUGIN__ADDONS__0__CLIENT_KEY="+b64(keyPEM)), []string{"PLUGIN__ADDONS__0__CLIENT_KEY"}},
		{"not base64", append(addon, "PLUGIN__ADDONS__0__CLIENT_KEY="+marker+"!"), []string{"PLUGIN__ADDONS__0__CLIENT_KEY"}},
		{"PEM instead of base64", append(addon, "PLUGIN__ADDONS__0__CLIENT_KEY="+keyPEM), []string{"PLUGIN__ADDONS__0__CLIENT_KEY"}},
		{"section JSON", []string{"PLUGIN__MODE=frontend", "CERTS=" + jsonText(t, map[string]string{
			"app_crt": readFixture(t, "app.crt"), "app_key": keyPEM, "ca": marker,
		})}, []string{"CERTS (certs.app_key)", "CERTS (certs.ca)"}},
		{"section JSON types", []string{"PLUGIN__MODE=frontend", `CERTS={"app_key": "` + marker + `", "app_crt": 5}`}, []string{"CERTS (certs.app_crt)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, warns, err := Load(tt.env, "", nil)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			text := err.Error() + "\n" + strings.Join(warns, "\n")
			if strings.Contains(text, marker) || strings.Contains(text, b64(keyPEM)[:20]) || strings.Contains(text, "BEGIN") {
				t.Errorf("messages repeat a secret:\n%s", text)
			}
			for _, name := range tt.names {
				if !strings.Contains(text, name+":") {
					t.Errorf("messages do not name %s:\n%s", name, text)
				}
			}
		})
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	const marker = "hunter2-marker"
	s := NewSecret(marker)
	if !s.IsSet() || s.Reveal() != marker || s.String() != RedactedText {
		t.Errorf("NewSecret: IsSet %v, String %q", s.IsSet(), s.String())
	}
	var zero Secret
	if zero.IsSet() || zero.Reveal() != "" || zero.String() != "" || NewSecret("").IsSet() {
		t.Error("the zero Secret is not unset")
	}
	// Even printed by reflection, through an unexported field, the value
	// does not show: it sits behind a pointer.
	hidden := struct{ s Secret }{s}
	for _, got := range []string{
		fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", hidden, hidden, hidden),
		fmt.Sprint([]Secret{s}, map[string]Secret{"k": s}),
	} {
		if strings.Contains(got, marker) || strings.Contains(got, hex.EncodeToString([]byte(marker))) {
			t.Errorf("printed %q", got)
		}
	}
	if got := fmt.Sprintf("%q", s); got != `"REDACTED"` {
		t.Errorf("%%q = %s", got)
	}
	j, _ := json.Marshal(map[string]Secret{"set": s, "unset": zero})
	if string(j) != `{"set":"REDACTED","unset":""}` {
		t.Errorf("JSON = %s", j)
	}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
