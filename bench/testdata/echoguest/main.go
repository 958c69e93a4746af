// Command echoguest is the smallest Go SDK plugin that moves documents both
// ways: to_isv answers the documents it received, unchanged, as a
// DocumentList. It declares itself stateless.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o echoguest.wasm ./bench/testdata/echoguest
package main

import oso "github.com/osohost/osohost/guest-sdk/go"

type echo struct{}

func (echo) Status() (oso.Status, error) { return oso.OK(), nil }

func (echo) ToOSO(out *oso.DocumentList) error { return nil }

func (echo) ToISV(in *oso.Documents, out *oso.Reply) error {
	l := out.Documents()
	for d := range in.All() {
		l.Add(d)
	}
	return nil
}

func init() { oso.Register(echo{}, oso.Stateless()) }

func main() {}
