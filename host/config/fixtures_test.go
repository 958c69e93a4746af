package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateCerts = flag.Bool("update-certs", false, "regenerate the certificates and keys in testdata/certs")

// TestWriteCertFixtures regenerates testdata/certs, the certificates the
// golden cases use. They are valid from 2025 to 2125 so that the golden
// output (which shows expiry dates) stays fixed.
//
//	go test ./host/config -run TestWriteCertFixtures -update-certs -update
func TestWriteCertFixtures(t *testing.T) {
	if !*updateCerts {
		t.Skip("run with -update-certs to regenerate testdata/certs")
	}
	dir := filepath.Join("testdata", "certs")
	notBefore := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter := time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
	serial := int64(1)
	issue := func(cn string, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, ca bool) *x509.Certificate {
		t.Helper()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn},
			NotBefore:             notBefore,
			NotAfter:              notAfter,
			BasicConstraintsValid: true,
			IsCA:                  ca,
		}
		if ca {
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	write := func(name string, blocks ...*pem.Block) {
		t.Helper()
		var b []byte
		for _, blk := range blocks {
			b = append(b, pem.EncodeToMemory(blk)...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	certBlock := func(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }
	pkcs8 := func(k crypto.Signer) *pem.Block {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}

	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := issue("osohost test CA", caKey, nil, nil, true)
	write("ca.crt", certBlock(ca))
	_, ca2Key, _ := ed25519.GenerateKey(rand.Reader)
	ca2 := issue("osohost test CA 2", ca2Key, nil, nil, true)
	write("bundle.crt", certBlock(ca), certBlock(ca2))

	_, appKey, _ := ed25519.GenerateKey(rand.Reader)
	app := issue("app", appKey, ca, caKey, false)
	write("app.crt", certBlock(app), certBlock(ca))
	write("app.key", pkcs8(appKey))

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert := issue("rsa-ca-style", rsaKey, ca, caKey, true) // shaped like the framework's
	write("rsa.crt", certBlock(rsaCert))
	write("rsa.key", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})

	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecCert := issue("ec", ecKey, ca, caKey, false)
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	write("ec.crt", certBlock(ecCert))
	write("ec.key", &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}},
		&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	write("other.key", pkcs8(otherKey))
}
