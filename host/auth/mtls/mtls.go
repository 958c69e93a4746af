package mtls

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/pki"
)

// Method is the auth.Principal.Method of principals this package returns.
const Method = "mtls"

// DefaultMaxChainDepth is the number of intermediate CA certificates allowed
// between a client leaf and a trusted root when Options.MaxChainDepth is
// zero: 3, the framework's NGINX "ssl_verify_depth".
const DefaultMaxChainDepth = 3

// maxPeerCertificates bounds the chain a client may present (leaf,
// intermediates and an optional root); longer chains are refused before any
// signature is checked.
const maxPeerCertificates = 16

// maxVerifiedChains bounds the cache of chains that verified.
const maxVerifiedChains = 1024

// Options configures an [Authenticator].
type Options struct {
	// ClientCAs are the roots client certificates must chain to. Required:
	// the system roots are never used.
	ClientCAs *x509.CertPool
	// Allowlists maps allowlist names to the fingerprints they allow. Names
	// are matched exactly. New copies it; nil allows no one.
	Allowlists map[string][][32]byte
	// Now returns the time certificates are verified at; nil means
	// time.Now.
	Now func() time.Time
	// MaxChainDepth is the largest number of intermediate CA certificates
	// between the leaf and a root of ClientCAs. Zero means
	// DefaultMaxChainDepth; a negative value allows none (the leaf must be
	// issued by a root directly).
	MaxChainDepth int
}

// Authenticator verifies client certificates and checks allowlists. It
// implements auth.Authenticator and is safe for concurrent use; its
// configuration never changes after New (build a new one to change roots or
// allowlists). It keeps a bounded cache of chains that verified.
type Authenticator struct {
	roots     *x509.CertPool
	allow     map[string]map[[32]byte]struct{}
	now       func() time.Time
	maxInterm int

	mu       sync.Mutex
	verified map[[32]byte]validity // chain hash → when it verifies
}

// validity is the time window in which every certificate of a verified chain
// is valid, so in which the chain verifies again with the same result.
type validity struct{ notBefore, notAfter time.Time }

func (v validity) contains(t time.Time) bool {
	return !t.Before(v.notBefore) && !t.After(v.notAfter)
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for opts. It fails only when opts.ClientCAs
// is nil.
func New(opts Options) (*Authenticator, error) {
	if opts.ClientCAs == nil {
		return nil, errors.New("mtls: no client CAs")
	}
	a := &Authenticator{
		roots:     opts.ClientCAs,
		allow:     make(map[string]map[[32]byte]struct{}, len(opts.Allowlists)),
		now:       opts.Now,
		maxInterm: opts.MaxChainDepth,
		verified:  make(map[[32]byte]validity),
	}
	if a.now == nil {
		a.now = time.Now
	}
	switch {
	case a.maxInterm == 0:
		a.maxInterm = DefaultMaxChainDepth
	case a.maxInterm < 0:
		a.maxInterm = 0
	}
	for name, fps := range opts.Allowlists {
		set := make(map[[32]byte]struct{}, len(fps))
		for _, fp := range fps {
			set[fp] = struct{}{}
		}
		a.allow[name] = set
	}
	return a, nil
}

// Authenticate returns the principal of the client certificate of r if it
// verifies and its fingerprint is in the allowlist named allowlist.
//
// Errors: auth.ErrNoCredentials when r was not received over TLS or the
// client sent no certificate; auth.ErrBadCertificate, also wrapping the
// crypto/x509 cause (such as x509.UnknownAuthorityError or
// x509.CertificateInvalidError), when the chain does not verify;
// auth.ErrNotAllowlisted when the fingerprint is not in the allowlist, the
// allowlist does not exist, or the key has no OpenSSH encoding (then also
// wrapping pki.ErrNoSSHEncoding). Headers are never read.
func (a *Authenticator) Authenticate(r *http.Request, allowlist string) (auth.Principal, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return auth.Principal{}, auth.ErrNoCredentials
	}
	leaf, err := a.verify(r.TLS.PeerCertificates)
	if err != nil {
		return auth.Principal{}, err
	}
	p := auth.Principal{Method: Method, Subject: leaf.Subject.String()}
	p.Fingerprint, err = pki.Fingerprint(leaf.PublicKey)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrNotAllowlisted, err)
	}
	set, ok := a.allow[allowlist]
	if !ok {
		return auth.Principal{}, fmt.Errorf("%w: allowlist %q is not configured", auth.ErrNotAllowlisted, allowlist)
	}
	if _, ok := set[p.Fingerprint]; !ok {
		return auth.Principal{}, fmt.Errorf("%w: %s is not in allowlist %q", auth.ErrNotAllowlisted, pki.FormatFingerprint(p.Fingerprint), allowlist)
	}
	return p, nil
}

// VerifyConnection verifies the client certificate chain of cs, if there is
// one, by the rules Authenticate applies; it does not look at allowlists.
// Set it as tls.Config.VerifyConnection to refuse, during the handshake,
// certificates that fail verification, while clients without a certificate
// still reach HTTP. Errors wrap auth.ErrBadCertificate.
func (a *Authenticator) VerifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	_, err := a.verify(cs.PeerCertificates)
	return err
}

// verify checks peer (leaf first) against the roots and returns the leaf.
//
// A chain that verified is remembered, keyed by the hash of every presented
// certificate, with the window in which all certificates of its verified
// path are valid: inside that window verification cannot give another
// answer (the roots and options never change), so a later request on the
// same connection, a resumed session, or the handler check after
// VerifyConnection skips the signature checks. Outside it, the chain is
// verified again. The cache is bounded by maxVerifiedChains.
func (a *Authenticator) verify(peer []*x509.Certificate) (*x509.Certificate, error) {
	if len(peer) > maxPeerCertificates {
		return nil, fmt.Errorf("%w: %d certificates presented, at most %d accepted", auth.ErrBadCertificate, len(peer), maxPeerCertificates)
	}
	leaf, now := peer[0], a.now()
	key := chainKey(peer)
	a.mu.Lock()
	v, ok := a.verified[key]
	a.mu.Unlock()
	if ok && v.contains(now) {
		return leaf, nil
	}

	opts := x509.VerifyOptions{
		Roots:       a.roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(peer) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range peer[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", auth.ErrBadCertificate, err)
	}
	// A chain is leaf, intermediates, root.
	for _, c := range chains {
		if len(c)-2 <= a.maxInterm {
			a.remember(key, c)
			return leaf, nil
		}
	}
	return nil, fmt.Errorf("%w: chain needs more than %d intermediate certificates", auth.ErrBadCertificate, a.maxInterm)
}

// remember records that the presented chain with hash key verified through
// path.
func (a *Authenticator) remember(key [32]byte, path []*x509.Certificate) {
	v := validity{notBefore: path[0].NotBefore, notAfter: path[0].NotAfter}
	for _, c := range path[1:] {
		if c.NotBefore.After(v.notBefore) {
			v.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(v.notAfter) {
			v.notAfter = c.NotAfter
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= maxVerifiedChains {
		for k := range a.verified { // evict an arbitrary entry
			delete(a.verified, k)
			break
		}
	}
	a.verified[key] = v
}

// chainKey hashes the DER of every presented certificate, length-prefixed.
func chainKey(peer []*x509.Certificate) [32]byte {
	h := sha256.New()
	var n [4]byte
	for _, c := range peer {
		binary.BigEndian.PutUint32(n[:], uint32(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}
