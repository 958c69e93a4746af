// Command versioned is a plugin for the reload tests. It reports the
// version it was built with in its status (an extra member "version") and
// in its to_isv answer ({"version":…,"received":N}), so that a test can
// tell which of two builds answered:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath \
//	    -ldflags=-X=main.version=v2 -o v2.wasm ./host/reload/testdata/versioned
//
// Built with -X=main.failStatus=yes its status call fails, which a reload
// check must refuse. A document with id "loop" makes to_isv log
// "versioned: looping" and then loop until the host stops the call. It
// keeps no state and says so.
package main

import (
	oso "github.com/osohost/osohost/guest-sdk/go"
)

// Set with -ldflags=-X=main.version=… and -X=main.failStatus=yes.
var (
	version    = "dev"
	failStatus = ""
)

type guest struct{}

var spin uint64

func (guest) Status() (oso.Status, error) {
	if failStatus != "" {
		return oso.Status{}, oso.Errorf(500, "versioned: status fails in this build")
	}
	s := oso.OK()
	o := oso.NewJSONObject(nil)
	o.String("version", version)
	s.Extra = o.End()
	return s, nil
}

func (guest) ToOSO(out *oso.DocumentList) error {
	out.Append("version", version, "")
	return nil
}

func (guest) ToISV(in *oso.Documents, out *oso.Reply) error {
	for d := range in.All() {
		if d.ID == "loop" {
			oso.Log.Info("versioned: looping")
			for {
				spin++
			}
		}
	}
	o := oso.NewJSONObject(out.Buffer())
	o.String("version", version)
	o.Int("received", int64(in.Len()))
	out.SetJSON(o.End())
	return nil
}

func init() {
	oso.Register(guest{}, oso.Stateless())
}

func main() {}
