package auth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/pki"
)

func TestStripIdentityHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-SSL-Cert", "-----BEGIN CERTIFICATE-----")
	h.Set("X-SSL-Client-Verify", "SUCCESS")
	h.Set("X-Ssl-Client-S-Dn", "CN=allowed")
	h["x-ssl-client-fingerprint"] = []string{"raw, not canonical"}
	h["X-SSL-"] = []string{"prefix only"}
	h.Set("X-Trace-ID", "keep")
	h.Set("X-SSLish", "keep: no dash after SSL")
	h.Set("X-Forwarded-For", "keep")
	h.Set("Content-Type", "application/json")

	auth.StripIdentityHeaders(h)

	var names []string
	for name := range h {
		names = append(names, name)
	}
	for _, name := range names {
		if strings.HasPrefix(strings.ToUpper(name), "X-SSL-") {
			t.Errorf("%s survived", name)
		}
	}
	for _, keep := range []string{"X-Trace-Id", "X-Sslish", "X-Forwarded-For", "Content-Type"} {
		if h.Get(keep) == "" {
			t.Errorf("%s was removed", keep)
		}
	}
	if len(h) != 4 {
		t.Errorf("%d headers left (%v), want 4", len(h), names)
	}
	auth.StripIdentityHeaders(nil) // must not panic
}

func TestErrors(t *testing.T) {
	if !errors.Is(auth.ErrNotAllowlisted, auth.ErrForbidden) {
		t.Error("ErrNotAllowlisted is not ErrForbidden")
	}
	wrapped := errors.Join(errors.New("detail"), auth.ErrNotAllowlisted)
	if !errors.Is(wrapped, auth.ErrForbidden) {
		t.Error("wrapped ErrNotAllowlisted is not ErrForbidden")
	}
	all := []error{auth.ErrNoCredentials, auth.ErrBadCertificate, auth.ErrForbidden}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v)", a, b)
			}
		}
		if errors.Is(a, auth.ErrNotAllowlisted) {
			t.Errorf("errors.Is(%v, ErrNotAllowlisted)", a)
		}
		if !strings.HasPrefix(a.Error(), "auth: ") {
			t.Errorf("%q lacks the package prefix", a)
		}
	}
}

func TestPrincipal_LogValue(t *testing.T) {
	fp := [32]byte{1, 2, 3}
	tests := []struct {
		name string
		p    auth.Principal
		want map[string]string
	}{
		{"mtls", auth.Principal{Method: "mtls", Fingerprint: fp, Subject: "CN=allowed"},
			map[string]string{"method": "mtls", "fingerprint": pki.FormatFingerprint(fp), "subject": "CN=allowed"}},
		{"no fingerprint", auth.Principal{Method: "oidc", Subject: "alice"},
			map[string]string{"method": "oidc", "subject": "alice"}},
		{"long subject", auth.Principal{Method: "mtls", Fingerprint: fp, Subject: strings.Repeat("é", 300)},
			map[string]string{"method": "mtls", "fingerprint": pki.FormatFingerprint(fp), "subject": strings.Repeat("é", 128) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("request", "principal", tt.p)
			var line struct {
				Principal map[string]string `json:"principal"`
			}
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %s", err, buf.Bytes())
			}
			if len(line.Principal) != len(tt.want) {
				t.Errorf("logged %v, want %v", line.Principal, tt.want)
			}
			for k, v := range tt.want {
				if line.Principal[k] != v {
					t.Errorf("%s = %q, want %q", k, line.Principal[k], v)
				}
			}
		})
	}
}
