package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyAlgorithm selects the key type of a development PKI.
type KeyAlgorithm string

// Key algorithms of a development PKI. Both are fast to generate and have a
// fingerprint.
const (
	// ECDSAP256 is ECDSA on P-256, understood by every TLS client; the
	// default.
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	// Ed25519 keys work with Go, OpenSSL 1.1.1+ and curl, but not with web
	// browsers.
	Ed25519 KeyAlgorithm = "ed25519"
)

// DefaultDevValidity is the lifetime of development certificates when
// [DevOptions].Validity is zero.
const DefaultDevValidity = 365 * 24 * time.Hour

// File names in a development PKI directory. Keys are PKCS#8 PEM with mode
// 0600; certificates are PEM with mode 0644.
const (
	DevCACertFile     = "ca.crt"
	DevCAKeyFile      = "ca.key"
	DevServerCertFile = "server.crt"
	DevServerKeyFile  = "server.key"
	DevClientCertFile = "client.crt"
	DevClientKeyFile  = "client.key"
)

var devFiles = []string{DevCACertFile, DevCAKeyFile, DevServerCertFile, DevServerKeyFile, DevClientCertFile, DevClientKeyFile}

// devServerNames are always in the development server certificate.
var devServerNames = []string{"localhost", "127.0.0.1", "::1"}

// errNoDevPKI reports a directory holding none of the development files.
var errNoDevPKI = fmt.Errorf("pki: no development PKI: %w", fs.ErrNotExist)

// DevOptions configures [GenerateDev]. The zero value is ready to use.
type DevOptions struct {
	// Algorithm is the key type of new files; "" means ECDSAP256. Existing
	// files are reused whatever their key type.
	Algorithm KeyAlgorithm
	// Hosts are DNS names or IP addresses the server certificate must
	// cover in addition to localhost, 127.0.0.1 and ::1. Existing files
	// that do not cover them are an error.
	Hosts []string
	// Validity is the lifetime of new certificates; zero means
	// DefaultDevValidity.
	Validity time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// DevPKI describes a development PKI on disk: absolute file paths and the
// fingerprints to allowlist.
type DevPKI struct {
	Dir string // absolute directory

	CACert, CAKey         string // the CA, trusted for client certificates
	ServerCert, ServerKey string // the server identity (serverAuth)
	ClientCert, ClientKey string // the development client (clientAuth)

	// ClientFingerprint is the fingerprint of the development client, the
	// entry a development allowlist holds.
	ClientFingerprint [32]byte
	// ServerFingerprint is the fingerprint of the server key.
	ServerFingerprint [32]byte
	// NotAfter is the earliest expiry of the three certificates.
	NotAfter time.Time
	// Created is true when this call wrote the files, false when it
	// reused them.
	Created bool
}

// GenerateDev returns the development PKI in dir, creating it first if dir
// holds none of its files. The directory is created with mode 0700 if
// missing (an existing directory keeps its mode); each file is written
// atomically, keys with mode 0600.
//
// Existing files are reused only if all six are present, parse, belong
// together (each key matches its certificate, the server and client
// certificates verify against the CA for serverAuth and clientAuth at the
// current time) and the server certificate covers opts.Hosts. Otherwise
// GenerateDev returns an error and changes nothing: delete the files to get
// new ones. Two processes creating the same directory at once may leave a
// mixed set, which the next call reports.
func GenerateDev(dir string, opts DevOptions) (*DevPKI, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: dev PKI directory: %w", err)
	}
	d, err := loadDev(dir, opts)
	switch {
	case err == nil:
		return d, nil
	case !errors.Is(err, errNoDevPKI):
		return nil, fmt.Errorf("%w (remove ca.*, server.* and client.* in %s to generate new ones)", err, dir)
	}
	files, err := newDevFiles(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: create dev PKI directory: %w", err)
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return nil, err
		}
	}
	syncDir(dir)
	d, err = loadDev(dir, opts)
	if err != nil {
		return nil, err
	}
	d.Created = true
	return d, nil
}

// LoadDev returns the development PKI in dir, checked as [GenerateDev]
// checks existing files, at the current time. If dir holds none of its
// files the error wraps [fs.ErrNotExist].
func LoadDev(dir string) (*DevPKI, error) {
	opts, err := DevOptions{}.normalize()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pki: dev PKI directory: %w", err)
	}
	return loadDev(dir, opts)
}

func (o DevOptions) normalize() (DevOptions, error) {
	switch o.Algorithm {
	case "":
		o.Algorithm = ECDSAP256
	case ECDSAP256, Ed25519:
	default:
		return o, fmt.Errorf("pki: unknown key algorithm %q (want %q or %q)", o.Algorithm, ECDSAP256, Ed25519)
	}
	switch {
	case o.Validity == 0:
		o.Validity = DefaultDevValidity
	case o.Validity < 0:
		return o, fmt.Errorf("pki: negative certificate validity %v", o.Validity)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, h := range o.Hosts {
		if h == "" {
			return o, errors.New("pki: empty host name")
		}
	}
	return o, nil
}

type devFile struct {
	name string
	data []byte
	perm os.FileMode
}

// newDevFiles creates the CA, server and client keys and certificates.
func newDevFiles(opts DevOptions) ([]devFile, error) {
	now := opts.Now()
	notBefore, notAfter := now.Add(-5*time.Minute), now.Add(opts.Validity)

	caKey, err := newDevKey(opts.Algorithm)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "osohost development CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: create dev CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("pki: create dev CA: %w", err)
	}

	serverTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range append(devServerNames[:len(devServerNames):len(devServerNames)], opts.Hosts...) {
		if ip := net.ParseIP(h); ip != nil {
			serverTmpl.IPAddresses = append(serverTmpl.IPAddresses, ip)
		} else {
			serverTmpl.DNSNames = append(serverTmpl.DNSNames, h)
		}
	}
	clientTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "osohost development client"},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}

	caKeyPEM, err := encodeKey(caKey)
	if err != nil {
		return nil, err
	}
	files := []devFile{
		{DevCAKeyFile, caKeyPEM, 0o600},
		{DevCACertFile, encodeCert(caDER), 0o644},
	}
	for _, leaf := range []struct {
		tmpl              *x509.Certificate
		certFile, keyFile string
	}{
		{serverTmpl, DevServerCertFile, DevServerKeyFile},
		{clientTmpl, DevClientCertFile, DevClientKeyFile},
	} {
		key, err := newDevKey(opts.Algorithm)
		if err != nil {
			return nil, err
		}
		der, err := x509.CreateCertificate(rand.Reader, leaf.tmpl, ca, key.Public(), caKey)
		if err != nil {
			return nil, fmt.Errorf("pki: create dev %s: %w", leaf.certFile, err)
		}
		keyPEM, err := encodeKey(key)
		if err != nil {
			return nil, err
		}
		files = append(files, devFile{leaf.keyFile, keyPEM, 0o600}, devFile{leaf.certFile, encodeCert(der), 0o644})
	}
	return files, nil
}

func newDevKey(alg KeyAlgorithm) (crypto.Signer, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case Ed25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: generate %s key: %w", alg, err)
	}
	return k, nil
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pki: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8, Bytes: der}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der})
}

// writeFileAtomic writes data to a temporary file in the same directory with
// mode perm, syncs it and renames it to path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("pki: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// syncDir makes renames in dir durable where the platform allows it; a
// failure only weakens durability, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// loadDev reads and checks the development files in dir. It returns
// errNoDevPKI when none of them exists.
func loadDev(dir string, opts DevOptions) (*DevPKI, error) {
	data := make(map[string][]byte, len(devFiles))
	var missing []string
	for _, name := range devFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, name)
		case err != nil:
			return nil, fmt.Errorf("pki: dev PKI: %w", err)
		default:
			data[name] = b
		}
	}
	switch {
	case len(missing) == len(devFiles):
		return nil, fmt.Errorf("%w in %s", errNoDevPKI, dir)
	case len(missing) > 0:
		return nil, fmt.Errorf("pki: dev PKI in %s is incomplete: missing %q", dir, missing)
	}
	fail := func(name string, err error) error {
		return fmt.Errorf("pki: dev PKI in %s: %s: %w", dir, name, err)
	}

	cas, err := ParseCertificates(data[DevCACertFile])
	if err != nil {
		return nil, fail(DevCACertFile, err)
	}
	if len(cas) != 1 || !cas[0].IsCA {
		return nil, fail(DevCACertFile, errors.New("want exactly one CA certificate"))
	}
	ca := cas[0]
	caKey, err := ParsePrivateKey(data[DevCAKeyFile])
	if err != nil {
		return nil, fail(DevCAKeyFile, err)
	}
	if !keyMatches(caKey, ca.PublicKey) {
		return nil, fail(DevCAKeyFile, errors.New("key does not match "+DevCACertFile))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	now := opts.Now()

	server, err := X509KeyPair(data[DevServerCertFile], data[DevServerKeyFile])
	if err != nil {
		return nil, fail(DevServerCertFile, err)
	}
	if _, err := server.Leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		DNSName:     "localhost",
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fail(DevServerCertFile, err)
	}
	for _, h := range append(devServerNames[:len(devServerNames):len(devServerNames)], opts.Hosts...) {
		if err := server.Leaf.VerifyHostname(h); err != nil {
			return nil, fail(DevServerCertFile, err)
		}
	}
	client, err := X509KeyPair(data[DevClientCertFile], data[DevClientKeyFile])
	if err != nil {
		return nil, fail(DevClientCertFile, err)
	}
	if _, err := client.Leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fail(DevClientCertFile, err)
	}

	d := &DevPKI{
		Dir:        dir,
		CACert:     filepath.Join(dir, DevCACertFile),
		CAKey:      filepath.Join(dir, DevCAKeyFile),
		ServerCert: filepath.Join(dir, DevServerCertFile),
		ServerKey:  filepath.Join(dir, DevServerKeyFile),
		ClientCert: filepath.Join(dir, DevClientCertFile),
		ClientKey:  filepath.Join(dir, DevClientKeyFile),
		NotAfter:   ca.NotAfter,
	}
	if d.ServerFingerprint, err = Fingerprint(server.Leaf.PublicKey); err != nil {
		return nil, fail(DevServerCertFile, err)
	}
	if d.ClientFingerprint, err = Fingerprint(client.Leaf.PublicKey); err != nil {
		return nil, fail(DevClientCertFile, err)
	}
	for _, c := range []*x509.Certificate{server.Leaf, client.Leaf} {
		if c.NotAfter.Before(d.NotAfter) {
			d.NotAfter = c.NotAfter
		}
	}
	return d, nil
}
