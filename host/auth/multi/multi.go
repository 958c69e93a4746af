package multi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/osohost/osohost/host/auth"
)

// Method is one authentication method of an [Authenticator].
type Method struct {
	// Name names the method in errors, such as "mtls" or "oidc". Required,
	// and unique within an Authenticator.
	Name string
	// Authenticator checks the method's credentials. Required.
	Authenticator auth.Authenticator
	// Present reports whether a request carries the method's credentials,
	// without checking them; [ClientCertificate] and [BearerToken] are the
	// tests for mtls and oidc. Required.
	Present func(r *http.Request) bool
	// Allowlists are the names of the allowlists the method serves,
	// matched exactly. Empty: it serves none (its credentials can then
	// only be refused).
	Allowlists []string
}

// Authenticator tries each request with the method whose credentials it
// carries, as the package documentation describes. It implements
// auth.Authenticator and is safe for concurrent use if its methods'
// authenticators are; it never changes after New.
type Authenticator struct {
	methods []method
}

type method struct {
	name    string
	auth    auth.Authenticator
	present func(*http.Request) bool
	serves  map[string]struct{}
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator of methods, in order of precedence. It fails
// when no method is given, or one lacks a name, an authenticator or a
// Present test, or two have the same name.
func New(methods ...Method) (*Authenticator, error) {
	if len(methods) == 0 {
		return nil, errors.New("multi: no method")
	}
	a := &Authenticator{}
	seen := make(map[string]bool)
	for i, m := range methods {
		switch {
		case m.Name == "":
			return nil, fmt.Errorf("multi: method %d has no name", i)
		case seen[m.Name]:
			return nil, fmt.Errorf("multi: method %q is given twice", m.Name)
		case m.Authenticator == nil || m.Present == nil:
			return nil, fmt.Errorf("multi: method %q needs an Authenticator and a Present test", m.Name)
		}
		seen[m.Name] = true
		mm := method{name: m.Name, auth: m.Authenticator, present: m.Present, serves: make(map[string]struct{}, len(m.Allowlists))}
		for _, name := range m.Allowlists {
			mm.serves[name] = struct{}{}
		}
		a.methods = append(a.methods, mm)
	}
	return a, nil
}

// Authenticate returns the principal the deciding method finds for r and
// allowlist. Errors are the deciding method's, or auth.ErrNoCredentials
// when r carries no credential of any method, or auth.ErrNotAllowlisted
// when only a method that does not serve allowlist applies and it accepts
// the credentials.
func (a *Authenticator) Authenticate(r *http.Request, allowlist string) (auth.Principal, error) {
	for _, m := range a.methods {
		if _, ok := m.serves[allowlist]; ok && m.present(r) {
			return m.auth.Authenticate(r, allowlist)
		}
	}
	for _, m := range a.methods {
		if !m.present(r) {
			continue
		}
		_, err := m.auth.Authenticate(r, allowlist)
		if err == nil {
			err = fmt.Errorf("%w: allowlist %q does not accept method %s", auth.ErrNotAllowlisted, allowlist, m.name)
		}
		return auth.Principal{}, err
	}
	return auth.Principal{}, auth.ErrNoCredentials
}

// ClientCertificate reports whether r arrived over TLS with a client
// certificate, whether or not it verifies: the Present test of mtls.
func ClientCertificate(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.PeerCertificates) > 0
}

// BearerToken reports whether r has an Authorization header of scheme
// "Bearer", in any letter case, whatever its token: the Present test of
// oidc.
func BearerToken(r *http.Request) bool {
	for _, v := range r.Header.Values("Authorization") {
		scheme, _, _ := strings.Cut(v, " ")
		if strings.EqualFold(scheme, "Bearer") {
			return true
		}
	}
	return false
}
