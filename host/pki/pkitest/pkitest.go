package pkitest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki"
)

// Identity is one certificate with its key, in the forms tests need.
type Identity struct {
	// TLS is the chain (the leaf, then any intermediates, never the root)
	// with the private key and Leaf set, ready for tls.Config.Certificates.
	TLS tls.Certificate
	// CertPEM is TLS.Certificate as PEM, in the same order.
	CertPEM string
	// KeyPEM is the private key as PKCS#8 PEM.
	KeyPEM string
	// Fingerprint is pki.Fingerprint of the leaf key, or zero when the key
	// has no OpenSSH encoding.
	Fingerprint [32]byte

	root bool // self-signed: omitted from the chains of what it issues
}

// Leaf returns the parsed leaf certificate.
func (id *Identity) Leaf() *x509.Certificate { return id.TLS.Leaf }

// PKI is a test PKI. All certificates except Foreign are issued by CA.
type PKI struct {
	// CA is the root trusted for client certificates (CERTS__CA). Roots are
	// valid from a week ago for a month.
	CA Identity
	// CAPool holds CA only.
	CAPool *x509.CertPool
	// CAPEM is CA.CertPEM.
	CAPEM string

	// Server is a serverAuth certificate for localhost, 127.0.0.1 and ::1
	// (ECDSA P-256).
	Server Identity
	// Client is a clientAuth certificate (ECDSA P-256) in Allowlist.
	Client Identity
	// Stranger is a clientAuth certificate from CA that is not in Allowlist.
	Stranger Identity
	// Expired is a clientAuth certificate from CA, in Allowlist, that
	// expired a day ago.
	Expired Identity
	// RSACAStyleLeaf is shaped like the framework's deployment client
	// certificates: an RSA key, basic constraints CA:TRUE, and no SAN, key
	// usage or extended key usage. It is in Allowlist. Deployments use
	// RSA-4096; this key is RSA-2048 because generating 4096-bit keys costs
	// up to a second per test, and the size changes nothing in the checks.
	RSACAStyleLeaf Identity
	// NoSSHEncoding is a clientAuth certificate from CA whose key (ECDSA
	// P-224) has no OpenSSH encoding, so its Fingerprint is zero. Go's TLS
	// 1.3 stack cannot sign a handshake with a P-224 key, so use it in
	// hand-built tls.ConnectionState values, not in real handshakes.
	NoSSHEncoding Identity

	// ForeignCA is an unrelated root.
	ForeignCA Identity
	// Foreign is a clientAuth certificate issued by ForeignCA.
	Foreign Identity

	// Allowlist holds the fingerprints of Client, Expired and
	// RSACAStyleLeaf.
	Allowlist [][32]byte
}

// New creates a fresh PKI. It calls t.Fatal on failure.
func New(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{}
	p.CA = newRoot(t, "osohost test CA")
	p.CAPool = x509.NewCertPool()
	p.CAPool.AddCert(p.CA.TLS.Leaf)
	p.CAPEM = p.CA.CertPEM

	p.Server = p.Issue(t, nil, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, nil)
	p.Client = p.Issue(t, nil, ClientTemplate("allowed"), nil)
	p.Stranger = p.Issue(t, nil, ClientTemplate("stranger"), nil)

	expired := ClientTemplate("expired")
	expired.NotBefore = time.Now().Add(-48 * time.Hour)
	expired.NotAfter = time.Now().Add(-24 * time.Hour)
	p.Expired = p.Issue(t, nil, expired, nil)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("pkitest: generate RSA key: %v", err)
	}
	p.RSACAStyleLeaf = p.Issue(t, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "rsa-ca-style"},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, rsaKey)

	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatalf("pkitest: generate P-224 key: %v", err)
	}
	p.NoSSHEncoding = p.Issue(t, nil, ClientTemplate("no-ssh-encoding"), p224)

	p.ForeignCA = newRoot(t, "osohost foreign CA")
	p.Foreign = p.Issue(t, &p.ForeignCA, ClientTemplate("allowed"), nil)

	p.Allowlist = [][32]byte{p.Client.Fingerprint, p.Expired.Fingerprint, p.RSACAStyleLeaf.Fingerprint}
	return p
}

// ClientTemplate returns a template for a clientAuth leaf with the given
// common name, valid from an hour ago for a day.
func ClientTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// Issue signs template with parent (nil means p.CA) for key (nil means a
// new ECDSA P-256 key). A zero NotBefore or NotAfter in template becomes an
// hour ago or a day from now. If template is a CA the result can be the
// parent of further calls; the chains of its leaves then include it. It
// calls t.Fatal on failure.
func (p *PKI) Issue(t testing.TB, parent *Identity, template *x509.Certificate, key crypto.Signer) Identity {
	t.Helper()
	if parent == nil {
		parent = &p.CA
	}
	if template == nil {
		template = ClientTemplate("client")
	}
	if key == nil {
		key = newKey(t)
	}
	tmpl := *template
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	signer, ok := parent.TLS.PrivateKey.(crypto.Signer)
	if !ok {
		t.Fatalf("pkitest: parent %q has no signing key", parent.TLS.Leaf.Subject)
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent.TLS.Leaf, key.Public(), signer)
	if err != nil {
		t.Fatalf("pkitest: issue %q: %v", tmpl.Subject, err)
	}
	chain := [][]byte{der}
	if !parent.root {
		chain = append(chain, parent.TLS.Certificate...)
	}
	return newIdentity(t, chain, key)
}

// ClientTLS returns a TLS 1.3 client configuration that trusts p.CA and
// presents id, or no certificate when id is nil.
func (p *PKI) ClientTLS(id *Identity) *tls.Config {
	c := &tls.Config{RootCAs: p.CAPool, MinVersion: tls.VersionTLS13}
	if id != nil {
		c.Certificates = []tls.Certificate{id.TLS}
	}
	return c
}

// WriteFiles writes every identity of p as <name>.crt and <name>.key
// (mode 0600) into a new t.TempDir() and returns its path. Names are ca,
// server, client, stranger, expired, rsa-ca-style, no-ssh-encoding,
// foreign-ca and foreign.
func (p *PKI) WriteFiles(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for name, id := range map[string]*Identity{
		"ca": &p.CA, "server": &p.Server, "client": &p.Client, "stranger": &p.Stranger,
		"expired": &p.Expired, "rsa-ca-style": &p.RSACAStyleLeaf,
		"no-ssh-encoding": &p.NoSSHEncoding, "foreign-ca": &p.ForeignCA, "foreign": &p.Foreign,
	} {
		if err := os.WriteFile(filepath.Join(dir, name+".crt"), []byte(id.CertPEM), 0o644); err != nil {
			t.Fatalf("pkitest: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".key"), []byte(id.KeyPEM), 0o600); err != nil {
			t.Fatalf("pkitest: %v", err)
		}
	}
	return dir
}

func newRoot(t testing.TB, cn string) Identity {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-7 * 24 * time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("pkitest: create root %q: %v", cn, err)
	}
	id := newIdentity(t, [][]byte{der}, key)
	id.root = true
	return id
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("pkitest: generate key: %v", err)
	}
	return k
}

func newIdentity(t testing.TB, chain [][]byte, key crypto.Signer) Identity {
	t.Helper()
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatalf("pkitest: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("pkitest: %v", err)
	}
	var certPEM bytes.Buffer
	for _, der := range chain {
		_ = pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	id := Identity{
		TLS:     tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf},
		CertPEM: certPEM.String(),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}
	id.Fingerprint, err = pki.Fingerprint(leaf.PublicKey)
	if err != nil && !errors.Is(err, pki.ErrNoSSHEncoding) {
		t.Fatalf("pkitest: %v", err)
	}
	return id
}
