package grep11

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/osohost/osohost/host/signing"
	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
)

// signatureSize is the size of an Ed25519 signature and of a raw r||s
// ECDSA signature over secp256k1.
const signatureSize = 64

// digestSize is the size of the digest a SECP256K1 key signs.
const digestSize = 32

// ed25519SPKIPrefix is the RFC 8410 SubjectPublicKeyInfo of an Ed25519 key
// up to the 32 key bytes.
const ed25519SPKIPrefix = "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"

// oidECPublicKey is id-ecPublicKey (1.2.840.10045.2.1).
var oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}

// secp256k1N is the order of the secp256k1 group and secp256k1HalfN half
// of it (rounded down): s is low when s <= secp256k1HalfN. Read-only.
var (
	secp256k1N, _  = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
	secp256k1HalfN = new(big.Int).Rsh(secp256k1N, 1)
)

// mechanism returns the signing mechanism and the curve of key type t.
func mechanism(t signing.KeyType) (mech uint64, curveOID string, err error) {
	switch t {
	case signing.Secp256k1:
		return pb.MechECDSA, pb.OIDSecp256k1, nil
	case signing.Ed25519:
		return pb.MechED25519SHA512, pb.OIDEd25519, nil
	}
	return 0, "", fmt.Errorf("grep11: key type %q: %w", t, signing.ErrUnsupportedKey)
}

// generateRequest is the framework's GenerateKeyPair request for a curve.
func generateRequest(curveOID string) *pb.GenerateKeyPairRequest {
	b := func(v []byte) *pb.AttributeValue {
		return &pb.AttributeValue{OneAttr: &pb.AttributeValue_AttributeB{AttributeB: v}}
	}
	tf := func(v bool) *pb.AttributeValue {
		return &pb.AttributeValue{OneAttr: &pb.AttributeValue_AttributeTF{AttributeTF: v}}
	}
	return &pb.GenerateKeyPairRequest{
		Mech: &pb.Mechanism{Mechanism: pb.MechECKeyPairGen},
		PubKeyTemplate: map[uint64]*pb.AttributeValue{
			pb.AttrECParams: b([]byte(curveOID)),
			pb.AttrVerify:   tf(true),
			pb.AttrToken:    tf(true),
		},
		PrivKeyTemplate: map[uint64]*pb.AttributeValue{
			pb.AttrSign:        tf(true),
			pb.AttrExtractable: tf(false),
			pb.AttrToken:       tf(true),
		},
	}
}

// publicKeyOf returns the SubjectPublicKeyInfo DER of a generated key
// pair: for SECP256K1 the HSM's SPKI (PubKeyBytes) without anything the
// HSM appends to it; for ED25519 an RFC 8410 SPKI rebuilt from the public
// key's CKA_EC_POINT, as the framework did.
func publicKeyOf(t signing.KeyType, resp *pb.GenerateKeyPairResponse) ([]byte, error) {
	switch t {
	case signing.Secp256k1:
		return secp256k1SPKI(resp.GetPubKeyBytes())
	case signing.Ed25519:
		attr := resp.GetPubKey().GetAttributes()[pb.AttrECPoint]
		if attr == nil {
			return nil, errors.New("grep11: GenerateKeyPair: the public key has no CKA_EC_POINT")
		}
		return ed25519SPKI(attr.GetAttributeB())
	}
	return nil, fmt.Errorf("grep11: key type %q: %w", t, signing.ErrUnsupportedKey)
}

// secp256k1SPKI checks that der starts with the SubjectPublicKeyInfo of a
// point on secp256k1 and returns that SubjectPublicKeyInfo. Bytes after it
// (EP11 appends a MAC) are dropped.
func secp256k1SPKI(der []byte) ([]byte, error) {
	var spki struct {
		Algorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.RawValue
		}
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(der, &spki)
	if err != nil {
		return nil, errors.New("grep11: GenerateKeyPair: the public key is not a SubjectPublicKeyInfo")
	}
	if !spki.Algorithm.Algorithm.Equal(oidECPublicKey) || string(spki.Algorithm.Parameters.FullBytes) != pb.OIDSecp256k1 {
		return nil, errors.New("grep11: GenerateKeyPair: the public key is not on secp256k1")
	}
	if _, err := secp256k1.ParsePubKey(spki.PublicKey.RightAlign()); err != nil || spki.PublicKey.BitLength%8 != 0 {
		return nil, errors.New("grep11: GenerateKeyPair: the public key is not a valid secp256k1 point")
	}
	return bytes.Clone(der[:len(der)-len(rest)]), nil
}

// ed25519SPKI returns the RFC 8410 SubjectPublicKeyInfo of the Ed25519 key
// in a CKA_EC_POINT value: a DER OCTET STRING holding the 32-byte key.
func ed25519SPKI(ecPoint []byte) ([]byte, error) {
	var key []byte
	if rest, err := asn1.Unmarshal(ecPoint, &key); err != nil || len(rest) != 0 || len(key) != 32 {
		return nil, errors.New("grep11: GenerateKeyPair: CKA_EC_POINT is not a 32-byte Ed25519 key")
	}
	return append([]byte(ed25519SPKIPrefix), key...), nil
}

// storedSPKI returns the SubjectPublicKeyInfo at the start of a stored
// .pub file, which for keys the framework generated may be followed by
// data the HSM appended. A file that does not parse is returned as is.
func storedSPKI(pub []byte) []byte {
	var raw asn1.RawValue
	if rest, err := asn1.Unmarshal(pub, &raw); err == nil && len(rest) > 0 {
		return pub[:len(pub)-len(rest)]
	}
	return pub
}

// lowS checks a raw r||s ECDSA signature over secp256k1 and rewrites s
// in place to n-s when it is above n/2, so that sig is the low-S form of
// the same signature.
func lowS(sig []byte) error {
	if len(sig) != signatureSize {
		return fmt.Errorf("grep11: SignSingle returned a %d-byte ECDSA signature, want %d", len(sig), signatureSize)
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(secp256k1N) >= 0 || s.Cmp(secp256k1N) >= 0 {
		return errors.New("grep11: SignSingle returned an invalid ECDSA signature")
	}
	if s.Cmp(secp256k1HalfN) > 0 {
		s.Sub(secp256k1N, s).FillBytes(sig[32:])
	}
	return nil
}

// newID returns a random (version 4) UUID in its canonical text form, the
// framework's key ids.
func newID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
