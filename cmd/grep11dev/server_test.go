package main

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
)

func newTestServer(t *testing.T, mechs ...uint64) *server {
	t.Helper()
	w, err := newWrapper(bytes.Repeat([]byte{1}, masterSize))
	if err != nil {
		t.Fatal(err)
	}
	if len(mechs) == 0 {
		mechs = []uint64{pb.MechECKeyPairGen, pb.MechECDSA, pb.MechED25519SHA512}
	}
	return &server{w: w, mechs: mechs, rng: rand.New(rand.NewPCG(1, 2))}
}

func attrB(b string) *pb.AttributeValue {
	return &pb.AttributeValue{OneAttr: &pb.AttributeValue_AttributeB{AttributeB: []byte(b)}}
}

func genReq(oid string) *pb.GenerateKeyPairRequest {
	return &pb.GenerateKeyPairRequest{
		Mech:           &pb.Mechanism{Mechanism: pb.MechECKeyPairGen},
		PubKeyTemplate: map[uint64]*pb.AttributeValue{pb.AttrECParams: attrB(oid)},
	}
}

// ckrOf returns the CKR code of a GREP11 error.
func ckrOf(err error) uint64 {
	for _, d := range status.Convert(err).Details() {
		if ge, ok := d.(*pb.Grep11Error); ok {
			return ge.GetCode()
		}
	}
	return 0
}

// TestServer_SignVerify signs with both mechanisms and checks each
// signature with VerifySingle, then a corrupted one.
func TestServer_SignVerify(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	ctx := t.Context()
	for _, tc := range []struct {
		oid  string
		mech uint64
		data []byte
	}{
		{pb.OIDSecp256k1, pb.MechECDSA, bytes.Repeat([]byte{9}, 32)},
		{pb.OIDEd25519, pb.MechED25519SHA512, []byte("a message")},
	} {
		kp, err := s.GenerateKeyPair(ctx, genReq(tc.oid))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(kp.GetPrivKeyBytes(), kp.GetPrivKey().GetKeyBlobs()[0]) || kp.GetPubKey().GetAttributes()[pb.AttrECPoint] == nil {
			t.Fatalf("GenerateKeyPair response incomplete: %v", kp)
		}
		for range 8 { // both forms of s verify
			sig, err := s.SignSingle(ctx, &pb.SignSingleRequest{Mech: &pb.Mechanism{Mechanism: tc.mech}, Data: tc.data, PrivKey: kp.GetPrivKey()})
			if err != nil {
				t.Fatal(err)
			}
			vreq := &pb.VerifySingleRequest{Mech: &pb.Mechanism{Mechanism: tc.mech}, Data: tc.data, Signature: sig.GetSignature(), PubKey: kp.GetPubKey()}
			if _, err := s.VerifySingle(ctx, vreq); err != nil {
				t.Fatalf("VerifySingle: %v", err)
			}
			vreq.Data = append([]byte{1}, tc.data[1:]...)
			if _, err := s.VerifySingle(ctx, vreq); ckrOf(err) != pb.CKRSignatureInvalid {
				t.Fatalf("VerifySingle of other data = %v; want CKR_SIGNATURE_INVALID", err)
			}
		}
		// The other mechanism does not fit this key.
		other := uint64(pb.MechECDSA + pb.MechED25519SHA512 - tc.mech)
		_, err = s.SignSingle(ctx, &pb.SignSingleRequest{Mech: &pb.Mechanism{Mechanism: other}, Data: tc.data, PrivKey: kp.GetPrivKey()})
		if ckrOf(err) != pb.CKRKeyTypeInconsistent {
			t.Errorf("SignSingle with the wrong mechanism = %v; want CKR_KEY_TYPE_INCONSISTENT", err)
		}
	}
}

func TestServer_Errors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	ctx := t.Context()
	kp, err := s.GenerateKeyPair(ctx, genReq(pb.OIDSecp256k1))
	if err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	tests := []struct {
		name string
		call func() error
		want uint64
	}{
		{"unknown curve", func() error { _, err := s.GenerateKeyPair(ctx, genReq("\x06\x03\x2b\x65\x71")); return err }, pb.CKRCurveNotSupported},
		{"no EC params", func() error {
			_, err := s.GenerateKeyPair(ctx, &pb.GenerateKeyPairRequest{Mech: &pb.Mechanism{Mechanism: pb.MechECKeyPairGen}})
			return err
		}, pb.CKRTemplateIncomplete},
		{"other generation mechanism", func() error {
			r := genReq(pb.OIDSecp256k1)
			r.Mech.Mechanism = 0x1050
			_, err := s.GenerateKeyPair(ctx, r)
			return err
		}, pb.CKRMechanismInvalid},
		{"no key blob", func() error {
			_, err := s.SignSingle(ctx, &pb.SignSingleRequest{Mech: &pb.Mechanism{Mechanism: pb.MechECDSA}, Data: digest})
			return err
		}, pb.CKRArgumentsBad},
		{"tampered blob", func() error {
			blob := bytes.Clone(kp.GetPrivKeyBytes())
			blob[5] ^= 1
			_, err := s.SignSingle(ctx, &pb.SignSingleRequest{Mech: &pb.Mechanism{Mechanism: pb.MechECDSA}, Data: digest, PrivKey: &pb.KeyBlob{KeyBlobs: [][]byte{blob}}})
			return err
		}, pb.CKRWrappedKeyInvalid},
		{"ECDSA data too long", func() error {
			_, err := s.SignSingle(ctx, &pb.SignSingleRequest{Mech: &pb.Mechanism{Mechanism: pb.MechECDSA}, Data: make([]byte, 65), PrivKey: kp.GetPrivKey()})
			return err
		}, pb.CKRDataLenRange},
		{"unknown mechanism", func() error {
			_, err := s.SignSingle(ctx, &pb.SignSingleRequest{Mech: &pb.Mechanism{Mechanism: 0x1}, Data: digest, PrivKey: kp.GetPrivKey()})
			return err
		}, pb.CKRMechanismInvalid},
		{"random too long", func() error {
			_, err := s.GenerateRandom(ctx, &pb.GenerateRandomRequest{Len: maxRandom + 1})
			return err
		}, pb.CKRArgumentsBad},
	}
	for _, tt := range tests {
		err := tt.call()
		if status.Code(err) != codes.InvalidArgument || ckrOf(err) != tt.want {
			t.Errorf("%s: %v; want InvalidArgument with CKR 0x%X", tt.name, err, tt.want)
		}
	}

	rnd, err := s.GenerateRandom(ctx, &pb.GenerateRandomRequest{Len: 48})
	if err != nil || len(rnd.GetRnd()) != 48 {
		t.Errorf("GenerateRandom(48) = %d bytes, %v", len(rnd.GetRnd()), err)
	}

	// A mechanism left out of --mechanisms is refused.
	noEd := newTestServer(t, pb.MechECKeyPairGen, pb.MechECDSA)
	edKey, _ := s.GenerateKeyPair(ctx, genReq(pb.OIDEd25519))
	_, err = noEd.SignSingle(ctx, &pb.SignSingleRequest{Mech: &pb.Mechanism{Mechanism: pb.MechED25519SHA512}, Data: []byte("m"), PrivKey: edKey.GetPrivKey()})
	if ckrOf(err) != pb.CKRMechanismInvalid {
		t.Errorf("disabled mechanism: %v; want CKR_MECHANISM_INVALID", err)
	}
	ml, _ := noEd.GetMechanismList(ctx, &pb.GetMechanismListRequest{})
	if len(ml.GetMechs()) != 2 {
		t.Errorf("GetMechanismList = %#x", ml.GetMechs())
	}
}
