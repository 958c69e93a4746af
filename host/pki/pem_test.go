package pki_test

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
)

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParseCertificates(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	inter := pk.Issue(t, nil, &x509.Certificate{
		Subject:               pkitest.ClientTemplate("intermediate").Subject,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	leaf := pk.Issue(t, &inter, nil, nil)

	tests := []struct {
		name string
		in   string
		want []*x509.Certificate
	}{
		{"one", pk.Client.CertPEM, []*x509.Certificate{pk.Client.Leaf()}},
		{"chain", leaf.CertPEM, []*x509.Certificate{leaf.Leaf(), inter.Leaf()}},
		{"bundle", pk.CAPEM + pk.ForeignCA.CertPEM, []*x509.Certificate{pk.CA.Leaf(), pk.ForeignCA.Leaf()}},
		{"text around blocks", "Bag Attributes\n  friendlyName: x\nsubject=CN = allowed\n" + pk.Client.CertPEM + "\n\ntrailing words\n",
			[]*x509.Certificate{pk.Client.Leaf()}},
		{"CRLF line endings", strings.ReplaceAll(pk.Client.CertPEM, "\n", "\r\n"), []*x509.Certificate{pk.Client.Leaf()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pki.ParseCertificates([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("certificate %d is %q, want %q", i, got[i].Subject, tt.want[i].Subject)
				}
			}
		})
	}
}

func TestParseCertificates_Errors(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	truncated := pk.Client.CertPEM[:len(pk.Client.CertPEM)-30]
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no PEM certificate found"},
		{"not PEM", "hello", "no PEM certificate found"},
		{"a key", pk.Client.KeyPEM, `PEM block 1 is "PRIVATE KEY", want "CERTIFICATE"`},
		{"certificate then key", pk.Client.CertPEM + pk.Client.KeyPEM, `PEM block 2 is "PRIVATE KEY"`},
		{"truncated", truncated, "malformed PEM: 1 of 1 blocks"},
		{"malformed between good ones", pk.CAPEM + truncated + pk.CAPEM, "malformed PEM"},
		{"bad DER", pemBlock("CERTIFICATE", []byte{0x30, 0x03, 1, 2, 3}), "PEM block 1: x509:"},
		{"long block type", pemBlock(strings.Repeat("X", 500), []byte{1}), `"` + strings.Repeat("X", 40) + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.ParseCertificates([]byte(tt.in))
			if err == nil {
				t.Fatal("ParseCertificates succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "pki: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// keyForms returns a key of each supported type in each PEM form.
func keyForms(t *testing.T) []struct {
	name string
	pem  string
	key  crypto.Signer
} {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	// `openssl ecparam -genkey` writes the curve OID first.
	params, err := asn1.Marshal(asn1.ObjectIdentifier{1, 3, 132, 0, 34})
	if err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		pem  string
		key  crypto.Signer
	}{
		{"RSA PKCS#1", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), rsaKey},
		{"RSA PKCS#8", pemBlock("PRIVATE KEY", pkcs8(rsaKey)), rsaKey},
		{"RSA PKCS#8 labelled PKCS#1", pemBlock("RSA PRIVATE KEY", pkcs8(rsaKey)), rsaKey},
		{"EC SEC 1", pemBlock("EC PRIVATE KEY", sec1), ecKey},
		{"EC SEC 1 after EC PARAMETERS", pemBlock("EC PARAMETERS", params) + pemBlock("EC PRIVATE KEY", sec1), ecKey},
		{"EC PKCS#8", pemBlock("PRIVATE KEY", pkcs8(ecKey)), ecKey},
		{"Ed25519 PKCS#8", pemBlock("PRIVATE KEY", pkcs8(edKey)), edKey},
	}
}

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	forms := keyForms(t)
	forms = append(forms, struct {
		name string
		pem  string
		key  crypto.Signer
	}{"certificate and key in one file", pk.Client.CertPEM + pk.Client.KeyPEM, pk.Client.TLS.PrivateKey.(crypto.Signer)})
	for _, tt := range forms {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pki.ParsePrivateKey([]byte(tt.pem))
			if err != nil {
				t.Fatal(err)
			}
			if !got.(interface{ Equal(crypto.PrivateKey) bool }).Equal(tt.key) {
				t.Error("parsed key differs")
			}
		})
	}
}

func TestParsePrivateKey_Errors(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	xDER, err := x509.MarshalPKCS8PrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	// A real key with its DER cut short: the error must not carry its bytes.
	keyBlock, _ := pem.Decode([]byte(pk.Client.KeyPEM))
	cut := keyBlock.Bytes[:len(keyBlock.Bytes)-10]
	legacy := string(pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte{1, 2, 3},
	}))
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no PEM private key found"},
		{"only a certificate", pk.Client.CertPEM, "no PEM private key found"},
		{"two keys", pk.Client.KeyPEM + pk.Stranger.KeyPEM, "more than one private key"},
		{"PKCS#8 encrypted", pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "encrypted private keys are not supported"},
		{"legacy encrypted", legacy, "encrypted private keys are not supported"},
		{"X25519", pemBlock("PRIVATE KEY", xDER), "cannot sign"},
		{"public key", pemBlock("PUBLIC KEY", []byte{1}), `PEM block 1 is "PUBLIC KEY", want a private key`},
		{"truncated DER", pemBlock("PRIVATE KEY", cut), `pki: parse "PRIVATE KEY" block: `},
		{"truncated PEM", pk.Client.KeyPEM[:60], "malformed PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := pki.ParsePrivateKey([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParsePrivateKey succeeded with %T", k)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			assertNoKeyMaterial(t, err, tt.in)
		})
	}
}

// assertNoKeyMaterial fails if err repeats any 8-character run of the base64
// body or any 4-byte run of the DER of the PEM blocks in in.
func assertNoKeyMaterial(t *testing.T, err error, in string) {
	t.Helper()
	msg := err.Error()
	rest := []byte(in)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return
		}
		for i := 0; i+4 <= len(b.Bytes); i++ {
			if strings.Contains(msg, string(b.Bytes[i:i+4])) {
				t.Fatalf("error %q contains key bytes", msg)
			}
		}
		body := strings.Join(strings.Fields(strings.Split(string(pem.EncodeToMemory(b)), "-----")[4]), "")
		for i := 0; i+8 <= len(body); i++ {
			if strings.Contains(msg, body[i:i+8]) {
				t.Fatalf("error %q contains base64 key material", msg)
			}
		}
	}
}

func TestX509KeyPair(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	inter := pk.Issue(t, nil, &x509.Certificate{
		Subject:               pkitest.ClientTemplate("intermediate").Subject,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	leaf := pk.Issue(t, &inter, nil, nil)

	t.Run("leaf", func(t *testing.T) {
		c, err := pki.X509KeyPair([]byte(pk.Server.CertPEM), []byte(pk.Server.KeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Certificate) != 1 || c.Leaf == nil || !c.Leaf.Equal(pk.Server.Leaf()) {
			t.Errorf("unexpected certificate: %d in chain, leaf %v", len(c.Certificate), c.Leaf)
		}
	})
	t.Run("chain with CA", func(t *testing.T) {
		c, err := pki.X509KeyPair([]byte(leaf.CertPEM+pk.CAPEM), []byte(leaf.KeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Certificate) != 3 || !c.Leaf.Equal(leaf.Leaf()) {
			t.Errorf("got %d certificates, want 3 with the leaf first", len(c.Certificate))
		}
	})
	t.Run("RSA CA-style leaf", func(t *testing.T) {
		if _, err := pki.X509KeyPair([]byte(pk.RSACAStyleLeaf.CertPEM), []byte(pk.RSACAStyleLeaf.KeyPEM)); err != nil {
			t.Fatal(err)
		}
	})

	errs := []struct {
		name      string
		cert, key string
		want      string
	}{
		{"key of another certificate", pk.Server.CertPEM, pk.Client.KeyPEM, "does not match"},
		{"chain in the wrong order", pk.CAPEM + pk.Server.CertPEM, pk.Server.KeyPEM, "does not match"},
		{"no certificate", "", pk.Server.KeyPEM, "no PEM certificate found"},
		{"arguments swapped", pk.Server.KeyPEM, pk.Server.CertPEM, `is "PRIVATE KEY", want "CERTIFICATE"`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.X509KeyPair([]byte(tt.cert), []byte(tt.key))
			if err == nil {
				t.Fatal("X509KeyPair succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			assertNoKeyMaterial(t, err, pk.Server.KeyPEM+pk.Client.KeyPEM)
		})
	}
}
