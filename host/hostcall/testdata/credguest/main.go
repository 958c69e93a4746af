// Command credguest is a plugin for the credential host-call tests. Its
// to_isv call runs one operation per document and answers a DocumentList
// with one document per operation: the same id, and the outcome as
// content.
//
// The raw operation, raw:credential, calls the credential host function
// with arguments built from the document content, a space-separated list
// of tokens:
//
//	123, -1        an i32 as is
//	s=<text>       two i32: pointer to and length of the text
//	x=<hex>        two i32: pointer to and length of the decoded bytes
//	out=<n>        two i32: pointer to and length of a zeroed n-byte buffer
//
// Its outcome is the i32 result and, when an out= buffer was given, a
// space and either the hex of the bytes written (positive result) or
// "untouched" / "written" (negative result: whether the buffer is still
// all zero).
//
// SDK operations use oso.Credential:
//
//	sdk:credential <name>        "<token> <type or -> <expires_at_ms>"
//	sdk:error <name>             the error's text, or "ok"
//	sdk:log <name>               logs the Token with %v and %#v; "logged"
//	bench:credential <name> <n>  n Credential calls; "ok"
//	outside                      results of credential called during
//	                             package initialisation and Init, "<a> <b>"
//
// A failing SDK operation answers "err <status>". Other ids answer
// "unknown".
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/credguest.wasm ./host/hostcall/testdata/credguest
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

//go:wasmimport oso credential
func rawCredential(a, b, c, d int32) int32

// Results of credential outside an export call.
var atInitialize, atInit int32

var scratch [256]byte

var anyName = []byte("any")

func init() {
	atInitialize = rawCredential(ptr(anyName), int32(len(anyName)), ptr(scratch[:]), int32(len(scratch)))
	oso.Register(&guest{})
}

type guest struct{}

func (*guest) Init() error {
	atInit = rawCredential(ptr(anyName), int32(len(anyName)), ptr(scratch[:]), int32(len(scratch)))
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
	if op == "raw:credential" {
		return raw(arg)
	}
	f := strings.Fields(arg)
	name := ""
	if len(f) > 0 {
		name = f[0]
	}
	switch op {
	case "outside":
		return itoa(atInitialize) + " " + itoa(atInit)
	case "sdk:credential":
		t, err := oso.Credential(name)
		if err != nil {
			return fail(err)
		}
		typ := t.TokenType
		if typ == "" {
			typ = "-"
		}
		exp := int64(0)
		if !t.ExpiresAt.IsZero() {
			exp = t.ExpiresAt.UnixMilli()
		}
		return t.Token + " " + typ + " " + strconv.FormatInt(exp, 10)
	case "sdk:error":
		if _, err := oso.Credential(name); err != nil {
			return err.Error()
		}
		return "ok"
	case "sdk:log":
		t, err := oso.Credential(name)
		if err != nil {
			return fail(err)
		}
		oso.Log.Infof("credential %v %#v", t, t)
		return "logged"
	case "bench:credential":
		n, _ := strconv.Atoi(f[1])
		for range n {
			if _, err := oso.Credential(name); err != nil {
				return fail(err)
			}
		}
		return "ok"
	}
	return "unknown"
}

func fail(err error) string {
	var he *oso.HostError
	if errors.As(err, &he) {
		return "err " + itoa(int32(he.Status))
	}
	return "err " + err.Error()
}

func itoa(v int32) string { return strconv.Itoa(int(v)) }

// raw calls the credential host function with the arguments the tokens of
// arg describe.
func raw(arg string) string {
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
			b, _ := hex.DecodeString(tok[2:])
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
	if len(args) != 4 {
		return "bad arguments"
	}
	r := rawCredential(args[0], args[1], args[2], args[3])
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
