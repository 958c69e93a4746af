//go:build !wasip1

package oso

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"

	"github.com/osohost/osohost/abi"
)

// Outside WebAssembly the signing functions work against an in-memory
// keystore private to the process, so that plugin code can be unit-tested
// natively: Ed25519 keys are generated, listed and used as the host would;
// SECP256K1 is not available (ErrBadArgument), and there is no policy. The
// keys vanish when the process exits. The host's own rules (statuses,
// limits, encodings) are followed so that the SDK's code paths are the same.

var native struct {
	mu    sync.Mutex
	keys  map[string]ed25519.PrivateKey
	ids   []string // sorted
	fault int32    // tests: when non-zero, every signing function returns it
}

// ed25519SPKIPrefix is the DER of an Ed25519 SubjectPublicKeyInfo (RFC
// 8410) up to the 32 key bytes.
var ed25519SPKIPrefix = []byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}

func nativeSPKI(k ed25519.PrivateKey) []byte {
	return append(slices.Clone(ed25519SPKIPrefix), k.Public().(ed25519.PublicKey)...)
}

// newUUID returns a random (version 4) UUID, as the framework's key ids.
func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func validType(t int32) bool {
	return abi.KeyType(t) == abi.KeySecp256k1 || abi.KeyType(t) == abi.KeyEd25519
}

func hostKeyGenerate(t int32, out []byte) int32 {
	native.mu.Lock()
	defer native.mu.Unlock()
	switch {
	case native.fault != 0:
		return native.fault
	case !validType(t) || abi.KeyType(t) != abi.KeyEd25519:
		return int32(abi.StatusBadArgument)
	case len(out) < abi.KeyInfoMaxBytes:
		return int32(abi.StatusTooSmall)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return int32(abi.StatusUnavailable)
	}
	id := newUUID()
	if native.keys == nil {
		native.keys = map[string]ed25519.PrivateKey{}
	}
	native.keys[id] = priv
	i, _ := slices.BinarySearch(native.ids, id)
	native.ids = slices.Insert(native.ids, i, id)
	return int32(copy(out, abi.AppendKeyInfo(nil, id, nativeSPKI(priv))))
}

func hostKeyList(t int32, out []byte) int32 {
	native.mu.Lock()
	defer native.mu.Unlock()
	if native.fault != 0 {
		return native.fault
	}
	if !validType(t) {
		return int32(abi.StatusBadArgument)
	}
	b := abi.AppendU32(nil, 0)
	n := 0
	if abi.KeyType(t) == abi.KeyEd25519 {
		for _, id := range native.ids {
			b = abi.AppendString(b, id)
			n++
		}
	}
	b[0], b[1], b[2], b[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	if len(b) > len(out) {
		return int32(abi.StatusTooSmall)
	}
	return int32(copy(out, b))
}

func hostKeyPublic(id string, out []byte) int32 {
	native.mu.Lock()
	defer native.mu.Unlock()
	if native.fault != 0 {
		return native.fault
	}
	if len(id) > abi.MaxKeyIDBytes {
		return int32(abi.StatusTooLarge)
	}
	k, ok := native.keys[id]
	if !ok {
		return int32(abi.StatusNotFound)
	}
	b := abi.AppendPublicKey(nil, abi.KeyEd25519, nativeSPKI(k))
	if len(b) > len(out) {
		return int32(abi.StatusTooSmall)
	}
	return int32(copy(out, b))
}

// nativeKey finds the key of one request; native.mu is held.
func nativeKey(id, data []byte) (ed25519.PrivateKey, abi.Status) {
	if len(id) > abi.MaxKeyIDBytes || len(data) > abi.MaxSignDataBytes {
		return nil, abi.StatusTooLarge
	}
	k, ok := native.keys[string(id)]
	if !ok {
		return nil, abi.StatusNotFound
	}
	return k, abi.StatusOK
}

func hostSign(id string, data, out []byte) int32 {
	native.mu.Lock()
	defer native.mu.Unlock()
	switch {
	case native.fault != 0:
		return native.fault
	case len(id) > abi.MaxKeyIDBytes || len(data) > abi.MaxSignDataBytes:
		return int32(abi.StatusTooLarge)
	case len(out) < abi.SignatureBytes:
		return int32(abi.StatusTooSmall)
	}
	k, st := nativeKey([]byte(id), data)
	if st != abi.StatusOK {
		return int32(st)
	}
	return int32(copy(out, ed25519.Sign(k, data)))
}

func hostSignMany(in, out []byte) int32 {
	native.mu.Lock()
	defer native.mu.Unlock()
	if native.fault != 0 {
		return native.fault
	}
	if len(in) > abi.MaxSignManyInputBytes {
		return int32(abi.StatusTooLarge)
	}
	r, err := abi.NewSignRequestReader(in)
	switch {
	case err != nil:
		return int32(abi.StatusBadArgument)
	case r.Len() > abi.MaxSignBatch:
		return int32(abi.StatusTooLarge)
	case len(out) < abi.SignManyOutputBytes(r.Len()):
		return int32(abi.StatusTooSmall)
	}
	check := r // the whole input is checked before anything is signed
	for {
		if _, _, ok := check.Next(); !ok {
			break
		}
	}
	if check.Err() != nil {
		return int32(abi.StatusBadArgument)
	}
	b := abi.AppendU32(out[:0], uint32(r.Len()))
	for {
		id, data, ok := r.Next()
		if !ok {
			break
		}
		k, st := nativeKey(id, data)
		if st != abi.StatusOK {
			b = abi.AppendSignResult(b, st, nil)
			continue
		}
		b = abi.AppendSignResult(b, st, ed25519.Sign(k, data)) // on the stack: no allocation
	}
	return int32(len(b))
}
