//go:build !wasip1

package oso

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
)

// withCredentials gives a test an empty native credential table.
func withCredentials(t *testing.T) {
	t.Helper()
	reset := func() {
		nativeCreds.mu.Lock()
		nativeCreds.m, nativeCreds.fault = nil, 0
		nativeCreds.mu.Unlock()
	}
	reset()
	t.Cleanup(reset)
}

func TestCredential(t *testing.T) {
	withCredentials(t)
	exp := time.UnixMilli(1700000000123)
	SetTestCredential("api", Token{Token: "tok-1", TokenType: "Bearer", ExpiresAt: exp})
	SetTestCredential("plain", Token{Token: "tok-2"})
	got, err := Credential("api")
	if err != nil || got.Token != "tok-1" || got.TokenType != "Bearer" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("Credential(api) = %#v (%s), %v", got, got.Token, err)
	}
	if got.Authorization() != "Bearer tok-1" {
		t.Fatalf("Authorization = %q", got.Authorization())
	}
	got, err = Credential("plain")
	if err != nil || got.Token != "tok-2" || got.TokenType != "" || !got.ExpiresAt.IsZero() || got.Authorization() != "tok-2" {
		t.Fatalf("Credential(plain) = %s, %v", got.Token, err)
	}
	// The answer buffer keeps no copy of the secret.
	if strings.Contains(string(credBuf), "tok-") {
		t.Fatal("the secret stays in the SDK's buffer")
	}
	SetTestCredential("plain", Token{})
	if _, err := Credential("plain"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed credential: %v", err)
	}
}

func TestCredential_Errors(t *testing.T) {
	withCredentials(t)
	long := strings.Repeat("n", abi.MaxCredentialNameBytes+1)
	tests := []struct {
		name, arg string
		status    abi.Status // 0: no fault injected
		want      error
	}{
		{"unknown", "nope", 0, ErrNotFound},
		{"name too long", long, 0, ErrTooLarge},
		{"not granted", "x", abi.StatusNotAllowed, ErrNotAllowed},
		{"not found", "x", abi.StatusNotFound, ErrNotFound},
		{"unavailable", "x", abi.StatusUnavailable, ErrUnavailable},
		{"too large", "x", abi.StatusTooLarge, ErrTooLarge},
		{"bad pointer", "x", abi.StatusBadPointer, nil},
		{"unknown status", "x", -99, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nativeCreds.fault = int32(tt.status)
			defer func() { nativeCreds.fault = 0 }()
			_, err := Credential(tt.arg)
			var ce *CredentialError
			var he *HostError
			if !errors.As(err, &ce) || !errors.As(err, &he) || he.Func != abi.ImportCredential {
				t.Fatalf("error %#v is not a CredentialError wrapping a HostError", err)
			}
			want := tt.status
			if want == 0 {
				want = map[error]abi.Status{ErrNotFound: abi.StatusNotFound, ErrTooLarge: abi.StatusTooLarge}[tt.want]
			}
			if he.Status != want {
				t.Fatalf("status %d, want %d", he.Status, want)
			}
			for _, s := range []error{ErrNotFound, ErrNotAllowed, ErrUnavailable, ErrBadArgument, ErrTooLarge} {
				if is := errors.Is(err, s); is != (s == tt.want) {
					t.Errorf("%v: errors.Is(%v) = %v", err, s, is)
				}
			}
			if !strings.Contains(err.Error(), "credential") || len(err.Error()) > 300 {
				t.Errorf("error text %q", err)
			}
		})
	}
}

// TestToken_Redacted: printing a Token in any way does not show the
// secret.
func TestToken_Redacted(t *testing.T) {
	const secret = "hunter2-secret"
	tok := Token{Token: secret, TokenType: "Bearer", ExpiresAt: time.Unix(1700000000, 0)}
	var out strings.Builder
	for _, v := range []any{tok, &tok, struct{ T Token }{tok}, []Token{tok}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
	}
	if strings.Contains(out.String(), secret) || strings.Contains(out.String(), fmt.Sprintf("%x", secret)) {
		t.Fatalf("secret printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "REDACTED") || !strings.Contains(out.String(), "Bearer") {
		t.Fatalf("redacted form:\n%s", out.String())
	}
	b, err := json.Marshal(struct{ T Token }{tok})
	if err != nil || strings.Contains(string(b), secret) || !strings.Contains(string(b), `"token":"REDACTED","token_type":"Bearer","expires_at_ms":1700000000000`) {
		t.Fatalf("json.Marshal = %s, %v", b, err)
	}
}
