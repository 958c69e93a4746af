// Command signguest is a plugin for the host-call tests. Its to_isv call runs
// one operation per document and answers a DocumentList with one document per
// operation: the same id, and the outcome as content.
//
// Raw operations call a signing host function with arguments built from the
// document content, a space-separated list of tokens:
//
//	123, -1        an i32 as is
//	s=<text>       two i32: pointer to and length of the text
//	x=<hex>        two i32: pointer to and length of the decoded bytes
//	out=<n>        two i32: pointer to and length of a zeroed n-byte buffer
//
// The operation id names the function: raw:key_generate, raw:key_list,
// raw:key_public, raw:sign, raw:sign_many. The outcome is the i32 result and,
// when an out= buffer was given, a space and either the hex of the bytes
// written (positive result) or "untouched" / "written" (negative result:
// whether the buffer is still all zero).
//
// SDK operations use the typed helpers of the Go guest SDK:
//
//	sdk:generate <type>              "<id> <spki hex>"
//	sdk:list <type>                  ids separated by ","
//	sdk:public <id>                  "<type> <spki hex>"
//	sdk:pem <id>                     the PEM text
//	sdk:sign <id> <hex>              signature hex (Sign)
//	sdk:signhex <id> <hex>           signature hex (SignHex)
//	sdk:signmany <id>:<hex> …        per request "<sig hex>" or "err <status>", joined by " "
//	bench:sign <id> <n> <size>       n Sign calls over size-byte data; "ok"
//	bench:signmany <id> <n> <size>   one SignMany of n requests; "ok"
//	outside                          results of key_list called during package
//	                                 initialisation and Init, "<a> <b>"
//
// A failing SDK operation answers "err <status>". Other ids answer "unknown".
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/signguest.wasm ./host/hostcall/testdata/signguest
package main

import (
	"encoding/hex"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	oso "github.com/osohost/osohost/guest-sdk/go"
)

//go:wasmimport oso key_generate
func rawKeyGenerate(a, b, c int32) int32

//go:wasmimport oso key_list
func rawKeyList(a, b, c int32) int32

//go:wasmimport oso key_public
func rawKeyPublic(a, b, c, d int32) int32

//go:wasmimport oso sign
func rawSign(a, b, c, d, e, f int32) int32

//go:wasmimport oso sign_many
func rawSignMany(a, b, c, d int32) int32

// Results of key_list outside an export call.
var atInitialize, atInit int32

var scratch [64]byte

func init() {
	atInitialize = rawKeyList(2, ptr(scratch[:]), int32(len(scratch)))
	oso.Register(&guest{})
}

type guest struct{}

func (*guest) Init() error {
	atInit = rawKeyList(2, ptr(scratch[:]), int32(len(scratch)))
	return nil
}

func (*guest) Status() (oso.Status, error)       { return oso.OK(), nil }
func (*guest) ToOSO(out *oso.DocumentList) error { return nil }

func (*guest) ToISV(in *oso.Documents, out *oso.Reply) error {
	l := out.Documents()
	for d := range in.All() {
		l.Append(d.ID, run(d.ID, d.Content), "")
	}
	return nil
}

func ptr(b []byte) int32 {
	if len(b) == 0 {
		return 0
	}
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

func run(op, arg string) string {
	if fn, ok := strings.CutPrefix(op, "raw:"); ok {
		return raw(fn, arg)
	}
	f := strings.Fields(arg)
	switch op {
	case "outside":
		return itoa(atInitialize) + " " + itoa(atInit)
	case "sdk:generate":
		k, err := oso.GenerateKey(keyType(f[0]))
		if err != nil {
			return fail(err)
		}
		return k.ID + " " + hex.EncodeToString(k.PublicKey)
	case "sdk:list":
		ids, err := oso.ListKeys(keyType(f[0]))
		if err != nil {
			return fail(err)
		}
		return strings.Join(ids, ",")
	case "sdk:public":
		k, err := oso.PublicKey(f[0])
		if err != nil {
			return fail(err)
		}
		return k.Type.String() + " " + hex.EncodeToString(k.PublicKey)
	case "sdk:pem":
		p, err := oso.PublicKeyPEM(f[0])
		if err != nil {
			return fail(err)
		}
		return p
	case "sdk:sign":
		sig, err := oso.Sign(f[0], unhex(f[1]))
		if err != nil {
			return fail(err)
		}
		return hex.EncodeToString(sig)
	case "sdk:signhex":
		sig, err := oso.SignHex(f[0], unhex(f[1]))
		if err != nil {
			return fail(err)
		}
		return sig
	case "sdk:signmany":
		reqs := make([]oso.SignRequest, len(f))
		for i, r := range f {
			id, data, _ := strings.Cut(r, ":")
			reqs[i] = oso.SignRequest{KeyID: id, Data: unhex(data)}
		}
		res, err := oso.SignMany(reqs)
		if err != nil {
			return fail(err)
		}
		parts := make([]string, len(res))
		for i, r := range res {
			if r.Err != nil {
				parts[i] = fail(r.Err)
			} else {
				parts[i] = hex.EncodeToString(r.Signature)
			}
		}
		return strings.Join(parts, " ")
	case "bench:sign":
		n, data := benchArgs(f)
		for range n {
			if _, err := oso.Sign(f[0], data); err != nil {
				return fail(err)
			}
		}
		return "ok"
	case "bench:signmany":
		n, data := benchArgs(f)
		reqs := make([]oso.SignRequest, n)
		for i := range reqs {
			reqs[i] = oso.SignRequest{KeyID: f[0], Data: data}
		}
		res, err := oso.SignMany(reqs)
		if err != nil {
			return fail(err)
		}
		for _, r := range res {
			if r.Err != nil {
				return fail(r.Err)
			}
		}
		return "ok"
	}
	return "unknown"
}

func benchArgs(f []string) (int, []byte) {
	n, _ := strconv.Atoi(f[1])
	size, _ := strconv.Atoi(f[2])
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	return n, data
}

func keyType(s string) oso.KeyType {
	switch s {
	case "SECP256K1":
		return oso.Secp256k1
	case "ED25519":
		return oso.Ed25519
	}
	n, _ := strconv.Atoi(s)
	return oso.KeyType(n)
}

func fail(err error) string {
	var he *oso.HostError
	if errors.As(err, &he) {
		return "err " + itoa(int32(he.Status))
	}
	return "err " + err.Error()
}

func unhex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }

// raw calls host function fn with the arguments the tokens of arg describe.
func raw(fn, arg string) string {
	var args []int32
	var keep [][]byte
	var out []byte
	for _, tok := range strings.Fields(arg) {
		switch {
		case strings.HasPrefix(tok, "s="):
			b := []byte(tok[2:])
			keep = append(keep, b)
			args = append(args, ptr(b), int32(len(b)))
		case strings.HasPrefix(tok, "x="):
			b := unhex(tok[2:])
			keep = append(keep, b)
			args = append(args, ptr(b), int32(len(b)))
		case strings.HasPrefix(tok, "out="):
			n, _ := strconv.Atoi(tok[4:])
			out = make([]byte, n)
			args = append(args, ptr(out), int32(n))
		default:
			v, err := strconv.ParseInt(tok, 0, 64)
			if err != nil {
				return "bad token " + tok
			}
			args = append(args, int32(v))
		}
	}
	want := map[string]int{"key_generate": 3, "key_list": 3, "key_public": 4, "sign": 6, "sign_many": 4}[fn]
	if want == 0 || len(args) != want {
		return "bad arguments for " + fn
	}
	a := args
	var r int32
	switch fn {
	case "key_generate":
		r = rawKeyGenerate(a[0], a[1], a[2])
	case "key_list":
		r = rawKeyList(a[0], a[1], a[2])
	case "key_public":
		r = rawKeyPublic(a[0], a[1], a[2], a[3])
	case "sign":
		r = rawSign(a[0], a[1], a[2], a[3], a[4], a[5])
	case "sign_many":
		r = rawSignMany(a[0], a[1], a[2], a[3])
	}
	runtime.KeepAlive(keep)
	s := itoa(r)
	switch {
	case out == nil:
	case r > 0 && int(r) <= len(out):
		s += " " + hex.EncodeToString(out[:r])
	case r < 0:
		for _, c := range out {
			if c != 0 {
				return s + " written"
			}
		}
		s += " untouched"
	}
	return s
}

func main() {}
