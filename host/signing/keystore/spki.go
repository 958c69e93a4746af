package keystore

import (
	"crypto/ed25519"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/osohost/osohost/host/signing"
)

// Object identifiers of the two key types' SubjectPublicKeyInfo.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1} // id-ecPublicKey (RFC 5480)
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}       // secp256k1 (SEC 2)
	oidEd25519     = asn1.ObjectIdentifier{1, 3, 101, 112}         // id-Ed25519 (RFC 8410)
)

type spkiDER struct {
	Algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	PublicKey asn1.BitString
}

// ErrBadPublicKey reports a .pub (or a public key given to [MarshalSPKI])
// that is not a SubjectPublicKeyInfo of the expected type.
var ErrBadPublicKey = errors.New("keystore: bad public key")

// ParseSPKI checks that der is a SubjectPublicKeyInfo for a key of type t
// and returns the SPKI alone (without trailing bytes) and the raw public
// key: the curve point as encoded (65 bytes uncompressed, or 33
// compressed) for SECP256K1, the 32-byte key for ED25519.
//
// SECP256K1 is parsed leniently: bytes after the SPKI are ignored (an HSM
// may append data, and the framework stored what the HSM returned). The
// algorithm must be id-ecPublicKey with the curve secp256k1 and the point
// must be on the curve. ED25519 is parsed strictly as RFC 8410 (the
// 44-byte form the framework writes).
func ParseSPKI(t signing.KeyType, der []byte) (spki, key []byte, err error) {
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	var s spkiDER
	if more, err := asn1.Unmarshal(raw.FullBytes, &s); err != nil || len(more) > 0 {
		return nil, nil, fmt.Errorf("%w: not a SubjectPublicKeyInfo", ErrBadPublicKey)
	}
	if s.PublicKey.BitLength%8 != 0 {
		return nil, nil, fmt.Errorf("%w: key is not a whole number of bytes", ErrBadPublicKey)
	}
	key = s.PublicKey.Bytes
	switch t {
	case signing.Secp256k1:
		var curve asn1.ObjectIdentifier
		if !s.Algorithm.Algorithm.Equal(oidECPublicKey) {
			return nil, nil, fmt.Errorf("%w: algorithm %v is not id-ecPublicKey", ErrBadPublicKey, s.Algorithm.Algorithm)
		}
		if more, err := asn1.Unmarshal(s.Algorithm.Parameters.FullBytes, &curve); err != nil || len(more) > 0 || !curve.Equal(oidSecp256k1) {
			return nil, nil, fmt.Errorf("%w: curve is not secp256k1", ErrBadPublicKey)
		}
		if _, err := secp256k1.ParsePubKey(key); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
		}
	case signing.Ed25519:
		if len(rest) > 0 {
			return nil, nil, fmt.Errorf("%w: %d bytes after the SubjectPublicKeyInfo", ErrBadPublicKey, len(rest))
		}
		if !s.Algorithm.Algorithm.Equal(oidEd25519) || len(s.Algorithm.Parameters.FullBytes) != 0 {
			return nil, nil, fmt.Errorf("%w: algorithm is not id-Ed25519 without parameters", ErrBadPublicKey)
		}
		if len(key) != ed25519.PublicKeySize {
			return nil, nil, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrBadPublicKey, len(key))
		}
	default:
		return nil, nil, fmt.Errorf("keystore: %q: %w", t, signing.ErrUnsupportedKey)
	}
	return raw.FullBytes, key, nil
}

// MarshalSPKI returns the SubjectPublicKeyInfo DER of a raw public key of
// type t. For SECP256K1, key is a point in any form [ParseSPKI] returns and
// is written uncompressed, with id-ecPublicKey and the curve OID
// 1.3.132.0.10 (RFC 5480); for ED25519, key is 32 bytes and the result the
// 44-byte RFC 8410 form.
func MarshalSPKI(t signing.KeyType, key []byte) ([]byte, error) {
	var alg, point []byte
	var err error
	switch t {
	case signing.Secp256k1:
		pk, perr := secp256k1.ParsePubKey(key)
		if perr != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPublicKey, perr)
		}
		point = pk.SerializeUncompressed()
		alg, err = asn1.Marshal(struct {
			Algorithm asn1.ObjectIdentifier
			Curve     asn1.ObjectIdentifier
		}{oidECPublicKey, oidSecp256k1})
	case signing.Ed25519:
		if len(key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrBadPublicKey, len(key))
		}
		point = key
		alg, err = asn1.Marshal(struct{ Algorithm asn1.ObjectIdentifier }{oidEd25519})
	default:
		return nil, fmt.Errorf("keystore: %q: %w", t, signing.ErrUnsupportedKey)
	}
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}{asn1.RawValue{FullBytes: alg}, asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
}
