// Command workguest is a Go SDK plugin that computes, for measuring what
// deadline enforcement costs in guest code. Its to_isv looks at the id of
// the first document:
//
//	spin  count to the number in that document's content in a tight loop
//	      and answer {"spin":<result>}
//	other hash every byte of every document (FNV-1a, one loop iteration
//	      per byte) and answer {"hash":<sum>}
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o workguest.wasm ./bench/testdata/workguest
package main

import (
	"strconv"

	oso "github.com/osohost/osohost/guest-sdk/go"
)

type work struct{}

func (work) Status() (oso.Status, error) { return oso.OK(), nil }

func (work) ToOSO(out *oso.DocumentList) error { return nil }

func (work) ToISV(in *oso.Documents, out *oso.Reply) error {
	o := oso.NewJSONObject(out.Buffer())
	first := true
	var h uint64 = 14695981039346656037
	for d := range in.All() {
		if first && d.ID == "spin" {
			n, err := strconv.Atoi(d.Content)
			if err != nil {
				return oso.Errorf(400, "workguest: spin count %q", d.Content)
			}
			o.Int("spin", int64(spin(n)))
			out.SetJSON(o.End())
			return nil
		}
		first = false
		h = fnv(h, d.ID)
		h = fnv(h, d.Content)
		h = fnv(h, d.Metadata)
	}
	o.Int("hash", int64(h>>1))
	out.SetJSON(o.End())
	return nil
}

// spin runs n iterations of a loop whose body is a few integer operations.
func spin(n int) uint64 {
	var x uint64
	for i := 0; i < n; i++ {
		x += uint64(i) ^ x>>7
	}
	return x
}

// fnv folds the bytes of s into h, one loop iteration per byte.
func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func init() { oso.Register(work{}, oso.Stateless()) }

func main() {}
