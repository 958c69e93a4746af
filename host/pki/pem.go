package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types.
const (
	pemCertificate  = "CERTIFICATE"
	pemPKCS8        = "PRIVATE KEY"
	pemPKCS1        = "RSA PRIVATE KEY"
	pemSEC1         = "EC PRIVATE KEY"
	pemECParameters = "EC PARAMETERS"
	pemEncrypted    = "ENCRYPTED PRIVATE KEY"
)

// maxBlockTypeInError bounds how much of an unexpected PEM block type an
// error repeats.
const maxBlockTypeInError = 40

var pemBegin = []byte("-----BEGIN ")

// decodePEM returns every PEM block of data in order. Text around blocks is
// ignored, as OpenSSL does, but a block that starts and cannot be decoded is
// an error instead of being skipped.
func decodePEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if n := bytes.Count(data, pemBegin); n != len(blocks) {
		return nil, fmt.Errorf("pki: malformed PEM: %d of %d blocks could not be decoded", n-len(blocks), n)
	}
	return blocks, nil
}

func blockType(t string) string {
	if len(t) > maxBlockTypeInError {
		t = t[:maxBlockTypeInError] + "..."
	}
	return fmt.Sprintf("%q", t)
}

// ParseCertificates parses every "CERTIFICATE" block of data, in order (a
// leaf followed by its chain, or a CA bundle). Text between blocks is
// ignored; any other block type, a malformed block or no certificate at all
// is an error.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for i, b := range blocks {
		if b.Type != pemCertificate {
			return nil, fmt.Errorf("pki: PEM block %d is %s, want %q", i+1, blockType(b.Type), pemCertificate)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: PEM block %d: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("pki: no PEM certificate found")
	}
	return certs, nil
}

// ParsePrivateKey parses the one private key in data: PKCS#8 ("PRIVATE KEY":
// RSA, ECDSA or Ed25519), PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE
// KEY"). "EC PARAMETERS" and "CERTIFICATE" blocks next to the key are
// skipped, so the output of `openssl ecparam -genkey` and combined
// certificate-and-key files are accepted. Encrypted keys, other block types,
// key types that cannot sign, and more than one key are errors.
//
// Errors never contain key material.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	var key *pem.Block
	for i, b := range blocks {
		switch b.Type {
		case pemCertificate, pemECParameters:
			continue
		case pemPKCS8, pemPKCS1, pemSEC1:
			if _, encrypted := b.Headers["DEK-Info"]; encrypted || b.Headers["Proc-Type"] != "" {
				return nil, errors.New("pki: encrypted private keys are not supported")
			}
			if key != nil {
				return nil, errors.New("pki: more than one private key found")
			}
			key = b
		case pemEncrypted:
			return nil, errors.New("pki: encrypted private keys are not supported")
		default:
			return nil, fmt.Errorf("pki: PEM block %d is %s, want a private key", i+1, blockType(b.Type))
		}
	}
	if key == nil {
		return nil, errors.New("pki: no PEM private key found")
	}
	k, err := parseKeyDER(key)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// parseKeyDER parses the DER in b, trying the format its type names first
// and then the others (some tools label PKCS#8 keys "RSA PRIVATE KEY").
func parseKeyDER(b *pem.Block) (crypto.Signer, error) {
	type parser func([]byte) (any, error)
	pkcs8 := x509.ParsePKCS8PrivateKey
	pkcs1 := func(der []byte) (any, error) { return x509.ParsePKCS1PrivateKey(der) }
	sec1 := func(der []byte) (any, error) { return x509.ParseECPrivateKey(der) }
	var order []parser
	switch b.Type {
	case pemPKCS1:
		order = []parser{pkcs1, pkcs8, sec1}
	case pemSEC1:
		order = []parser{sec1, pkcs8, pkcs1}
	default:
		order = []parser{pkcs8, pkcs1, sec1}
	}
	var first error
	for _, parse := range order {
		k, err := parse(b.Bytes)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		switch k := k.(type) {
		case crypto.Signer:
			return k, nil
		case *ecdh.PrivateKey:
			return nil, errors.New("pki: private key is an X25519/ECDH key, which cannot sign")
		default:
			return nil, fmt.Errorf("pki: unsupported private key type %T", k)
		}
	}
	return nil, fmt.Errorf("pki: parse %q block: %w", b.Type, first)
}

// X509KeyPair parses a certificate chain (leaf first, then any
// intermediates or the CA) and its private key, and checks that the key
// belongs to the leaf. The result has Leaf set. Unlike [tls.X509KeyPair] it
// accepts every format [ParsePrivateKey] does.
func X509KeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ParsePrivateKey(keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	if !keyMatches(key, certs[0].PublicKey) {
		return tls.Certificate{}, errors.New("pki: private key does not match the public key of the first certificate")
	}
	raw := make([][]byte, len(certs))
	for i, c := range certs {
		raw[i] = c.Raw
	}
	return tls.Certificate{Certificate: raw, PrivateKey: key, Leaf: certs[0]}, nil
}

func keyMatches(key crypto.Signer, pub crypto.PublicKey) bool {
	p, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && p.Equal(pub)
}
