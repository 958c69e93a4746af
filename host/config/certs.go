package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/osohost/osohost/host/pki"
)

// ErrNotSet is returned by the methods that build TLS material from
// settings that are not set. Test it with errors.Is.
var ErrNotSet = errors.New("config: not set")

// tlsParsed is the parsed form of a CA bundle and a key pair. Load fills it
// in, so that the methods below do not parse again; it is immutable.
type tlsParsed struct {
	cas  []*x509.Certificate // nil when no CA is set
	pair *tls.Certificate    // nil when no key pair is set
}

// Which part of a TLS triple a problem is about.
const (
	partCA = iota
	partCert
	partKey
)

// parseTLS parses what is set of a CA bundle (ca), a certificate chain
// (crt) and its key, which must be set together. It reports each problem
// through fail, with the part it is about, and never with key material.
func parseTLS(ca, crt PEM, key Secret, fail func(part int, msg string)) *tlsParsed {
	p := &tlsParsed{}
	if ca != "" {
		cas, err := pki.ParseCertificates([]byte(ca))
		if err != nil {
			fail(partCA, pkiMessage(err))
		}
		p.cas = cas
	}
	switch {
	case crt == "" && !key.IsSet():
		return p
	case crt == "":
		fail(partCert, "required when the key is set")
		return p
	case !key.IsSet():
		fail(partKey, "required when the certificate is set")
		return p
	}
	_, certErr := pki.ParseCertificates([]byte(crt))
	if certErr != nil {
		fail(partCert, pkiMessage(certErr))
	}
	_, keyErr := pki.ParsePrivateKey([]byte(key.Reveal()))
	if keyErr != nil {
		fail(partKey, pkiMessage(keyErr))
	}
	if certErr != nil || keyErr != nil {
		return p
	}
	pair, err := pki.X509KeyPair([]byte(crt), []byte(key.Reveal()))
	if err != nil {
		fail(partKey, "does not belong to the first certificate of the chain")
		return p
	}
	p.pair = &pair
	return p
}

// pkiMessage is the text of an error of host/pki, which never holds key
// material, without its package prefix.
func pkiMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "pki: ")
}

// parsedOrNew returns p, or parses the fields again when p is nil (for
// values built without Load).
func parsedOrNew(p *tlsParsed, ca, crt PEM, key Secret) (*tlsParsed, error) {
	if p != nil {
		return p, nil
	}
	var errs []error
	p = parseTLS(ca, crt, key, func(_ int, msg string) { errs = append(errs, errors.New("config: "+msg)) })
	return p, errors.Join(errs...)
}

func (p *tlsParsed) keyPair() (tls.Certificate, error) {
	if p.pair == nil {
		return tls.Certificate{}, ErrNotSet
	}
	return *p.pair, nil
}

func (p *tlsParsed) pool() (*x509.CertPool, error) {
	if p.cas == nil {
		return nil, ErrNotSet
	}
	pool := x509.NewCertPool()
	for _, c := range p.cas {
		pool.AddCert(c)
	}
	return pool, nil
}

// certsParsed is Certs' parsed form.
type certsParsed = tlsParsed

// ServerCertificate returns the server's chain (CERTS__APP_CRT) and key
// (CERTS__APP_KEY), with Leaf set, for tls.Config.Certificates. The result
// shares memory with c; do not modify it. It returns [ErrNotSet] when they
// are not set.
func (c Certs) ServerCertificate() (tls.Certificate, error) {
	p, err := parsedOrNew(c.parsed, c.CA, c.AppCrt, c.AppKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return p.keyPair()
}

// ClientCAs returns a new pool of the CA certificates of CERTS__CA, which
// client certificates must chain to. It returns [ErrNotSet] when CERTS__CA
// is not set.
func (c Certs) ClientCAs() (*x509.CertPool, error) {
	p, err := parsedOrNew(c.parsed, c.CA, c.AppCrt, c.AppKey)
	if err != nil {
		return nil, err
	}
	return p.pool()
}
