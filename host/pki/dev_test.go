package pki_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki"
)

var devFiles = []string{
	pki.DevCACertFile, pki.DevCAKeyFile,
	pki.DevServerCertFile, pki.DevServerKeyFile,
	pki.DevClientCertFile, pki.DevClientKeyFile,
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range devFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			m[f] = string(b)
		}
	}
	return m
}

func TestGenerateDev(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "pki")
	d, err := pki.GenerateDev(dir, pki.DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Created {
		t.Error("Created = false for a new directory")
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
		}
		for _, f := range []string{d.CAKey, d.ServerKey, d.ClientKey} {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(devFiles) {
		t.Errorf("directory holds %d entries, want %d (no temporary files)", len(entries), len(devFiles))
	}

	client := loadPair(t, d.ClientCert, d.ClientKey)
	if _, ok := client.Leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("default key type %T, want ECDSA", client.Leaf.PublicKey)
	}
	if fp, _ := pki.Fingerprint(client.Leaf.PublicKey); fp != d.ClientFingerprint {
		t.Error("ClientFingerprint is not the client key's fingerprint")
	}
	server := loadPair(t, d.ServerCert, d.ServerKey)
	if fp, _ := pki.Fingerprint(server.Leaf.PublicKey); fp != d.ServerFingerprint {
		t.Error("ServerFingerprint is not the server key's fingerprint")
	}
	if got, want := d.NotAfter, client.Leaf.NotAfter; !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}

	before := readDir(t, dir)
	again, err := pki.GenerateDev(dir, pki.DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.ClientFingerprint != d.ClientFingerprint {
		t.Errorf("second call: Created %v, same client %v; want reuse", again.Created, again.ClientFingerprint == d.ClientFingerprint)
	}
	if after := readDir(t, dir); len(after) != len(before) || after[pki.DevCAKeyFile] != before[pki.DevCAKeyFile] {
		t.Error("second call rewrote the files")
	}
	loaded, err := pki.LoadDev(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Created || loaded.ClientFingerprint != d.ClientFingerprint || loaded.CACert != d.CACert {
		t.Errorf("LoadDev = %+v, want the generated PKI", loaded)
	}
}

func loadPair(t *testing.T, certFile, keyFile string) tls.Certificate {
	t.Helper()
	c, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TestGenerateDev_TLS runs a real TLS 1.3 mTLS exchange with the files.
func TestGenerateDev_TLS(t *testing.T) {
	t.Parallel()
	for _, alg := range []pki.KeyAlgorithm{pki.ECDSAP256, pki.Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			d, err := pki.GenerateDev(t.TempDir(), pki.DevOptions{Algorithm: alg, Hosts: []string{"oso.example", "192.0.2.7"}})
			if err != nil {
				t.Fatal(err)
			}
			caPEM, err := os.ReadFile(d.CACert)
			if err != nil {
				t.Fatal(err)
			}
			cas, err := pki.ParseCertificates(caPEM)
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(cas[0])
			server := loadPair(t, d.ServerCert, d.ServerKey)
			client := loadPair(t, d.ClientCert, d.ClientKey)
			if alg == pki.Ed25519 {
				if _, ok := client.Leaf.PublicKey.(ed25519.PublicKey); !ok {
					t.Fatalf("key type %T, want Ed25519", client.Leaf.PublicKey)
				}
			}
			for _, h := range []string{"localhost", "127.0.0.1", "::1", "oso.example", "192.0.2.7"} {
				if err := server.Leaf.VerifyHostname(h); err != nil {
					t.Errorf("server certificate: %v", err)
				}
			}

			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fp, err := pki.Fingerprint(r.TLS.PeerCertificates[0].PublicKey)
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				io.WriteString(w, pki.FormatFingerprint(fp))
			}))
			srv.TLS = &tls.Config{
				Certificates: []tls.Certificate{server},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    pool,
				MinVersion:   tls.VersionTLS13,
			}
			srv.StartTLS()
			t.Cleanup(srv.Close)

			_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs:      pool,
				Certificates: []tls.Certificate{client},
				MinVersion:   tls.VersionTLS13,
			}}}
			t.Cleanup(c.CloseIdleConnections)
			resp, err := c.Get("https://localhost:" + port + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != pki.FormatFingerprint(d.ClientFingerprint) {
				t.Errorf("got %d %q, want 200 and the client fingerprint", resp.StatusCode, body)
			}
		})
	}
}

func TestGenerateDev_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // after a successful GenerateDev
		opts  pki.DevOptions
		want  string
	}{
		{"unknown algorithm", nil, pki.DevOptions{Algorithm: "rsa"}, `unknown key algorithm "rsa"`},
		{"negative validity", nil, pki.DevOptions{Validity: -time.Hour}, "negative certificate validity"},
		{"empty host", nil, pki.DevOptions{Hosts: []string{""}}, "empty host name"},
		{"missing file", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, pki.DevClientKeyFile)); err != nil {
				t.Fatal(err)
			}
		}, pki.DevOptions{}, `incomplete: missing ["client.key"]`},
		{"corrupt key", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, pki.DevServerKeyFile), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, pki.DevOptions{}, "server.crt: pki: no PEM private key found"},
		{"client from another run", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := pki.GenerateDev(other, pki.DevOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{pki.DevClientCertFile, pki.DevClientKeyFile} {
				b, err := os.ReadFile(filepath.Join(other, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}, pki.DevOptions{}, "client.crt: x509: certificate signed by unknown authority"},
		{"host not covered", func(t *testing.T, dir string) {}, pki.DevOptions{Hosts: []string{"oso.example"}}, "server.crt: x509: certificate is valid for localhost"},
		{"expired", func(t *testing.T, dir string) {
			for _, f := range devFiles {
				os.Remove(filepath.Join(dir, f))
			}
			old := func() time.Time { return time.Now().Add(-2 * 365 * 24 * time.Hour) }
			if _, err := pki.GenerateDev(dir, pki.DevOptions{Now: old}); err != nil {
				t.Fatal(err)
			}
		}, pki.DevOptions{}, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.setup != nil {
				if _, err := pki.GenerateDev(dir, pki.DevOptions{}); err != nil {
					t.Fatal(err)
				}
				tt.setup(t, dir)
			}
			before := readDir(t, dir)
			_, err := pki.GenerateDev(dir, tt.opts)
			if err == nil {
				t.Fatal("GenerateDev succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.setup != nil && !strings.Contains(err.Error(), "to generate new ones") {
				t.Errorf("error %q does not say how to start over", err)
			}
			after := readDir(t, dir)
			if len(after) != len(before) {
				t.Errorf("files changed: %d before, %d after", len(before), len(after))
			}
			for f := range before {
				if before[f] != after[f] {
					t.Errorf("%s was rewritten", f)
				}
			}
		})
	}
}

func TestLoadDev_NotExist(t *testing.T) {
	t.Parallel()
	_, err := pki.LoadDev(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDev(empty dir) = %v, want fs.ErrNotExist", err)
	}
	_, err = pki.LoadDev(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDev(missing dir) = %v, want fs.ErrNotExist", err)
	}
}
