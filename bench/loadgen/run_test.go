package loadgen

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// signerServer answers POSTs as examples/signer does, signing with priv
// under key id "k1"; with corrupt set, it answers a wrong signature.
func signerServer(t *testing.T, priv ed25519.PrivateKey, corrupt bool) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct {
			Documents []Doc `json:"documents"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		key := priv
		if corrupt {
			_, key, _ = ed25519.GenerateKey(rand.Reader)
		}
		w.Write(signedAnswer(t, in.Documents, "k1", key))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestRun(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ED25519"), 0o755)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	os.WriteFile(filepath.Join(dir, "ED25519", "k1.pub"), spki, 0o644)
	for _, corrupt := range []bool{false, true} {
		srv := signerServer(t, priv, corrupt)
		cfg := &tls.Config{RootCAs: x509.NewCertPool()}
		cfg.RootCAs.AddCert(srv.Certificate())
		for _, proto := range []string{HTTP1, HTTP2} {
			res, err := Run(t.Context(), Config{URL: srv.URL + "/api/backend/v1alpha1/documents", Proto: proto, TLS: cfg,
				Concurrency: 2, Batch: 3, Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond, Keys: NewKeyring(dir)})
			if err != nil {
				t.Fatal(err)
			}
			if corrupt {
				if res.Errors == 0 || res.Requests != 0 || len(res.ErrorSample) == 0 {
					t.Errorf("%s, wrong signatures: %d errors, %d requests counted", proto, res.Errors, res.Requests)
				}
				continue
			}
			if res.Errors != 0 || res.Requests == 0 || res.Docs != 3*res.Requests || res.Verified != res.Requests ||
				res.P50 <= 0 || res.Max < res.P99 || res.ClientCPU <= 0 {
				t.Errorf("%s: %+v", proto, res)
			}
		}
	}
}
