package abi_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/osohost/osohost/abi"
)

func TestKeyInfo_RoundTrip(t *testing.T) {
	b := abi.AppendKeyInfo(nil, "id-1", []byte{1, 2, 3})
	id, pub, err := abi.DecodeKeyInfo(b)
	if err != nil || string(id) != "id-1" || !bytes.Equal(pub, []byte{1, 2, 3}) {
		t.Fatalf("DecodeKeyInfo = %q %v, %v", id, pub, err)
	}
	for _, bad := range [][]byte{nil, b[:3], b[:len(b)-1], append(slices.Clone(b), 0)} {
		if _, _, err := abi.DecodeKeyInfo(bad); !errors.Is(err, abi.ErrMalformed) {
			t.Errorf("DecodeKeyInfo(%x) error %v", bad, err)
		}
	}
}

func TestPublicKey_RoundTrip(t *testing.T) {
	b := abi.AppendPublicKey(nil, abi.KeyEd25519, []byte{9, 9})
	kt, pub, err := abi.DecodePublicKey(b)
	if err != nil || kt != abi.KeyEd25519 || !bytes.Equal(pub, []byte{9, 9}) {
		t.Fatalf("DecodePublicKey = %v %v, %v", kt, pub, err)
	}
	for _, bad := range [][]byte{nil, b[:3], b[:7], b[:len(b)-1], append(slices.Clone(b), 0)} {
		if _, _, err := abi.DecodePublicKey(bad); !errors.Is(err, abi.ErrMalformed) {
			t.Errorf("DecodePublicKey(%x) error %v", bad, err)
		}
	}
}

func keyList(ids ...string) []byte {
	b := abi.AppendU32(nil, uint32(len(ids)))
	for _, id := range ids {
		b = abi.AppendString(b, id)
	}
	return b
}

func readKeyList(b []byte) ([]string, error) {
	r, err := abi.NewKeyListReader(b)
	if err != nil {
		return nil, err
	}
	var ids []string
	for {
		id, ok := r.Next()
		if !ok {
			return ids, r.Err()
		}
		ids = append(ids, string(id))
	}
}

func TestKeyListReader(t *testing.T) {
	want := []string{"a", "", "ccc"}
	got, err := readKeyList(keyList(want...))
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("KeyList = %q, %v", got, err)
	}
	if got, err := readKeyList(keyList()); err != nil || len(got) != 0 {
		t.Fatalf("empty KeyList = %q, %v", got, err)
	}
	good := keyList(want...)
	for name, bad := range map[string][]byte{
		"nil":             nil,
		"short header":    {1, 0},
		"truncated":       good[:len(good)-1],
		"trailing bytes":  append(slices.Clone(good), 0),
		"empty+trailing":  {0, 0, 0, 0, 1},
		"count too large": {9, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, err := readKeyList(bad); !errors.Is(err, abi.ErrMalformed) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

type signReq struct {
	id   string
	data []byte
}

func readSignRequests(b []byte) ([]signReq, error) {
	r, err := abi.NewSignRequestReader(b)
	if err != nil {
		return nil, err
	}
	var out []signReq
	for {
		id, data, ok := r.Next()
		if !ok {
			return out, r.Err()
		}
		out = append(out, signReq{string(id), slices.Clone(data)})
	}
}

func TestSignRequestReader(t *testing.T) {
	want := []signReq{{"k1", []byte("data")}, {"", nil}, {"k2", []byte{0}}}
	b := abi.AppendU32(nil, uint32(len(want)))
	for _, r := range want {
		b = abi.AppendSignRequest(b, r.id, r.data)
	}
	got, err := readSignRequests(b)
	if err != nil || len(got) != len(want) {
		t.Fatalf("requests %v, %v", got, err)
	}
	for i := range want {
		if got[i].id != want[i].id || !bytes.Equal(got[i].data, want[i].data) {
			t.Errorf("request %d = %v, want %v", i, got[i], want[i])
		}
	}
	for name, bad := range map[string][]byte{
		"nil":             nil,
		"truncated":       b[:len(b)-1],
		"trailing bytes":  append(slices.Clone(b), 0),
		"count too large": {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"id past the end": {1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, err := readSignRequests(bad); !errors.Is(err, abi.ErrMalformed) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestSignResultReader(t *testing.T) {
	sig := bytes.Repeat([]byte{7}, abi.SignatureBytes)
	b := abi.AppendU32(nil, 2)
	b = abi.AppendSignResult(b, abi.StatusOK, sig)
	b = abi.AppendSignResult(b, abi.StatusNotFound, nil)
	if len(b) != 4+abi.SignResultBytes+8 || len(b) > abi.SignManyOutputBytes(2) {
		t.Fatalf("SignManyOutput of %d bytes", len(b))
	}
	r, err := abi.NewSignResultReader(b)
	if err != nil || r.Len() != 2 {
		t.Fatal(err)
	}
	st, s, ok := r.Next()
	if !ok || st != abi.StatusOK || !bytes.Equal(s, sig) {
		t.Fatalf("first result %d %x", st, s)
	}
	st, s, ok = r.Next()
	if !ok || st != abi.StatusNotFound || len(s) != 0 {
		t.Fatalf("second result %d %x", st, s)
	}
	if _, _, ok := r.Next(); ok || r.Err() != nil {
		t.Fatalf("after the end: %v, %v", ok, r.Err())
	}
	for name, bad := range map[string][]byte{
		"nil":            nil,
		"truncated":      b[:len(b)-1],
		"no status":      {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"trailing bytes": append(slices.Clone(b), 0),
	} {
		r, err := abi.NewSignResultReader(bad)
		if err == nil {
			for {
				if _, _, ok := r.Next(); !ok {
					break
				}
			}
			err = r.Err()
		}
		if !errors.Is(err, abi.ErrMalformed) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestKeyType_String(t *testing.T) {
	for kt, want := range map[abi.KeyType]string{abi.KeySecp256k1: "SECP256K1", abi.KeyEd25519: "ED25519", 7: "KeyType(7)"} {
		if got := kt.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", kt, got, want)
		}
	}
}

func TestSigningLimits(t *testing.T) {
	if abi.Minor < 1 {
		t.Fatal("the signing functions need ABI minor 1")
	}
	if abi.SignManyOutputBytes(100) != 4+100*72 {
		t.Errorf("SignManyOutputBytes(100) = %d", abi.SignManyOutputBytes(100))
	}
	if abi.KeyInfoMaxBytes < 8+abi.MaxKeyIDBytes+abi.MaxPublicKeyBytes {
		t.Errorf("KeyInfoMaxBytes cannot hold the largest KeyInfo")
	}
	// The largest sign_many input fits its byte limit.
	if abi.MaxSignManyInputBytes < 4+8+abi.MaxKeyIDBytes+abi.MaxSignDataBytes {
		t.Errorf("one maximal request does not fit MaxSignManyInputBytes")
	}
	for _, name := range []string{abi.ImportKeyGenerate, abi.ImportKeyList, abi.ImportKeyPublic, abi.ImportSign, abi.ImportSignMany} {
		if _, ok := abi.ImportSignatures[name]; !ok {
			t.Errorf("%s missing from ImportSignatures", name)
		}
	}
}

// FuzzSignRequestReader: the reader never panics, and what it accepts
// re-encodes to the same bytes.
func FuzzSignRequestReader(f *testing.F) {
	f.Add(abi.AppendSignRequest(abi.AppendU32(nil, 1), "k", []byte("d")))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		reqs, err := readSignRequests(b)
		if err != nil {
			return
		}
		again := abi.AppendU32(nil, uint32(len(reqs)))
		for _, r := range reqs {
			again = abi.AppendSignRequest(again, r.id, r.data)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted input does not re-encode to the same bytes")
		}
	})
}

// FuzzSignResultReader: the same for the output the guest reads.
func FuzzSignResultReader(f *testing.F) {
	f.Add(abi.AppendSignResult(abi.AppendU32(nil, 1), abi.StatusOK, []byte("sig")))
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := abi.NewSignResultReader(b)
		if err != nil {
			return
		}
		again := abi.AppendU32(nil, uint32(r.Len()))
		for {
			st, sig, ok := r.Next()
			if !ok {
				break
			}
			again = abi.AppendSignResult(again, st, sig)
		}
		if r.Err() == nil && !bytes.Equal(again, b) {
			t.Fatalf("accepted output does not re-encode to the same bytes")
		}
	})
}

// FuzzKeyListReader: the same for key lists.
func FuzzKeyListReader(f *testing.F) {
	f.Add(keyList("a", "bb"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := readKeyList(b)
		if err != nil {
			return
		}
		if !bytes.Equal(keyList(ids...), b) {
			t.Fatalf("accepted list does not re-encode to the same bytes")
		}
	})
}
