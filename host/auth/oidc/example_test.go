package oidc_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/auth/multi"
	"github.com/osohost/osohost/host/auth/oidc"
)

// Example builds an Authenticator for a Keycloak realm whose tokens carry
// realm roles, and combines it with the client-certificate authenticator:
// a request presenting a certificate is judged by it, one presenting a
// bearer token by the token.
func Example() {
	allow, err := oidc.ParseAllowlists(`{"component": {"roles": ["oso-admin"], "scopes": ["oso.documents"]}}`)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tokens, err := oidc.New(ctx, oidc.Options{
		Issuer:     "https://idp.example/realms/oso",
		Audience:   "osohost",
		RolesClaim: "realm_access.roles",
		Allowlists: allow,
		Logger:     slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		return
	}
	var certs *mtls.Authenticator // from mtls.New
	a, err := multi.New(
		multi.Method{Name: mtls.Method, Authenticator: certs, Present: multi.ClientCertificate, Allowlists: []string{"component"}},
		multi.Method{Name: oidc.Method, Authenticator: tokens, Present: multi.BearerToken, Allowlists: []string{"component"}},
	)
	if err != nil {
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, err := a.Authenticate(r, "component")
		switch {
		case errors.Is(err, auth.ErrNoCredentials): // also oidc.ErrInvalidToken
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
		case errors.Is(err, auth.ErrBadCertificate):
			w.WriteHeader(http.StatusBadRequest)
		case errors.Is(err, auth.ErrForbidden):
			w.WriteHeader(http.StatusForbidden)
		case errors.Is(err, oidc.ErrUnavailable):
			w.WriteHeader(http.StatusServiceUnavailable)
		case err != nil:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
}
