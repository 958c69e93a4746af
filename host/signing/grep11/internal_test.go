package grep11

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"regexp"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/osohost/osohost/host/signing"
	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
)

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want  string
		defaulted bool
	}{
		{"localhost", "localhost:443", true},
		{"grep11:9876", "grep11:9876", false},
		{"10.0.0.1", "10.0.0.1:443", true},
		{"[::1]:9876", "[::1]:9876", false},
		{"::1", "[::1]:443", true},
		{"[::1]", "[::1]:443", true},
		{"dns:///grep11:9876", "dns:///grep11:9876", false},
		{"dns:///grep11", "dns:///grep11:443", true},
		{"dns://8.8.8.8/grep11:9876", "dns://8.8.8.8/grep11:9876", false},
		{"unix:/run/grep11.sock", "unix:/run/grep11.sock", false},
		{"unix:///run/grep11.sock", "unix:///run/grep11.sock", false},
		{"unix:relative.sock", "unix:relative.sock", false},
	}
	for _, tt := range tests {
		got, defaulted, err := parseEndpoint(tt.in)
		if err != nil || got != tt.want || defaulted != tt.defaulted {
			t.Errorf("parseEndpoint(%q) = %q, %v, %v; want %q, %v", tt.in, got, defaulted, err, tt.want, tt.defaulted)
		}
	}
}

func TestParseEndpoint_Errors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "unix:", "unix://", "http://grep11:9876", "dns:grep11", "grep11:0", "grep11:65536",
		"grep11:port", "grep 11:1", ":9876", "a:b:c", "dns:///", "user@grep11:1"} {
		if got, _, err := parseEndpoint(bad); err == nil {
			t.Errorf("parseEndpoint(%q) = %q; want an error", bad, got)
		}
	}
}

func TestLowS(t *testing.T) {
	t.Parallel()
	n := secp256k1N
	half := new(big.Int).Rsh(n, 1)
	r := big.NewInt(12345)
	sig := func(s *big.Int) []byte {
		b := make([]byte, 64)
		r.FillBytes(b[:32])
		s.FillBytes(b[32:])
		return b
	}
	tests := []struct {
		name    string
		s, want *big.Int
	}{
		{"one", big.NewInt(1), big.NewInt(1)},
		{"half", half, half},
		{"half+1", new(big.Int).Add(half, big.NewInt(1)), half},
		{"n-1", new(big.Int).Sub(n, big.NewInt(1)), big.NewInt(1)},
	}
	for _, tt := range tests {
		b := sig(tt.s)
		if err := lowS(b); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !bytes.Equal(b, sig(tt.want)) {
			t.Errorf("%s: s = %x; want %x", tt.name, b[32:], tt.want)
		}
		var s secp256k1.ModNScalar
		s.SetByteSlice(b[32:])
		if s.IsOverHalfOrder() {
			t.Errorf("%s: decred says s is over half the order", tt.name)
		}
	}
}

func TestLowS_Errors(t *testing.T) {
	t.Parallel()
	n := secp256k1N.Bytes()
	one := make([]byte, 32)
	one[31] = 1
	zero := make([]byte, 32)
	for name, b := range map[string][]byte{
		"short":  make([]byte, 63),
		"long":   make([]byte, 65),
		"r zero": append(append([]byte{}, zero...), one...),
		"s zero": append(append([]byte{}, one...), zero...),
		"r = n":  append(append([]byte{}, n...), one...),
		"s = n":  append(append([]byte{}, one...), n...),
	} {
		if err := lowS(b); err == nil {
			t.Errorf("%s: lowS succeeded; want an error", name)
		}
	}
}

func TestPublicKeyOf(t *testing.T) {
	t.Parallel()
	key, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	point := append([]byte{0x04, 0x20}, key...)
	got, err := publicKeyOf(signing.Ed25519, &pb.GenerateKeyPairResponse{PubKey: &pb.KeyBlob{
		Attributes: map[uint64]*pb.AttributeValue{pb.AttrECPoint: {OneAttr: &pb.AttributeValue_AttributeB{AttributeB: point}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "302a300506032b6570032100" + hex.EncodeToString(key); hex.EncodeToString(got) != want {
		t.Errorf("Ed25519 SPKI = %x; want %s", got, want)
	}
	for name, p := range map[string][]byte{"raw key": key, "31 bytes": point[:33], "trailing": append(point, 0)} {
		if _, err := ed25519SPKI(p); err == nil {
			t.Errorf("ed25519SPKI(%s) succeeded; want an error", name)
		}
	}

	priv, _ := secp256k1.GeneratePrivateKey()
	spki := append([]byte{0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01}, pb.OIDSecp256k1...)
	spki = append(append(spki, 0x03, 0x42, 0x00), priv.PubKey().SerializeUncompressed()...)
	mac := bytes.Repeat([]byte{0xAA}, 32) // EP11 appends a MAC to the SPKI
	got, err = publicKeyOf(signing.Secp256k1, &pb.GenerateKeyPairResponse{PubKeyBytes: append(bytes.Clone(spki), mac...)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, spki) {
		t.Errorf("secp256k1 SPKI = %x; want %x", got, spki)
	}
	if !bytes.Equal(storedSPKI(append(bytes.Clone(spki), mac...)), spki) {
		t.Error("storedSPKI kept the bytes after the SPKI")
	}
	bad := bytes.Clone(spki)
	bad[len(bad)-1] ^= 1 // off the curve
	if _, err := secp256k1SPKI(bad); err == nil {
		t.Error("secp256k1SPKI accepted a point off the curve")
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("newID() = %q: not a fresh version 4 UUID", id)
		}
		seen[id] = true
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	s := &Signer{opts: Options{RetryBackoff: 100 * time.Millisecond}}
	for n := 1; n <= 40; n++ {
		want := min(100*time.Millisecond<<min(n-1, 16), maxRetryBackoff)
		if d := s.backoff(n); d < want/2 || d > want {
			t.Errorf("backoff(%d) = %v; want %v to %v", n, d, want/2, want)
		}
	}
}

func TestRPCError(t *testing.T) {
	t.Parallel()
	st, _ := status.New(codes.InvalidArgument, "wrapped key fails authentication").
		WithDetails(&pb.Grep11Error{Code: pb.CKRWrappedKeyInvalid, Retry: false})
	e := newRPCError("SignSingle", st.Err(), 1)
	if e.CKR != pb.CKRWrappedKeyInvalid || e.Code != codes.InvalidArgument || e.transient() {
		t.Errorf("newRPCError = %+v", e)
	}
	if got, want := e.Error(), "grep11: SignSingle: InvalidArgument (CKR 0x110): wrapped key fails authentication"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	retry, _ := status.New(codes.Internal, "busy").WithDetails(&pb.Grep11Error{Code: 0x30, Retry: true})
	if e := newRPCError("SignSingle", retry.Err(), 4); !e.transient() || e.Attempts != 4 {
		t.Errorf("a server error marked retryable is not transient: %+v", e)
	}
	long := status.Error(codes.Unavailable, string(bytes.Repeat([]byte("é"), 300)))
	if e := newRPCError("SignSingle", long, 1); len(e.Message) > maxMessage+len("…") {
		t.Errorf("message of %d bytes not truncated", len(e.Message))
	}
}
