package auth

import (
	"net/http"
	"strings"
)

// identityHeaderPrefix starts the headers a TLS-terminating proxy (the
// framework's NGINX) uses to pass the client certificate and its
// verification result, such as X-SSL-Cert and X-SSL-Client-Verify.
const identityHeaderPrefix = "X-SSL-"

// StripIdentityHeaders deletes from h every header whose name starts with
// "X-SSL-", in any letter case, including names not in canonical form.
// osohost verifies client certificates itself; these headers are never
// trusted, and removing them keeps handlers and plugins from reading them.
func StripIdentityHeaders(h http.Header) {
	for name := range h {
		if len(name) >= len(identityHeaderPrefix) && strings.EqualFold(name[:len(identityHeaderPrefix)], identityHeaderPrefix) {
			delete(h, name)
		}
	}
}
