//go:build !wasip1

package oso

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
)

// withKeystore gives a test an empty native keystore and fresh buffers.
func withKeystore(t *testing.T) {
	t.Helper()
	native.mu.Lock()
	native.keys, native.ids, native.fault = nil, nil, 0
	native.mu.Unlock()
	saved := rt.sign
	rt.sign = signState{}
	t.Cleanup(func() {
		native.mu.Lock()
		native.keys, native.ids, native.fault = nil, nil, 0
		native.mu.Unlock()
		rt.sign = saved
	})
}

func edPublic(t *testing.T, k Key) ed25519.PublicKey {
	t.Helper()
	if len(k.PublicKey) != 44 || !bytes.HasPrefix(k.PublicKey, ed25519SPKIPrefix) {
		t.Fatalf("public key %x is not an Ed25519 SubjectPublicKeyInfo", k.PublicKey)
	}
	return ed25519.PublicKey(k.PublicKey[12:])
}

func TestGenerateKey(t *testing.T) {
	withKeystore(t)
	k, err := GenerateKey(Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if k.Type != Ed25519 || len(k.ID) != 36 || k.ID[8] != '-' {
		t.Fatalf("GenerateKey = %+v", k)
	}
	edPublic(t, k)
	got, err := PublicKey(k.ID)
	if err != nil || got.ID != k.ID || got.Type != Ed25519 || !bytes.Equal(got.PublicKey, k.PublicKey) {
		t.Fatalf("PublicKey = %+v, %v", got, err)
	}
	ids, err := ListKeys(Ed25519)
	if err != nil || !slices.Equal(ids, []string{k.ID}) {
		t.Fatalf("ListKeys = %q, %v", ids, err)
	}
	if ids, err := ListKeys(Secp256k1); err != nil || len(ids) != 0 || ids == nil {
		t.Fatalf("ListKeys(Secp256k1) = %#v, %v; want an empty list", ids, err)
	}
}

func TestKey_PEM(t *testing.T) {
	withKeystore(t)
	k, err := GenerateKey(Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PublicKeyPEM(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p != k.PEM() || p != string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey})) {
		t.Fatalf("PublicKeyPEM = %q", p)
	}
	// The framework's shape, written out: a longer key spans several lines.
	long := Key{PublicKey: bytes.Repeat([]byte{0xab}, 100)}
	b64 := base64.StdEncoding.EncodeToString(long.PublicKey)
	want := "-----BEGIN PUBLIC KEY-----\n"
	for len(b64) > 64 {
		want += b64[:64] + "\n"
		b64 = b64[64:]
	}
	want += b64 + "\n-----END PUBLIC KEY-----\n"
	if got := long.PEM(); got != want {
		t.Fatalf("PEM = %q, want %q", got, want)
	}
}

func TestSign(t *testing.T) {
	withKeystore(t)
	k, _ := GenerateKey(Ed25519)
	msg := []byte("transaction")
	sig, err := Sign(k.ID, msg)
	if err != nil || !ed25519.Verify(edPublic(t, k), msg, sig) {
		t.Fatalf("Sign = %x, %v", sig, err)
	}
	h, err := SignHex(k.ID, msg)
	if err != nil || h != hex.EncodeToString(sig) || h != strings.ToLower(h) {
		t.Fatalf("SignHex = %q, %v", h, err)
	}
	// Sign returns its own slice: a later call does not change it.
	again := slices.Clone(sig)
	if _, err := Sign(k.ID, []byte("other")); err != nil || !bytes.Equal(sig, again) {
		t.Fatal("a later Sign changed an earlier signature")
	}
}

func TestSigning_Errors(t *testing.T) {
	withKeystore(t)
	k, _ := GenerateKey(Ed25519)
	long := strings.Repeat("a", abi.MaxKeyIDBytes+1)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"sign unknown key", func() error { _, err := Sign("nope", nil); return err }, ErrNotFound},
		{"sign id too long", func() error { _, err := Sign(long, nil); return err }, ErrTooLarge},
		{"sign data too long", func() error { _, err := Sign(k.ID, make([]byte, abi.MaxSignDataBytes+1)); return err }, ErrTooLarge},
		{"public unknown key", func() error { _, err := PublicKey("nope"); return err }, ErrNotFound},
		{"pem unknown key", func() error { _, err := PublicKeyPEM("nope"); return err }, ErrNotFound},
		{"generate unknown type", func() error { _, err := GenerateKey(7); return err }, ErrBadArgument},
		{"list unknown type", func() error { _, err := ListKeys(0); return err }, ErrBadArgument},
		{"signhex unknown key", func() error { _, err := SignHex("nope", nil); return err }, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var he *HostError
			if !errors.Is(err, tt.want) || !errors.As(err, &he) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSigning_HostStatuses: every failure status the host may answer
// reaches the plugin as a HostError matching the right sentinel.
func TestSigning_HostStatuses(t *testing.T) {
	withKeystore(t)
	k, _ := GenerateKey(Ed25519)
	calls := map[string]func() error{
		"key_generate": func() error { _, err := GenerateKey(Ed25519); return err },
		"key_list":     func() error { _, err := ListKeys(Ed25519); return err },
		"key_public":   func() error { _, err := PublicKey(k.ID); return err },
		"sign":         func() error { _, err := Sign(k.ID, nil); return err },
		"sign_many": func() error {
			_, err := SignMany([]SignRequest{{KeyID: k.ID}})
			return err
		},
	}
	for _, st := range []struct {
		status abi.Status
		want   error
	}{
		{abi.StatusNotAllowed, ErrNotAllowed},
		{abi.StatusUnavailable, ErrUnavailable},
		{abi.StatusNotFound, ErrNotFound},
		{abi.StatusBadArgument, ErrBadArgument},
		{abi.StatusTooLarge, ErrTooLarge},
		{abi.StatusBadPointer, nil},
		{-99, nil},
	} {
		native.fault = int32(st.status)
		for fn, call := range calls {
			err := call()
			var he *HostError
			if !errors.As(err, &he) || he.Func != fn || he.Status != st.status {
				t.Errorf("%s with status %d: %v", fn, st.status, err)
				continue
			}
			if st.want != nil && !errors.Is(err, st.want) {
				t.Errorf("%s with status %d: %v does not match %v", fn, st.status, err, st.want)
			}
			for _, s := range []error{ErrNotFound, ErrNotAllowed, ErrUnavailable, ErrBadArgument, ErrTooLarge} {
				if s != st.want && errors.Is(err, s) {
					t.Errorf("%s with status %d matches %v", fn, st.status, s)
				}
			}
			if !strings.Contains(err.Error(), fn) {
				t.Errorf("error text %q does not name %s", err, fn)
			}
		}
	}
	native.fault = 0
}

func TestListKeys_Grows(t *testing.T) {
	withKeystore(t)
	var want []string
	for range 300 { // about 12 KB of ids: past the first 4 KiB buffer
		k, err := GenerateKey(Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, k.ID)
	}
	slices.Sort(want)
	got, err := ListKeys(Ed25519)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ListKeys = %d ids, %v; want %d", len(got), err, len(want))
	}
}

func TestSignMany(t *testing.T) {
	withKeystore(t)
	k, _ := GenerateKey(Ed25519)
	pub := edPublic(t, k)
	reqs := []SignRequest{
		{KeyID: k.ID, Data: []byte("one")},
		{KeyID: "nope", Data: []byte("two")},
		{KeyID: strings.Repeat("x", abi.MaxKeyIDBytes+1), Data: []byte("three")},
		{KeyID: k.ID, Data: nil},
	}
	res, err := SignMany(reqs)
	if err != nil || len(res) != len(reqs) {
		t.Fatalf("SignMany: %d results, %v", len(res), err)
	}
	for i, want := range []error{nil, ErrNotFound, ErrTooLarge, nil} {
		r := res[i]
		if want == nil {
			if r.Err != nil || !ed25519.Verify(pub, reqs[i].Data, r.Signature) {
				t.Errorf("request %d: %x, %v", i, r.Signature, r.Err)
			}
			continue
		}
		if !errors.Is(r.Err, want) || r.Signature != nil {
			t.Errorf("request %d: %x, %v; want %v", i, r.Signature, r.Err, want)
		}
	}
	if res, err := SignMany(nil); err != nil || len(res) != 0 {
		t.Fatalf("SignMany(nil) = %v, %v", res, err)
	}
}

// TestSignMany_Chunks: batches over abi.MaxSignBatch requests are split,
// and every chunk's signatures survive the next chunk.
func TestSignMany_Chunks(t *testing.T) {
	withKeystore(t)
	k, _ := GenerateKey(Ed25519)
	native.mu.Lock()
	priv := native.keys[k.ID]
	native.mu.Unlock()
	n := abi.MaxSignBatch + 7
	reqs := make([]SignRequest, n)
	for i := range reqs {
		reqs[i] = SignRequest{KeyID: k.ID, Data: []byte{byte(i), byte(i >> 8), byte(i >> 16)}}
	}
	res, err := SignMany(reqs)
	if err != nil || len(res) != n {
		t.Fatalf("SignMany: %d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.Err != nil || len(r.Signature) != ed25519.SignatureSize {
			t.Fatalf("request %d: %x, %v", i, r.Signature, r.Err)
		}
		// A sample, and both sides of the split.
		if i%101 == 0 || i >= abi.MaxSignBatch-2 {
			if !bytes.Equal(r.Signature, ed25519.Sign(priv, reqs[i].Data)) {
				t.Fatalf("request %d: wrong signature", i)
			}
		}
	}
}

// TestSignMany_ChunksByBytes: a batch over abi.MaxSignManyInputBytes is
// split too.
func TestSignMany_ChunksByBytes(t *testing.T) {
	withKeystore(t)
	k, _ := GenerateKey(Ed25519)
	pub := edPublic(t, k)
	n := abi.MaxSignManyInputBytes/abi.MaxSignDataBytes + 1
	reqs := make([]SignRequest, n)
	for i := range reqs {
		reqs[i] = SignRequest{KeyID: k.ID, Data: bytes.Repeat([]byte{byte(i)}, abi.MaxSignDataBytes)}
	}
	res, err := SignMany(reqs)
	if err != nil || len(res) != n {
		t.Fatalf("SignMany: %d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.Err != nil || !ed25519.Verify(pub, reqs[i].Data, r.Signature) {
			t.Fatalf("request %d: %x, %v", i, r.Signature, r.Err)
		}
	}
}

// TestSignMany_NoAllocs: once its buffers have grown, SignMany allocates
// nothing (the native stand-in for the host allocates nothing either).
func TestSignMany_NoAllocs(t *testing.T) {
	withKeystore(t)
	k, _ := GenerateKey(Ed25519)
	reqs := make([]SignRequest, 100)
	for i := range reqs {
		reqs[i] = SignRequest{KeyID: k.ID, Data: bytes.Repeat([]byte{byte(i)}, 128)}
	}
	SignMany(reqs)
	if n := testing.AllocsPerRun(20, func() {
		if _, err := SignMany(reqs); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("SignMany of 100 allocates %v times per call", n)
	}
}

func TestDocument_ContentBytes(t *testing.T) {
	in, err := NewDocuments(encodeList(Document{ID: "a", Content: "payload"}, Document{ID: "b"}))
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for d := range in.All() {
		got = append(got, d.ContentBytes())
	}
	if string(got[0]) != "payload" || len(got[1]) != 0 {
		t.Fatalf("ContentBytes = %q", got)
	}
	if n := testing.AllocsPerRun(10, func() {
		for d := range in.All() {
			_ = d.ContentBytes()
		}
	}); n != 0 {
		t.Errorf("ContentBytes allocates %v times", n)
	}
}

func TestDocumentList_AppendWithMetadata(t *testing.T) {
	var l DocumentList
	meta := []byte(`{"k": 1}`)
	l.AppendWithMetadata("i", "c", meta)
	meta[2] = 'X' // the list holds a copy
	if got, want := l.Bytes(), encodeList(Document{"i", "c", `{"k": 1}`}); !bytes.Equal(got, want) {
		t.Fatalf("Bytes() = %q, want %q", got, want)
	}
}

func BenchmarkSignMany_100(b *testing.B) {
	native.mu.Lock()
	native.keys, native.ids = nil, nil
	native.mu.Unlock()
	k, err := GenerateKey(Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]SignRequest, 100)
	for i := range reqs {
		reqs[i] = SignRequest{KeyID: k.ID, Data: bytes.Repeat([]byte{byte(i)}, 128)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignMany(reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/sig")
}
