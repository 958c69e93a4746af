package mtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/pki"
)

// Example wires an Authenticator into a TLS 1.3 server: certificates are
// requested but not verified by crypto/tls, the handler verifies them and
// answers 401, 400 or 403 as the framework did.
func Example() {
	var caPEM, certPEM, keyPEM []byte // CERTS__CA, CERTS__APP_CRT, CERTS__APP_KEY
	allowed, _ := pki.ParseFingerprint("SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg")

	cas, err := pki.ParseCertificates(caPEM)
	if err != nil {
		return
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	a, err := mtls.New(mtls.Options{
		ClientCAs:  roots,
		Allowlists: map[string][][32]byte{"component": {allowed}},
	})
	if err != nil {
		return
	}
	cert, err := pki.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return
	}
	srv := &http.Server{
		Addr: ":4000",
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS13,
			ClientAuth:   tls.RequestClientCert,
			// Optional: refuse certificates that fail verification during
			// the handshake instead of answering 400.
			VerifyConnection: a.VerifyConnection,
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth.StripIdentityHeaders(r.Header)
			_, err := a.Authenticate(r, "component")
			switch {
			case errors.Is(err, auth.ErrNoCredentials):
				w.WriteHeader(http.StatusUnauthorized)
			case errors.Is(err, auth.ErrBadCertificate):
				w.WriteHeader(http.StatusBadRequest)
			case errors.Is(err, auth.ErrForbidden):
				w.WriteHeader(http.StatusForbidden)
			case err != nil:
				w.WriteHeader(http.StatusInternalServerError)
			}
		}),
	}
	_ = srv.ListenAndServeTLS("", "")
}
