//go:build wasip1

// Command goguest is a Go wasip1 reactor used by the interrupt tests and
// benchmarks: a real-world module (the Go runtime, garbage collector and
// standard library) to instrument and run. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goguest.wasm .
//
// and call _initialize before any export.
package main

import (
	"crypto/sha256"
	"encoding/json"
)

//go:wasmimport test started
func started()

// sum returns 0 + 1 + ... + (n-1).
//
//go:wasmexport sum
func sum(n int32) int64 {
	var s int64
	for i := range n {
		s += int64(i)
	}
	return s
}

// fib returns the n-th Fibonacci number, recursively.
//
//go:wasmexport fib
func fib(n int32) int32 {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

type document struct {
	ID       string `json:"id"`
	Content  string `json:"content"`
	Metadata string `json:"metadata"`
}

// work encodes and decodes n documents as JSON, hashes the result and
// returns the first four bytes of the hash: allocation, reflection and
// hashing, like a plugin handling a request.
//
//go:wasmexport work
func work(n int32) uint32 {
	docs := make([]document, n)
	for i := range docs {
		docs[i] = document{ID: string(rune('a' + i%26)), Content: "some content to sign", Metadata: `{"k":"v"}`}
	}
	b, err := json.Marshal(docs)
	if err != nil {
		panic(err)
	}
	var back []document
	if err := json.Unmarshal(b, &back); err != nil {
		panic(err)
	}
	h := sha256.New()
	for _, d := range back {
		h.Write([]byte(d.ID + d.Content + d.Metadata))
	}
	s := h.Sum(nil)
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

// spin calls test.started, then loops forever.
//
//go:wasmexport spin
func spin() {
	started()
	for {
	}
}

func main() {}
