package config

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki/pkitest"
)

// certsEnv returns valid CERTS__* variables, which Load requires outside a
// dev run, followed by extra.
func certsEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	return append([]string{
		"CERTS__CA=" + readFixture(t, "ca.crt"),
		"CERTS__APP_CRT=" + readFixture(t, "app.crt"),
		"CERTS__APP_KEY=" + readFixture(t, "app.key"),
	}, extra...)
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "certs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCerts_Handshake loads CERTS__* from a test PKI and uses the result in
// a real TLS 1.3 handshake with client-certificate verification.
func TestCerts_Handshake(t *testing.T) {
	t.Parallel()
	p := pkitest.New(t)
	cfg, _, err := Load([]string{
		"PLUGIN__MODE=frontend",
		"CERTS__CA=" + p.CAPEM,
		"CERTS__APP_CRT=" + p.Server.CertPEM,
		"CERTS__APP_KEY=" + p.Server.KeyPEM,
	}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cfg.Certs.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf == nil || cert.Leaf.Subject.CommonName != p.Server.Leaf().Subject.CommonName {
		t.Fatalf("ServerCertificate().Leaf = %v", cert.Leaf)
	}
	pool, err := cfg.Certs.ClientCAs()
	if err != nil {
		t.Fatal(err)
	}
	server := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	client := p.ClientTLS(&p.Client)
	client.ServerName = "localhost"

	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(c1, server).HandshakeContext(t.Context()) }()
	if err := tls.Client(c2, client).HandshakeContext(t.Context()); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func TestCerts_KeyFormats(t *testing.T) {
	t.Parallel()
	tests := []struct{ crt, key, kind string }{
		{"app.crt", "app.key", "Ed25519 PKCS#8, chain of two"},
		{"rsa.crt", "rsa.key", "RSA PKCS#1, CA-style leaf"},
		{"ec.crt", "ec.key", "ECDSA SEC 1 after EC PARAMETERS"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			cfg, _, err := Load([]string{
				"PLUGIN__MODE=frontend",
				"CERTS__CA=" + readFixture(t, "bundle.crt"),
				"CERTS__APP_CRT=" + readFixture(t, tt.crt),
				"CERTS__APP_KEY=" + readFixture(t, tt.key),
			}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := cfg.Certs.ServerCertificate()
			if err != nil || cert.PrivateKey == nil || cert.Leaf == nil {
				t.Fatalf("ServerCertificate() = %v, %v", cert, err)
			}
			if _, err := cfg.Certs.ClientCAs(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCerts_Errors(t *testing.T) {
	t.Parallel()
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(x25519)
	if err != nil {
		t.Fatal(err)
	}
	x25519PEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
	// A spec names a fixture file, "=text" gives the text, "-" leaves the
	// variable unset and "" means the valid fixture.
	tests := []struct {
		name, ca, crt, key string
		dev                bool
		want               []string
	}{
		{"mismatch", "", "app.crt", "other.key", false, []string{"CERTS__APP_KEY: does not belong to the first certificate"}},
		{"key in CA", "app.key", "", "", false, []string{`CERTS__CA: PEM block 1 is "PRIVATE KEY", want "CERTIFICATE"`}},
		{"key as certificate", "", "app.key", "app.key", false, []string{`CERTS__APP_CRT: PEM block 1 is "PRIVATE KEY"`}},
		{"certificate as key", "", "app.crt", "app.crt", false, []string{"CERTS__APP_KEY: no PEM private key found"}},
		{"X25519 key", "", "app.crt", "=" + x25519PEM, false, []string{"CERTS__APP_KEY: private key is an X25519/ECDH key, which cannot sign"}},
		{"encrypted key", "", "app.crt", "=" + encrypted, false, []string{"CERTS__APP_KEY: encrypted private keys are not supported"}},
		{"everything wrong", "=junk", "=junk", "=junk", false, []string{"CERTS__CA: no PEM", "CERTS__APP_CRT: no PEM", "CERTS__APP_KEY: no PEM"}},
		{"none", "-", "-", "-", false, []string{"CERTS__CA: required: the PEM text of the CA", "CERTS__APP_CRT: required: the PEM text of the server's certificate chain", "CERTS__APP_KEY: required: the PEM text of the server's private key"}},
		{"empty key", "", "", "=", false, []string{"CERTS__APP_KEY: required"}},
		{"dev: certificate alone", "-", "", "-", true, []string{"CERTS__APP_KEY: required when the certificate is set"}},
		{"dev: key alone", "-", "-", "", true, []string{"CERTS__APP_CRT: required when the key is set"}},
	}
	value := func(t *testing.T, spec, fixture string) (string, bool) {
		switch {
		case spec == "-":
			return "", false
		case spec == "":
			return readFixture(t, fixture), true
		case strings.HasPrefix(spec, "="):
			return spec[1:], true
		}
		return readFixture(t, spec), true
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := []string{"PLUGIN__MODE=frontend"}
			for _, v := range []struct{ name, spec, fixture string }{
				{"CERTS__CA", tt.ca, "ca.crt"}, {"CERTS__APP_CRT", tt.crt, "app.crt"}, {"CERTS__APP_KEY", tt.key, "app.key"},
			} {
				if text, ok := value(t, v.spec, v.fixture); ok {
					env = append(env, v.name+"="+text)
				}
			}
			_, _, err := Load(env, "", map[string]any{"dev": tt.dev})
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != len(tt.want) {
				t.Fatalf("Load error = %v; want %d problems", err, len(tt.want))
			}
			for i, w := range tt.want {
				if got := ce.Problems[i].String(); !strings.HasPrefix(got, w) {
					t.Errorf("problem %d = %q; want it to start with %q", i, got, w)
				}
			}
			for _, secret := range []string{"AAAA", "BEGIN", "MC4CAQ"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats PEM content %q: %v", secret, err)
				}
			}
		})
	}
}

// TestCerts_HandBuilt checks that a Certs built without Load parses on
// demand, and that unset material gives ErrNotSet.
func TestCerts_HandBuilt(t *testing.T) {
	t.Parallel()
	c := Certs{
		CA:     PEM(readFixture(t, "bundle.crt")),
		AppCrt: PEM(readFixture(t, "app.crt")),
		AppKey: NewSecret(readFixture(t, "app.key")),
	}
	if _, err := c.ServerCertificate(); err != nil {
		t.Errorf("ServerCertificate: %v", err)
	}
	if _, err := c.ClientCAs(); err != nil {
		t.Errorf("ClientCAs: %v", err)
	}
	var zero Certs
	if _, err := zero.ServerCertificate(); !errors.Is(err, ErrNotSet) {
		t.Errorf("zero ServerCertificate error = %v; want ErrNotSet", err)
	}
	if _, err := zero.ClientCAs(); !errors.Is(err, ErrNotSet) {
		t.Errorf("zero ClientCAs error = %v; want ErrNotSet", err)
	}
	bad := Certs{AppCrt: PEM(readFixture(t, "app.crt")), AppKey: NewSecret(readFixture(t, "other.key"))}
	if _, err := bad.ServerCertificate(); err == nil || errors.Is(err, ErrNotSet) {
		t.Errorf("mismatched ServerCertificate error = %v", err)
	}
}

func TestSigningServer_TLS(t *testing.T) {
	t.Parallel()
	b64 := func(name string) string { return base64.StdEncoding.EncodeToString([]byte(readFixture(t, name))) }
	cfg, warns, err := Load(certsEnv(t,
		"PLUGIN__MODE=backend",
		"PLUGIN__ADDONS__0__TYPE=signing_server",
		"PLUGIN__ADDONS__0__GREP11_ENDPOINT=dns:///grep11:9876",
		"PLUGIN__ADDONS__0__KEYSTORE_PATH=/data",
		"PLUGIN__ADDONS__0__CA_CERT="+b64("ca.crt"),
		"PLUGIN__ADDONS__0__CLIENT_CERT="+b64("rsa.crt"),
		"PLUGIN__ADDONS__0__CLIENT_KEY="+b64("rsa.key"),
	), "", nil)
	if err != nil || len(warns) != 0 {
		t.Fatalf("Load: %v, warnings %q", err, warns)
	}
	s, ok := cfg.Plugin.SigningServer()
	if !ok {
		t.Fatal("no signing server")
	}
	if s.Endpoint != "dns:///grep11:9876" || s.ServerName() != "grep11" || s.KeystorePath != "/data" {
		t.Errorf("endpoint %q, server name %q, keystore %q", s.Endpoint, s.ServerName(), s.KeystorePath)
	}
	if _, err := s.ClientCertificate(); err != nil {
		t.Errorf("ClientCertificate: %v", err)
	}
	if _, err := s.RootCAs(); err != nil {
		t.Errorf("RootCAs: %v", err)
	}
	if s.ClientKey.Reveal() != readFixture(t, "rsa.key") {
		t.Error("ClientKey does not hold the decoded PEM")
	}
}
