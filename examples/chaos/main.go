// Command chaos is a plugin for osohost that misbehaves on demand, for
// fault-isolation tests and demonstrations: each document posted to it names
// an action, from answering normally to trapping, looping forever,
// exhausting its memory or answering garbage. status and to_oso behave
// normally, so health checks pass while it is being abused.
//
// The action of a document is its content when that is an action name,
// else its id when that is one, else ok:
//
//	ok       nothing: the document is echoed back
//	trap     panic: the module traps
//	loop     loop forever without calling the host (call deadline)
//	grow     allocate memory without bound (memory cap)
//	huge     answer a JSON string of N bytes, default 64 MiB (output limit)
//	badjson  answer malformed JSON text
//	error    fail with status N (400..599, default 418) and a message
//	slow     busy-wait N milliseconds (default 100, at most 10,000), then go on
//
// N is the first decimal number in the document's metadata: "250" and
// {"ms": 250} both give 250. Documents run in order: the first one whose
// action ends the call decides the answer; when none does, the answer is
// the received documents as a DocumentList.
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/chaos.wasm ./examples/chaos
package main

import (
	"time"

	oso "github.com/osohost/osohost/guest-sdk/go"
)

// Actions a document can name.
const (
	actionOK      = "ok"
	actionTrap    = "trap"
	actionLoop    = "loop"
	actionGrow    = "grow"
	actionHuge    = "huge"
	actionBadJSON = "badjson"
	actionError   = "error"
	actionSlow    = "slow"
)

// Defaults and bounds of the numeric parameter N.
const (
	defaultHugeBytes = 64 << 20
	maxHugeBytes     = 1 << 30 // half of what a 32-bit module can address
	defaultErrorCode = 418
	defaultSlowMS    = 100
	maxSlowMS        = 10_000
	maxDigits        = 10 // at most 10 digits are read, so N fits an int64
)

// chaos is the plugin. It keeps nothing between calls that matters (grow's
// hoard dies with the instance the memory cap kills), so it is registered
// as stateless and the host may run several instances.
type chaos struct {
	hoard [][]byte // what grow allocated, kept reachable
	spin  uint64   // what loop and slow count, so the loops are not optimised away
}

// Status reports 200 OK: a plugin being abused stays healthy.
func (c *chaos) Status() (oso.Status, error) {
	return oso.OK(), nil
}

// ToOSO answers an empty DocumentList.
func (c *chaos) ToOSO(out *oso.DocumentList) error {
	return nil
}

// ToISV runs each document's action in order; see the package
// documentation.
func (c *chaos) ToISV(in *oso.Documents, out *oso.Reply) error {
	for d := range in.All() {
		switch action(d) {
		case actionTrap:
			oso.Log.Warn("chaos: trap")
			panic("chaos: trap requested")
		case actionLoop:
			oso.Log.Warn("chaos: loop")
			for {
				c.spin++
			}
		case actionGrow:
			oso.Log.Warn("chaos: grow")
			for {
				b := make([]byte, 1<<20)
				for i := 0; i < len(b); i += 4096 {
					b[i] = 1 // touch every page
				}
				c.hoard = append(c.hoard, b)
			}
		case actionHuge:
			n := param(d.Metadata, defaultHugeBytes, 2, maxHugeBytes)
			oso.Log.Warnf("chaos: huge output of %d bytes", n)
			b := make([]byte, n)
			for i := range b {
				b[i] = 'a'
			}
			b[0], b[n-1] = '"', '"'
			out.SetJSON(b)
			return nil
		case actionBadJSON:
			out.SetJSONString(`{"chaos": "unterminated`)
			return nil
		case actionError:
			code := param(d.Metadata, defaultErrorCode, 400, 599)
			return oso.Errorf(code, "chaos: error %d requested", code)
		case actionSlow:
			ms := param(d.Metadata, defaultSlowMS, 0, maxSlowMS)
			c.busyWait(time.Duration(ms) * time.Millisecond)
		}
	}
	l := out.Documents()
	for d := range in.All() {
		l.Add(d)
	}
	return nil
}

// action returns the action a document names.
func action(d oso.Document) string {
	if known(d.Content) {
		return d.Content
	}
	if known(d.ID) {
		return d.ID
	}
	return actionOK
}

func known(s string) bool {
	switch s {
	case actionOK, actionTrap, actionLoop, actionGrow, actionHuge, actionBadJSON, actionError, actionSlow:
		return true
	}
	return false
}

// param returns the first decimal number in metadata, clamped to
// [lo, hi], or def when there is none. At most maxDigits digits are read.
func param(metadata string, def, lo, hi int) int {
	i := 0
	for i < len(metadata) && (metadata[i] < '0' || metadata[i] > '9') {
		i++
	}
	if i == len(metadata) {
		return def
	}
	n := 0
	for j := 0; i < len(metadata) && j < maxDigits && metadata[i] >= '0' && metadata[i] <= '9'; i, j = i+1, j+1 {
		n = n*10 + int(metadata[i]-'0')
	}
	return min(max(n, lo), hi)
}

// busyWait spins for d, reading the clock every few thousand iterations:
// it burns CPU as a slow computation would, without sleeping.
func (c *chaos) busyWait(d time.Duration) {
	start := time.Now()
	x := c.spin
	for time.Since(start) < d {
		for range 4096 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	c.spin = x // keeps the arithmetic from being optimised away
}

func init() {
	oso.Register(&chaos{}, oso.Stateless())
}

// main is never called: a -buildmode=c-shared module only runs package
// initialisers (see init above) before the host calls its exports.
func main() {}
