package pkitest_test

import (
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
)

func verify(id *pkitest.Identity, roots *x509.CertPool) error {
	inter := x509.NewCertPool()
	for _, der := range id.TLS.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		inter.AddCert(c)
	}
	_, err := id.Leaf().Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err
}

func TestNew(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)

	for name, id := range map[string]*pkitest.Identity{
		"Client": &pk.Client, "Stranger": &pk.Stranger, "RSACAStyleLeaf": &pk.RSACAStyleLeaf, "NoSSHEncoding": &pk.NoSSHEncoding,
	} {
		if err := verify(id, pk.CAPool); err != nil {
			t.Errorf("%s does not verify for clientAuth: %v", name, err)
		}
		if got, err := pki.X509KeyPair([]byte(id.CertPEM), []byte(id.KeyPEM)); err != nil || !got.Leaf.Equal(id.Leaf()) {
			t.Errorf("%s PEM does not round-trip: %v", name, err)
		}
	}
	if err := verify(&pk.Foreign, pk.CAPool); err == nil {
		t.Error("Foreign verifies against CA")
	}
	if err := verify(&pk.Expired, pk.CAPool); err == nil {
		t.Error("Expired verifies")
	}
	if err := pk.Server.Leaf().VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}

	leaf := pk.RSACAStyleLeaf.Leaf()
	if _, ok := leaf.PublicKey.(*rsa.PublicKey); !ok || !leaf.IsCA || len(leaf.ExtKeyUsage) != 0 ||
		len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 0 || leaf.KeyUsage != 0 {
		t.Errorf("RSACAStyleLeaf: key %T, CA %v, EKU %v, SAN %v %v, KU %v", leaf.PublicKey, leaf.IsCA, leaf.ExtKeyUsage, leaf.DNSNames, leaf.IPAddresses, leaf.KeyUsage)
	}
	if pk.NoSSHEncoding.Fingerprint != ([32]byte{}) {
		t.Error("NoSSHEncoding has a fingerprint")
	}
	want := [][32]byte{pk.Client.Fingerprint, pk.Expired.Fingerprint, pk.RSACAStyleLeaf.Fingerprint}
	if !slices.Equal(pk.Allowlist, want) || slices.Contains(pk.Allowlist, pk.Stranger.Fingerprint) {
		t.Error("Allowlist is not Client, Expired, RSACAStyleLeaf")
	}
	if len(pk.Client.TLS.Certificate) != 1 {
		t.Errorf("Client chain has %d certificates, want the leaf only", len(pk.Client.TLS.Certificate))
	}
}

func TestPKI_Issue(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	inter := pk.Issue(t, nil, &x509.Certificate{
		Subject:               pkitest.ClientTemplate("intermediate").Subject,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	leaf := pk.Issue(t, &inter, pkitest.ClientTemplate("chained"), nil)
	if len(leaf.TLS.Certificate) != 2 {
		t.Fatalf("chain has %d certificates, want leaf and intermediate", len(leaf.TLS.Certificate))
	}
	if err := verify(&leaf, pk.CAPool); err != nil {
		t.Error(err)
	}
	if leaf.Leaf().NotAfter.Before(time.Now()) {
		t.Error("default validity is in the past")
	}
}

func TestPKI_WriteFiles(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	dir := pk.WriteFiles(t)
	b, err := os.ReadFile(filepath.Join(dir, "client.key"))
	if err != nil || string(b) != pk.Client.KeyPEM {
		t.Errorf("client.key: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("client.key mode %v, want 0600", st.Mode().Perm())
	}
}
