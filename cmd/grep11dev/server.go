package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
)

// maxRandom bounds GenerateRandom's Len.
const maxRandom = 64 << 10

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidEd25519     = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// server implements the GREP11 Crypto service in software.
type server struct {
	pb.UnimplementedCryptoServer
	w           *wrapper
	mechs       []uint64 // supported mechanisms, sorted
	latency     time.Duration
	failureRate float64

	mu  sync.Mutex // guards rng
	rng *mrand.Rand
}

// intercept delays every call by the configured latency and then fails it
// with Unavailable at the configured rate, before the method runs.
func (s *server) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if s.failureRate > 0 && s.random() < s.failureRate {
		return nil, status.Error(codes.Unavailable, "grep11dev: injected failure")
	}
	return handler(ctx, req)
}

func (s *server) random() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64()
}

// ckr returns a GREP11-style error: a status with a Grep11Error detail.
func ckr(code codes.Code, rv uint64, detail string) error {
	st, err := status.New(code, detail).WithDetails(&pb.Grep11Error{Code: rv, Detail: detail})
	if err != nil {
		return status.Error(code, detail)
	}
	return st.Err()
}

func (s *server) supports(mech uint64) error {
	if _, ok := slices.BinarySearch(s.mechs, mech); !ok {
		return ckr(codes.InvalidArgument, pb.CKRMechanismInvalid, "mechanism not supported")
	}
	return nil
}

func (s *server) GetMechanismList(context.Context, *pb.GetMechanismListRequest) (*pb.GetMechanismListResponse, error) {
	return &pb.GetMechanismListResponse{Mechs: slices.Clone(s.mechs)}, nil
}

func (s *server) GenerateRandom(_ context.Context, req *pb.GenerateRandomRequest) (*pb.GenerateRandomResponse, error) {
	if req.GetLen() > maxRandom {
		return nil, ckr(codes.InvalidArgument, pb.CKRArgumentsBad, "length too large")
	}
	b := make([]byte, req.GetLen())
	rand.Read(b)
	return &pb.GenerateRandomResponse{Rnd: b}, nil
}

func (s *server) GenerateKeyPair(_ context.Context, req *pb.GenerateKeyPairRequest) (*pb.GenerateKeyPairResponse, error) {
	if req.GetMech().GetMechanism() != pb.MechECKeyPairGen {
		return nil, ckr(codes.InvalidArgument, pb.CKRMechanismInvalid, "GenerateKeyPair supports CKM_EC_KEY_PAIR_GEN only")
	}
	if err := s.supports(pb.MechECKeyPairGen); err != nil {
		return nil, err
	}
	params := req.GetPubKeyTemplate()[pb.AttrECParams]
	if params == nil {
		return nil, ckr(codes.InvalidArgument, pb.CKRTemplateIncomplete, "public key template lacks CKA_EC_PARAMS")
	}
	var kind byte
	switch string(params.GetAttributeB()) {
	case pb.OIDSecp256k1:
		kind = kindSecp256k1
	case pb.OIDEd25519:
		kind = kindEd25519
	default:
		return nil, ckr(codes.InvalidArgument, pb.CKRCurveNotSupported, "curve not supported")
	}
	for _, tmpl := range []map[uint64]*pb.AttributeValue{req.GetPubKeyTemplate(), req.GetPrivKeyTemplate()} {
		if v := tmpl[pb.AttrExtractable]; v != nil && v.GetAttributeTF() {
			return nil, ckr(codes.InvalidArgument, pb.CKRAttributeValueInvalid, "extractable keys are not supported")
		}
	}
	key, err := newKey(kind)
	if err != nil {
		return nil, status.Error(codes.Internal, "key generation failed")
	}
	defer clear(key)
	spki, point, err := publicKey(kind, key)
	if err != nil {
		return nil, status.Error(codes.Internal, "key generation failed")
	}
	priv := s.w.wrap(kind, key)
	pub := s.w.macPublic(spki)
	ecPoint, _ := asn1.Marshal(point) // an OCTET STRING
	return &pb.GenerateKeyPairResponse{
		PrivKeyBytes: priv,
		PubKeyBytes:  pub,
		PrivKey:      &pb.KeyBlob{KeyBlobs: [][]byte{priv}},
		PubKey: &pb.KeyBlob{
			KeyBlobs: [][]byte{pub},
			Attributes: map[uint64]*pb.AttributeValue{
				pb.AttrECPoint:  {OneAttr: &pb.AttributeValue_AttributeB{AttributeB: ecPoint}},
				pb.AttrECParams: {OneAttr: &pb.AttributeValue_AttributeB{AttributeB: params.GetAttributeB()}},
			},
		},
	}, nil
}

// publicKey returns the SubjectPublicKeyInfo of a private key, shaped as
// EP11 returns it (id-ecPublicKey with the curve's OID, for Ed25519 too),
// and the public point.
func publicKey(kind byte, key []byte) (spki, point []byte, err error) {
	var curve asn1.ObjectIdentifier
	switch kind {
	case kindSecp256k1:
		curve, point = oidSecp256k1, secp256k1.PrivKeyFromBytes(key).PubKey().SerializeUncompressed()
	case kindEd25519:
		curve, point = oidEd25519, ed25519.NewKeyFromSeed(key).Public().(ed25519.PublicKey)
	default:
		return nil, nil, errors.New("unknown key kind")
	}
	type algorithm struct {
		Algorithm asn1.ObjectIdentifier
		Curve     asn1.ObjectIdentifier
	}
	spki, err = asn1.Marshal(struct {
		Algorithm algorithm
		PublicKey asn1.BitString
	}{algorithm{oidECPublicKey, curve}, asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
	return spki, point, err
}

func (s *server) SignSingle(_ context.Context, req *pb.SignSingleRequest) (*pb.SignSingleResponse, error) {
	mech := req.GetMech().GetMechanism()
	if err := s.supports(mech); err != nil {
		return nil, err
	}
	blobs := req.GetPrivKey().GetKeyBlobs()
	if len(blobs) != 1 {
		return nil, ckr(codes.InvalidArgument, pb.CKRArgumentsBad, "want exactly one private key blob")
	}
	kind, key, err := s.w.unwrap(blobs[0])
	if err != nil {
		return nil, ckr(codes.InvalidArgument, pb.CKRWrappedKeyInvalid, err.Error())
	}
	defer clear(key)
	data := req.GetData()
	switch {
	case mech == pb.MechECDSA && kind == kindSecp256k1:
		if len(data) == 0 || len(data) > 64 {
			return nil, ckr(codes.InvalidArgument, pb.CKRDataLenRange, "ECDSA data must be a digest of 1 to 64 bytes")
		}
		priv := secp256k1.PrivKeyFromBytes(key)
		defer priv.Zero()
		sig := ecdsa.Sign(priv, data)
		r, sc := sig.R(), sig.S()
		s.mu.Lock()
		high := s.rng.IntN(2) == 0
		s.mu.Unlock()
		if high {
			// An HSM returns either of the two valid values of s; the
			// software signer always gives the low one.
			sc.Negate()
		}
		rb, sb := r.Bytes(), sc.Bytes()
		return &pb.SignSingleResponse{Signature: append(rb[:], sb[:]...)}, nil
	case mech == pb.MechED25519SHA512 && kind == kindEd25519:
		priv := ed25519.NewKeyFromSeed(key)
		defer clear(priv)
		return &pb.SignSingleResponse{Signature: ed25519.Sign(priv, data)}, nil
	case mech == pb.MechECDSA || mech == pb.MechED25519SHA512:
		return nil, ckr(codes.InvalidArgument, pb.CKRKeyTypeInconsistent, "the key does not fit the mechanism")
	}
	return nil, ckr(codes.InvalidArgument, pb.CKRMechanismInvalid, "mechanism cannot sign")
}

func (s *server) VerifySingle(_ context.Context, req *pb.VerifySingleRequest) (*pb.VerifySingleResponse, error) {
	mech := req.GetMech().GetMechanism()
	if err := s.supports(mech); err != nil {
		return nil, err
	}
	blobs := req.GetPubKey().GetKeyBlobs()
	if len(blobs) != 1 {
		return nil, ckr(codes.InvalidArgument, pb.CKRArgumentsBad, "want exactly one public key blob")
	}
	der, err := s.w.openPublic(blobs[0])
	if err != nil {
		return nil, ckr(codes.InvalidArgument, pb.CKRWrappedKeyInvalid, err.Error())
	}
	var spki struct {
		Algorithm struct {
			Algorithm asn1.ObjectIdentifier
			Curve     asn1.ObjectIdentifier
		}
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, ckr(codes.InvalidArgument, pb.CKRWrappedKeyInvalid, "malformed public key")
	}
	point, sig, data := spki.PublicKey.Bytes, req.GetSignature(), req.GetData()
	ok := false
	switch curve := spki.Algorithm.Curve; {
	case mech == pb.MechECDSA && curve.Equal(oidSecp256k1):
		pub, err := secp256k1.ParsePubKey(point)
		if err != nil || len(sig) != 64 {
			break
		}
		var r, sc secp256k1.ModNScalar
		if r.SetByteSlice(sig[:32]) || sc.SetByteSlice(sig[32:]) {
			break // not below the group order
		}
		ok = ecdsa.NewSignature(&r, &sc).Verify(data, pub)
	case mech == pb.MechED25519SHA512 && curve.Equal(oidEd25519):
		ok = len(point) == ed25519.PublicKeySize && ed25519.Verify(point, data, sig)
	default:
		return nil, ckr(codes.InvalidArgument, pb.CKRKeyTypeInconsistent, "the key does not fit the mechanism")
	}
	if !ok {
		return nil, ckr(codes.InvalidArgument, pb.CKRSignatureInvalid, "signature invalid")
	}
	return &pb.VerifySingleResponse{}, nil
}
