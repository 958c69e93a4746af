// Command stateguest is a plugin for the state host-call tests. Its to_isv
// call runs one operation per document and answers a DocumentList with one
// document per operation: the same id, and the outcome as content. Its
// to_oso and status calls read the key "status" (to_oso answers one
// document with its value, status an extra {"status": "<value>"}).
//
// Raw operations call a state host function with arguments built from the
// document content, a space-separated list of tokens:
//
//	123, -1        an i32 as is
//	s=<text>       two i32: pointer to and length of the text
//	x=<hex>        two i32: pointer to and length of the decoded bytes
//	big=<n>        two i32: pointer to and length of n bytes of 'v'
//	out=<n>        two i32: pointer to and length of a zeroed n-byte buffer
//
// The operation id names the function: raw:kv_get, raw:kv_put,
// raw:kv_delete, raw:kv_list. The outcome is the i32 result and, when an
// out= buffer was given, a space and either the hex of the bytes written
// (positive result within the buffer) or "untouched" / "written" (else:
// whether the buffer is still all zero).
//
// SDK operations use the Go guest SDK:
//
//	sdk:get <key>                   "<value hex>" or "absent"
//	sdk:put <key> [<value hex>]     "ok"
//	sdk:putn <prefix> <n> <size>    n keys <prefix><6 digits> of size bytes; "ok"
//	sdk:delete <key>                "true" or "false"
//	sdk:list <prefix>               the keys, joined by ","
//	sdk:count <prefix>              the number of keys
//	sdk:incr <key>                  reads a decimal counter, writes it + 1; the new value
//	bench:get <key> <n>             n KVGet calls; "ok"
//	outside                         results of kv_get during package
//	                                initialisation and Init, "<a> <b>"
//	trap                            panics (the call traps)
//	fail                            the call fails with 503
//
// A failing SDK operation answers "err <status>". Other ids answer
// "unknown".
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/stateguest.wasm ./host/hostcall/testdata/stateguest
package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	oso "github.com/osohost/osohost/guest-sdk/go"
)

//go:wasmimport oso kv_get
func rawKVGet(a, b, c, d int32) int32

//go:wasmimport oso kv_put
func rawKVPut(a, b, c, d int32) int32

//go:wasmimport oso kv_delete
func rawKVDelete(a, b int32) int32

//go:wasmimport oso kv_list
func rawKVList(a, b, c, d, e, f int32) int32

// Results of kv_get outside an export call.
var atInitialize, atInit int32

var scratch [64]byte

func init() {
	atInitialize = rawKVGet(ptr([]byte("k")), 1, ptr(scratch[:]), int32(len(scratch)))
	oso.Register(&guest{})
}

type guest struct{}

func (*guest) Init() error {
	atInit = rawKVGet(ptr([]byte("k")), 1, ptr(scratch[:]), int32(len(scratch)))
	return nil
}

func (*guest) Status() (oso.Status, error) {
	v, _, err := oso.KVGet("status")
	if err != nil {
		return oso.Status{}, err
	}
	s := oso.OK()
	s.Extra = oso.AppendJSONString([]byte(`{"status": `), string(v))
	s.Extra = append(s.Extra, '}')
	return s, nil
}

func (*guest) ToOSO(out *oso.DocumentList) error {
	v, ok, err := oso.KVGet("status")
	if err != nil {
		return err
	}
	if ok {
		out.Add(oso.Document{ID: "status", Content: string(v)})
	}
	return nil
}

func (*guest) ToISV(in *oso.Documents, out *oso.Reply) error {
	l := out.Documents()
	for d := range in.All() {
		switch d.ID {
		case "trap":
			panic("stateguest: trap")
		case "fail":
			return oso.Errorf(503, "failing on purpose")
		}
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
	case "sdk:get":
		v, ok, err := oso.KVGet(f[0])
		if err != nil {
			return fail(err)
		}
		if !ok {
			return "absent"
		}
		return hex.EncodeToString(v)
	case "sdk:put":
		var v []byte
		if len(f) > 1 {
			v = unhex(f[1])
		}
		if err := oso.KVPut(f[0], v); err != nil {
			return fail(err)
		}
		return "ok"
	case "sdk:putn":
		n, _ := strconv.Atoi(f[1])
		size, _ := strconv.Atoi(f[2])
		v := bytes.Repeat([]byte{'v'}, size)
		for i := range n {
			if err := oso.KVPut(fmt.Sprintf("%s%06d", f[0], i), v); err != nil {
				return fail(err)
			}
		}
		return "ok"
	case "sdk:delete":
		existed, err := oso.KVDelete(f[0])
		if err != nil {
			return fail(err)
		}
		return strconv.FormatBool(existed)
	case "sdk:list", "sdk:count":
		prefix := ""
		if len(f) > 0 {
			prefix = f[0]
		}
		var keys []string
		if err := oso.KVList(prefix, func(k string) bool { keys = append(keys, k); return true }); err != nil {
			return fail(err)
		}
		if op == "sdk:count" {
			return strconv.Itoa(len(keys))
		}
		return strings.Join(keys, ",")
	case "sdk:incr":
		v, _, err := oso.KVGet(f[0])
		if err != nil {
			return fail(err)
		}
		n, _ := strconv.Atoi(string(v))
		n++
		if err := oso.KVPut(f[0], []byte(strconv.Itoa(n))); err != nil {
			return fail(err)
		}
		return strconv.Itoa(n)
	case "bench:get":
		n, _ := strconv.Atoi(f[1])
		for range n {
			if _, _, err := oso.KVGet(f[0]); err != nil {
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
		case strings.HasPrefix(tok, "big="):
			n, _ := strconv.Atoi(tok[4:])
			b := bytes.Repeat([]byte{'v'}, n)
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
	want := map[string]int{"kv_get": 4, "kv_put": 4, "kv_delete": 2, "kv_list": 6}[fn]
	if want == 0 || len(args) != want {
		return "bad arguments for " + fn
	}
	a := args
	var r int32
	switch fn {
	case "kv_get":
		r = rawKVGet(a[0], a[1], a[2], a[3])
	case "kv_put":
		r = rawKVPut(a[0], a[1], a[2], a[3])
	case "kv_delete":
		r = rawKVDelete(a[0], a[1])
	case "kv_list":
		r = rawKVList(a[0], a[1], a[2], a[3], a[4], a[5])
	}
	runtime.KeepAlive(keep)
	s := itoa(r)
	switch {
	case out == nil:
	case r > 0 && int(r) <= len(out):
		s += " " + hex.EncodeToString(out[:r])
	case r < 0 || r > 0:
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
