package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/bench/loadgen"
	"github.com/osohost/osohost/bench/native"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/soft"
)

// The signing path's benchmarks report, besides ns/op, the time and the
// CPU time of the whole process per signature or per document (ns/sig,
// cpu-ns/sig, ns/doc, cpu-ns/doc): the software backend signs a batch on
// every core, so wall time alone would hide what a signature costs.

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports cpu-ns/op: the process's CPU time since cpu0 over n
// operations.
func reportCPU(b *testing.B, cpu0 time.Duration, n int) {
	if n > 0 {
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/op")
	}
}

// perUnit reports ns/<unit> and cpu-ns/<unit> for n units done since the
// benchmark's timer started and since cpu0.
func perUnit(b *testing.B, n int, cpu0 time.Duration, unit string) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/"+unit)
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/"+unit)
}

// newSoftSigner returns a software backend with a fresh KEK and keystore,
// closed when the benchmark ends. concurrency 0 signs a batch on every
// core.
func newSoftSigner(tb testing.TB, concurrency int) *soft.Signer {
	tb.Helper()
	kek := make([]byte, soft.KEKSize)
	rand.Read(kek)
	s, err := soft.New(soft.Options{Dir: tb.TempDir(), KEK: kek, Concurrency: concurrency})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newSigningPool compiles guest with the signing host functions over s and
// returns a pool of one instance.
func newSigningPool(tb testing.TB, guest string, s signing.Signer, mode plugin.DeadlineMode) *plugin.Pool {
	tb.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cacheDir(), Deadline: mode, Logger: log,
		HostFunctions: signingHostFunctions(s)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, readGuest(tb, guest))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: time.Minute, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(ctx) })
	return p
}

// signingHostFunctions are the signing host functions over s and the
// state host functions (examples/signer imports both). Calls made outside
// a request's state transaction get ErrNotAllowed from the state
// functions: the signer then answers without keeping the documents.
func signingHostFunctions(s signing.Signer) []plugin.HostFunction {
	log := slog.New(slog.DiscardHandler)
	return append(hostcall.Signing(s, log, hostcall.Policy{}), hostcall.State(log, hostcall.StateLimits{})...)
}

// signMessage is what every signing benchmark signs: 128 bytes for
// ED25519 (the content of a benchmark document), a SHA-256 digest for
// SECP256K1 (which signs exactly 32 bytes).
func signMessage(t signing.KeyType) []byte {
	msg := []byte(document(0).Content)
	if t == signing.Secp256k1 {
		d := sha256.Sum256(msg)
		return d[:]
	}
	return msg
}

// signguestOp runs one operation of host/hostcall/testdata/signguest and
// fails unless it answers "ok".
func signguestOp(b *testing.B, p *plugin.Pool, op, arg string) {
	in := abi.AppendDocumentListHeader(nil, 1)
	in = abi.AppendDocument(in, op, arg, "")
	res, err := p.Call(context.Background(), abi.ExportToISV, in)
	if err != nil {
		b.Fatal(err)
	}
	r, err := abi.NewDocumentReader(res.Data)
	if err != nil {
		b.Fatal(err)
	}
	d, ok := r.Next()
	if !ok || string(d.Content) != "ok" {
		b.Fatalf("%s: %q", op, d.Content)
	}
}

// BenchmarkSign is one signature per operation, ED25519 (128 bytes) and
// SECP256K1 (a 32-byte digest): path=native is the library alone
// (crypto/ed25519, decred secp256k1 with low-S r||s), the floor;
// path=backend is the software backend's Sign with its key cache;
// path=hostcall is a Go guest calling the sign host function, 100 times
// per export call (ns/op is per signature).
func BenchmarkSign(b *testing.B) {
	for _, kt := range []signing.KeyType{signing.Ed25519, signing.Secp256k1} {
		msg := signMessage(kt)
		b.Run("key="+string(kt)+"/path=native", func(b *testing.B) {
			var sign func()
			switch kt {
			case signing.Ed25519:
				_, priv, _ := ed25519.GenerateKey(rand.Reader)
				sign = func() { ed25519.Sign(priv, msg) }
			default:
				priv, _ := secp256k1.GeneratePrivateKey()
				sign = func() {
					sig := ecdsa.Sign(priv, msg)
					r, s := sig.R(), sig.S()
					var out [64]byte
					r.PutBytesUnchecked(out[:32])
					s.PutBytesUnchecked(out[32:])
				}
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				sign()
				n++
			}
			perUnit(b, n, cpu0, "sig")
		})
		b.Run("key="+string(kt)+"/path=backend", func(b *testing.B) {
			s := newSoftSigner(b, 0)
			k, err := s.GenerateKey(b.Context(), kt)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				if _, err := s.Sign(ctx, k.ID, msg); err != nil {
					b.Fatal(err)
				}
				n++
			}
			perUnit(b, n, cpu0, "sig")
		})
		b.Run("key="+string(kt)+"/path=hostcall", func(b *testing.B) {
			const perCall = 100
			s := newSoftSigner(b, 0)
			k, err := s.GenerateKey(b.Context(), kt)
			if err != nil {
				b.Fatal(err)
			}
			p := newSigningPool(b, "signguest", s, plugin.DeadlineInterrupt)
			arg := fmt.Sprintf("%s %d %d", k.ID, perCall, len(msg))
			signguestOp(b, p, "bench:sign", arg)
			b.ReportAllocs()
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				signguestOp(b, p, "bench:sign", arg)
				n += perCall
			}
			perUnit(b, n, cpu0, "sig")
		})
	}
}

// BenchmarkSignMany100 is 100 signatures per operation, signed by the
// software backend on every core: path=backend calls its SignMany
// directly, path=hostcall is one sign_many host call from a Go guest
// (ns/sig is wall time, cpu-ns/sig what each signature cost the process;
// compare the latter with BenchmarkSign's path=native).
func BenchmarkSignMany100(b *testing.B) {
	const batch = 100
	for _, kt := range []signing.KeyType{signing.Ed25519, signing.Secp256k1} {
		msg := signMessage(kt)
		b.Run("key="+string(kt)+"/path=backend", func(b *testing.B) {
			s := newSoftSigner(b, 0)
			k, err := s.GenerateKey(b.Context(), kt)
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]signing.SignRequest, batch)
			for i := range reqs {
				reqs[i] = signing.SignRequest{KeyID: k.ID, Data: msg}
			}
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				if _, err := s.SignMany(ctx, reqs); err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			perUnit(b, n, cpu0, "sig")
		})
		b.Run("key="+string(kt)+"/path=hostcall", func(b *testing.B) {
			s := newSoftSigner(b, 0)
			k, err := s.GenerateKey(b.Context(), kt)
			if err != nil {
				b.Fatal(err)
			}
			p := newSigningPool(b, "signguest", s, plugin.DeadlineInterrupt)
			arg := fmt.Sprintf("%s %d %d", k.ID, batch, len(msg))
			signguestOp(b, p, "bench:signmany", arg)
			b.ReportAllocs()
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				signguestOp(b, p, "bench:signmany", arg)
				n += batch
			}
			perUnit(b, n, cpu0, "sig")
		})
	}
}

// signerInput is the compact DocumentList of n benchmark documents.
func signerInput(n int) []byte { return schema.AppendCompact(nil, documents(n)) }

// checkSigned fails unless res answers the documents of in, each with the
// signer's metadata.
func checkSigned(b *testing.B, res plugin.Result, n int) {
	b.Helper()
	got, err := schema.DecodeCompactDocumentList(res.Data, schema.DefaultLimits)
	if err != nil || res.Kind != abi.OutputDocumentList || len(got) != n {
		b.Fatalf("signer: kind %d, %d documents, %v", res.Kind, len(got), err)
	}
	want := documents(n)
	for i, d := range got {
		if d.ID != want[i].ID || d.Content != want[i].Content || !strings.HasPrefix(d.Metadata, `{"key_id": "`) {
			b.Fatalf("signer: document %d is %+v", i, d)
		}
	}
}

// BenchmarkSignerToISV is examples/signer's to_isv on the compact
// encoding: key lookup, one sign_many for the batch, hex and metadata per
// document, the compact answer; without state (the host runs the call
// outside a request, so the documents are answered and not kept), with
// DeadlineInterrupt. ns/doc and cpu-ns/doc are per signed document.
func BenchmarkSignerToISV(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			p := newSigningPool(b, "signer", newSoftSigner(b, 0), plugin.DeadlineInterrupt)
			in := signerInput(n)
			res, err := p.Call(context.Background(), abi.ExportToISV, in)
			if err != nil {
				b.Fatal(err)
			}
			checkSigned(b, res, n)
			b.ReportAllocs()
			cpu0 := cpuTime()
			loops := 0
			for b.Loop() {
				if _, err := p.Call(context.Background(), abi.ExportToISV, in); err != nil {
					b.Fatal(err)
				}
				loops++
			}
			perUnit(b, loops*n, cpu0, "doc")
		})
	}
}

// BenchmarkSignerDeadline is BenchmarkSignerToISV/batch=100 under each
// deadline mode, as BenchmarkDeadline: mode=interrupt and mode=context
// report x-none, their time per operation divided by the median of the
// mode=none runs in this process. The backend signs on one goroutine, so
// that the wall time is the CPU time of the path.
func BenchmarkSignerDeadline(b *testing.B) {
	in := signerInput(listDocs)
	for _, mode := range modes {
		b.Run("mode="+mode.String(), func(b *testing.B) {
			p := newSigningPool(b, "signer", newSoftSigner(b, 1), mode)
			res, err := p.Call(context.Background(), abi.ExportToISV, in)
			if err != nil {
				b.Fatal(err)
			}
			checkSigned(b, res, listDocs)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, err := p.Call(context.Background(), abi.ExportToISV, in); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*listDocs), "ns/doc")
			reportMode(b, "signer100", mode, n)
		})
	}
}

// BenchmarkDeadlinePaired measures what deadline enforcement costs with
// the two runs compared interleaved, so that load on the machine falls
// on both alike: each operation is one call on a pool without enforcement
// (mode=none) and one on a pool with the mode named, in alternating
// order. It reports x-none, the ratio of the mode's wall time to
// mode=none's over the same operations, and cpu-x-none, the same ratio of
// the process's CPU time around each call. work=signer100 is
// examples/signer's to_isv of 100 documents (the backend on one
// goroutine); work=echo100 is BenchmarkToISV100/guest=echo. Goal:
// mode=interrupt ≤ 1.3×.
func BenchmarkDeadlinePaired(b *testing.B) {
	in := signerInput(listDocs)
	for _, work := range []string{"signer100", "echo100"} {
		for _, mode := range []plugin.DeadlineMode{plugin.DeadlineInterrupt, plugin.DeadlineContext} {
			b.Run("work="+work+"/mode="+mode.String(), func(b *testing.B) {
				var none, with *plugin.Pool
				if work == "signer100" {
					s := newSoftSigner(b, 1)
					none = newSigningPool(b, "signer", s, plugin.DeadlineNone)
					with = newSigningPool(b, "signer", s, mode)
				} else {
					none = newPool(b, "echoguest", plugin.DeadlineNone)
					with = newPool(b, "echoguest", mode)
				}
				ctx := context.Background()
				var wall, cpu [2]time.Duration
				call := func(i int, p *plugin.Pool) {
					c0, t0 := cpuTime(), time.Now()
					if _, err := p.Call(ctx, abi.ExportToISV, in); err != nil {
						b.Fatal(err)
					}
					wall[i] += time.Since(t0)
					cpu[i] += cpuTime() - c0
				}
				call(0, none)
				call(1, with)
				wall, cpu = [2]time.Duration{}, [2]time.Duration{}
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					if n%2 == 0 {
						call(0, none)
						call(1, with)
					} else {
						call(1, with)
						call(0, none)
					}
					n++
				}
				b.ReportMetric(float64(wall[1].Nanoseconds())/float64(n*listDocs), "ns/doc")
				b.ReportMetric(float64(wall[1])/float64(wall[0]), "x-none")
				b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-x-none")
			})
		}
	}
}

// BenchmarkValidate is the host's handling of a POST body before the
// guest, per document, by batch size: step=decode is
// schema.DecodeDocumentList (parse and validate the V1_3 DocumentList),
// step=input is api.EncodeInput as the host runs it (decode, validate,
// compact encoding for the guest).
func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		body := postBody(b, documents(n))
		b.Run(fmt.Sprintf("step=decode/batch=%d", n), func(b *testing.B) {
			if l, err := schema.DecodeDocumentList(body, schema.DefaultLimits); err != nil || len(l.Documents) != n {
				b.Fatalf("%d documents, %v", len(l.Documents), err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			loops := 0
			for b.Loop() {
				if _, err := schema.DecodeDocumentList(body, schema.DefaultLimits); err != nil {
					b.Fatal(err)
				}
				loops++
			}
			perDoc(b, loops, n)
		})
		b.Run(fmt.Sprintf("step=input/batch=%d", n), func(b *testing.B) {
			if in, err := encodeInput(body); err != nil || len(in) == 0 {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			loops := 0
			for b.Loop() {
				if _, err := encodeInput(body); err != nil {
					b.Fatal(err)
				}
				loops++
			}
			perDoc(b, loops, n)
		})
	}
}

// BenchmarkNative is the floor of the whole path in plain Go (bench/native):
// op=request is a request without transport or durability (decode and
// validate with encoding/json, sign each content with Ed25519, write the
// signer's metadata, encode), per document, by batch size.
func BenchmarkNative(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("op=request/batch=%d", n), func(b *testing.B) {
			docs := make([]loadgen.Doc, n)
			loadgen.MakeDocs(docs, 0, 1)
			body := loadgen.AppendBody(nil, docs)
			if _, err := native.Request(body, "k", priv); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			loops := 0
			for b.Loop() {
				if _, err := native.Request(body, "k", priv); err != nil {
					b.Fatal(err)
				}
				loops++
			}
			perUnit(b, loops*n, cpu0, "doc")
		})
	}
}
