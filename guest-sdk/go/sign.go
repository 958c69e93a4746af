package oso

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strconv"
	"strings"
	"unsafe"

	"github.com/osohost/osohost/abi"
)

// KeyType is a key algorithm: [Secp256k1] or [Ed25519]. Its String method
// returns the framework's names, "SECP256K1" and "ED25519".
type KeyType = abi.KeyType

// Key types.
const (
	// Secp256k1 is ECDSA over secp256k1: [Sign] takes exactly a 32-byte
	// digest (hash the message first) and returns r||s, 64 bytes, low-S.
	Secp256k1 = abi.KeySecp256k1
	// Ed25519 is pure Ed25519: [Sign] takes the message itself and returns
	// a 64-byte signature.
	Ed25519 = abi.KeyEd25519
)

// Key is a key pair the host keeps; only its public half reaches the
// plugin. PublicKey is the SubjectPublicKeyInfo DER. A Key returned by
// this package owns its fields.
type Key struct {
	ID        string
	Type      KeyType
	PublicKey []byte
}

// PEM returns the public key as PEM text, exactly as the framework's
// get_key_pem writes it (and Go's pem.EncodeToMemory): "-----BEGIN PUBLIC
// KEY-----\n", standard base64 in lines of 64 characters, each ended by
// "\n", then "-----END PUBLIC KEY-----\n".
func (k Key) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKey}))
}

// SignRequest is one signature of a [SignMany] batch. Data is read during
// the call only; a view such as [Document.ContentBytes] is fine.
type SignRequest struct {
	KeyID string
	Data  []byte
}

// SignResult is the outcome of one [SignRequest]: a 64-byte signature, or
// an error (see [HostError]) and no signature.
type SignResult struct {
	Signature []byte
	Err       error
}

// Errors of the signing functions, matched with errors.Is against the
// [*HostError] they return.
var (
	// ErrNotFound: no key has that id.
	ErrNotFound = errors.New("oso: key not found")
	// ErrNotAllowed: the host's signing policy refuses this key, key type
	// or operation, or no export call is running (during Init).
	ErrNotAllowed = errors.New("oso: not allowed")
	// ErrUnavailable: the signing backend failed; retrying later may help.
	ErrUnavailable = errors.New("oso: signing backend unavailable")
	// ErrBadArgument: the request does not suit the key, for example a
	// SECP256K1 digest that is not 32 bytes, or an unknown key type.
	ErrBadArgument = errors.New("oso: invalid argument")
	// ErrTooLarge: a key id or data over its limit ([abi.MaxKeyIDBytes],
	// [abi.MaxSignDataBytes]).
	ErrTooLarge = errors.New("oso: argument too large")
)

// HostError is a host function that answered a failure status. It matches
// [ErrNotFound], [ErrNotAllowed], [ErrUnavailable], [ErrBadArgument] or
// [ErrTooLarge] with errors.Is, according to Status.
type HostError struct {
	Func   string     // host function, e.g. "sign"
	Status abi.Status // negative
}

func (e *HostError) Error() string {
	if s := e.sentinel(); s != nil {
		return s.Error() + " (" + e.Func + ")"
	}
	return "oso: " + e.Func + " failed with status " + strconv.Itoa(int(e.Status))
}

// Is reports whether target is the sentinel error of e's status.
func (e *HostError) Is(target error) bool {
	s := e.sentinel()
	return s != nil && s == target
}

func (e *HostError) sentinel() error {
	switch e.Status {
	case abi.StatusNotFound:
		return ErrNotFound
	case abi.StatusNotAllowed:
		return ErrNotAllowed
	case abi.StatusUnavailable:
		return ErrUnavailable
	case abi.StatusBadArgument:
		return ErrBadArgument
	case abi.StatusTooLarge:
		return ErrTooLarge
	}
	return nil
}

// errHostAnswer reports a host answer the SDK cannot decode: a host bug.
var errHostAnswer = errors.New("oso: malformed answer from the host")

func hostErr(fn string, st int32) error {
	return &HostError{Func: fn, Status: abi.Status(st)}
}

// maxKeyListBytes bounds the buffer ListKeys grows to (about 370,000 ids
// of 36 bytes).
const maxKeyListBytes = 16 << 20

// signState holds the buffers the signing functions reuse between calls.
type signState struct {
	out     []byte // answers of key_generate, key_list, key_public, sign
	in      []byte // SignManyInput
	many    []byte // SignManyOutput; SignMany's results alias it
	results []SignResult
	idx     []int32 // position in a sign_many chunk → index in reqs
}

// outBuf returns the reusable answer buffer with at least n bytes.
func (s *signState) outBuf(n int) []byte {
	if len(s.out) < n {
		s.out = make([]byte, max(n, abi.KeyInfoMaxBytes))
	}
	return s.out
}

// GenerateKey creates a key pair of type t on the host and returns it.
// The framework's generate_key_pair returned (key_id, pub_key_pem): that is
// k.ID and k.PEM().
func GenerateKey(t KeyType) (Key, error) {
	out := rt.sign.outBuf(abi.KeyInfoMaxBytes)[:abi.KeyInfoMaxBytes]
	n := hostKeyGenerate(int32(t), out)
	if n < 0 {
		return Key{}, hostErr(abi.ImportKeyGenerate, n)
	}
	if int(n) > len(out) {
		return Key{}, errHostAnswer
	}
	id, pub, err := abi.DecodeKeyInfo(out[:n])
	if err != nil {
		return Key{}, errHostAnswer
	}
	return Key{ID: string(id), Type: t, PublicKey: clone(pub)}, nil
}

// ListKeys returns the ids of the keys of type t that the plugin may use,
// sorted. With none it returns an empty list and no error.
func ListKeys(t KeyType) ([]string, error) {
	size := max(len(rt.sign.out), 4096)
	for {
		out := rt.sign.outBuf(size)
		n := hostKeyList(int32(t), out)
		if n == int32(abi.StatusTooSmall) && len(out) < maxKeyListBytes {
			size = min(2*len(out), maxKeyListBytes)
			continue
		}
		if n < 0 {
			return nil, hostErr(abi.ImportKeyList, n)
		}
		if int(n) > len(out) {
			return nil, errHostAnswer
		}
		r, err := abi.NewKeyListReader(out[:n])
		if err != nil {
			return nil, errHostAnswer
		}
		ids := make([]string, 0, r.Len())
		for {
			id, ok := r.Next()
			if !ok {
				break
			}
			ids = append(ids, string(id))
		}
		if r.Err() != nil {
			return nil, errHostAnswer
		}
		if len(out) > keepBytes {
			rt.sign.out = nil
		}
		return ids, nil
	}
}

// PublicKey returns the key with that id, or [ErrNotFound].
func PublicKey(id string) (Key, error) {
	out := rt.sign.outBuf(abi.KeyInfoMaxBytes)
	n := hostKeyPublic(id, out)
	if n < 0 {
		return Key{}, hostErr(abi.ImportKeyPublic, n)
	}
	if int(n) > len(out) {
		return Key{}, errHostAnswer
	}
	t, pub, err := abi.DecodePublicKey(out[:n])
	if err != nil {
		return Key{}, errHostAnswer
	}
	return Key{ID: strings.Clone(id), Type: t, PublicKey: clone(pub)}, nil
}

// PublicKeyPEM returns the key's public key as PEM text, exactly as the
// framework's get_key_pem did (see [Key.PEM]), or [ErrNotFound].
func PublicKeyPEM(id string) (string, error) {
	k, err := PublicKey(id)
	if err != nil {
		return "", err
	}
	return k.PEM(), nil
}

// Sign signs data with the key id and returns the 64-byte signature, a new
// slice. For a SECP256K1 key data must be a 32-byte digest; an Ed25519 key
// signs data itself. Every signature is audited by the host. To sign
// several documents, use [SignMany]: one boundary crossing for the batch,
// and the host signs in parallel.
func Sign(id string, data []byte) ([]byte, error) {
	out := rt.sign.outBuf(abi.SignatureBytes)
	n := hostSign(id, data, out)
	if n < 0 {
		return nil, hostErr(abi.ImportSign, n)
	}
	if int(n) > len(out) {
		return nil, errHostAnswer
	}
	return clone(out[:n]), nil
}

// SignHex is [Sign] with the signature in lowercase hex, as the framework's
// sign returned it.
func SignHex(id string, data []byte) (string, error) {
	sig, err := Sign(id, data)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sig), nil
}

// SignMany signs every request and returns one result per request, in
// order. The whole batch crosses to the host at once (batches over
// [abi.MaxSignBatch] requests or [abi.MaxSignManyInputBytes] bytes are
// split) and the host signs the requests concurrently. A request that
// fails has its Err set; the error returned is for the batch as a whole
// (for example [ErrNotAllowed] outside an export call).
//
// The results and their signatures live in buffers the SDK reuses: they
// are valid until the next call of SignMany. Copy what you keep. Once the
// buffers have grown, a call allocates nothing but the errors of failed
// requests.
func SignMany(reqs []SignRequest) ([]SignResult, error) {
	s := &rt.sign
	res := s.results[:0]
	if cap(res) < len(reqs) {
		res = make([]SignResult, len(reqs))
	}
	res = res[:len(reqs)]
	clear(res)
	s.results = res
	// Room for every chunk's answer, whatever the chunking.
	need := len(reqs)*(abi.SignResultBytes+4) + 4
	if cap(s.many) > keepBytes && need <= keepBytes {
		s.many = nil
	}
	if cap(s.many) < need {
		s.many = make([]byte, need)
	}
	out := s.many[:cap(s.many)]
	used := 0
	for i := 0; i < len(reqs); {
		in := append(s.in[:0], 0, 0, 0, 0)
		idx := s.idx[:0]
		for ; i < len(reqs) && len(idx) < abi.MaxSignBatch; i++ {
			r := &reqs[i]
			if len(r.KeyID) > abi.MaxKeyIDBytes || len(r.Data) > abi.MaxSignDataBytes {
				res[i].Err = hostErr(abi.ImportSignMany, int32(abi.StatusTooLarge))
				continue
			}
			if len(idx) > 0 && len(in)+8+len(r.KeyID)+len(r.Data) > abi.MaxSignManyInputBytes {
				break
			}
			in = abi.AppendSignRequest(in, r.KeyID, r.Data)
			idx = append(idx, int32(i))
		}
		s.in, s.idx = in, idx
		if len(idx) == 0 {
			continue
		}
		binary.LittleEndian.PutUint32(in, uint32(len(idx)))
		dst := out[used : used+abi.SignManyOutputBytes(len(idx))]
		n := hostSignMany(in, dst)
		if n < 0 {
			return nil, hostErr(abi.ImportSignMany, n)
		}
		if int(n) > len(dst) {
			return nil, errHostAnswer
		}
		rd, err := abi.NewSignResultReader(dst[:n])
		if err != nil || rd.Len() != len(idx) {
			return nil, errHostAnswer
		}
		for _, j := range idx {
			st, sig, ok := rd.Next()
			if !ok {
				return nil, errHostAnswer
			}
			if st == abi.StatusOK {
				res[j].Signature = sig
			} else {
				res[j].Err = hostErr(abi.ImportSignMany, int32(st))
			}
		}
		if rd.Err() != nil {
			return nil, errHostAnswer
		}
		used += int(n)
	}
	if cap(s.in) > keepBytes {
		s.in = nil
	}
	return res, nil
}

// ContentBytes returns d.Content as a byte slice without copying, for a
// [SignRequest]. It aliases the content (and, for a document of
// [Documents], the call's input): never modify it.
func (d Document) ContentBytes() []byte {
	return unsafe.Slice(unsafe.StringData(d.Content), len(d.Content))
}

// clone copies b into a new slice; nil for an empty b.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
