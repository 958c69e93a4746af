// Command testguest is a plugin for the plugin runtime's tests. Its to_isv
// call is driven by the ids of the documents it receives, in order:
//
//	trap          panic: the module traps
//	loop          loop forever (deadline)
//	grow          allocate memory without bound (memory cap)
//	huge          answer a valid JSON string larger than 8 MiB
//	badjson       answer output kind JSON with malformed text
//	badcompact    answer output kind DocumentList with malformed bytes
//	badkind       answer output kind ComponentStatus, not allowed for to_isv
//	error:<code>  fail with oso.Error{<code>, "custom failure"}
//	fail          fail with a plain Go error (generic 500)
//	exit          exit the module with code 3 (proc_exit)
//	log           write one log line at each level
//	status:<code> make later status calls answer status_code <code>
//	echo          answer the received documents as a DocumentList
//
// Other ids are ignored. Without echo the answer is {"received":N}.
// status answers 200 OK (or the code set by status:<code>); to_oso answers
// the single document {"id":"t1","content":"hello","metadata":""}.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/testguest.wasm ./host/plugin/testdata/testguest
package main

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/osohost/osohost/abi"
	oso "github.com/osohost/osohost/guest-sdk/go"
)

type guest struct {
	statusCode int      // 0: 200
	hoard      [][]byte // grow keeps everything it allocates
	spin       uint64
}

func (g *guest) Status() (oso.Status, error) {
	s := oso.OK()
	if g.statusCode != 0 {
		s.Code = g.statusCode
	}
	return s, nil
}

func (g *guest) ToOSO(out *oso.DocumentList) error {
	out.Append("t1", "hello", "")
	return nil
}

func (g *guest) ToISV(in *oso.Documents, out *oso.Reply) error {
	echo := false
	for d := range in.All() {
		switch id := d.ID; {
		case id == "trap":
			panic("testguest: trap")
		case id == "loop":
			for {
				g.spin++
			}
		case id == "grow":
			for {
				b := make([]byte, 1<<20)
				for i := 0; i < len(b); i += 4096 {
					b[i] = 1
				}
				g.hoard = append(g.hoard, b)
			}
		case id == "huge":
			b := append(out.Buffer(), '"')
			b = append(b, strings.Repeat("a", abi.DefaultMaxOutputBytes+1)...)
			out.SetJSON(append(b, '"'))
			return nil
		case id == "badjson":
			out.SetRaw(abi.OutputJSON, []byte(`{"received": `))
			return nil
		case id == "badcompact":
			out.SetRaw(abi.OutputDocumentList, []byte{1, 0, 0, 0, 255})
			return nil
		case id == "badkind":
			st := oso.OK()
			out.SetRaw(abi.OutputStatus, st.AppendCompact(nil))
			return nil
		case strings.HasPrefix(id, "error:"):
			code, err := strconv.Atoi(strings.TrimPrefix(id, "error:"))
			if err != nil {
				return oso.Errorf(400, "testguest: bad code in %q", id)
			}
			return oso.Error{Code: code, Message: "custom failure"}
		case id == "fail":
			return errors.New("testguest: internal detail that must not reach the client")
		case id == "exit":
			os.Exit(3)
		case id == "log":
			oso.Log.Debug("testguest debug")
			oso.Log.Info("testguest info")
			oso.Log.Warn("testguest warn")
			oso.Log.Error("testguest error")
		case strings.HasPrefix(id, "status:"):
			code, err := strconv.Atoi(strings.TrimPrefix(id, "status:"))
			if err != nil {
				return oso.Errorf(400, "testguest: bad code in %q", id)
			}
			g.statusCode = code
		case id == "echo":
			echo = true
		}
	}
	if echo {
		l := out.Documents()
		for d := range in.All() {
			l.Add(d)
		}
		return nil
	}
	o := oso.NewJSONObject(out.Buffer())
	o.Int("received", int64(in.Len()))
	out.SetJSON(o.End())
	return nil
}

func init() {
	oso.Register(&guest{})
}

func main() {}
