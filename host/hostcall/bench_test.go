//go:build unix

package hostcall_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/soft"
)

// The signing path's floor is one native Ed25519 signature of a 128-byte
// message. These benchmarks measure what the boundary adds: per signature,
// wall time (ns/sig) and CPU time of the whole process (cpu-ns/sig, user +
// system, from getrusage), so that a parallel sign_many shows its real cost.

const benchMsgBytes = 128

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perSignature reports ns/sig and cpu-ns/sig for sigs signatures made since
// start (wall) and cpu0 (CPU).
func perSignature(b *testing.B, sigs int, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sigs), "ns/sig")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(sigs), "cpu-ns/sig")
}

func benchMessage() []byte {
	msg := make([]byte, benchMsgBytes)
	for i := range msg {
		msg[i] = byte(i)
	}
	return msg
}

// BenchmarkSign_Native is the floor: crypto/ed25519 in the host process.
func BenchmarkSign_Native(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := benchMessage()
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		ed25519.Sign(priv, msg)
		n++
	}
	perSignature(b, n, cpu0)
}

// BenchmarkSign_Soft is the software backend called directly: the floor
// plus the backend's key lookup.
func BenchmarkSign_Soft(b *testing.B) {
	s := newSigner(b)
	k, _ := s.GenerateKey(b.Context(), signing.Ed25519)
	msg := benchMessage()
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
	perSignature(b, n, cpu0)
}

// BenchmarkSign_HostCall: a Go guest calls oso.Sign (one sign host call
// per signature) 1000 times per export call.
func BenchmarkSign_HostCall(b *testing.B) {
	const perCall = 1000
	s := newSigner(b)
	k, _ := s.GenerateKey(b.Context(), signing.Ed25519)
	p := newPool(b, "signguest", s, hostcall.Policy{}, nil)
	arg := fmt.Sprintf("%s %d %d", k.ID, perCall, benchMsgBytes)
	run(b, b.Context(), p, op{"bench:sign", arg})
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if got := run(b, b.Context(), p, op{"bench:sign", arg}); got[0] != "ok" {
			b.Fatal(got[0])
		}
		n += perCall
	}
	perSignature(b, n, cpu0)
}

// BenchmarkSignMany_100: a Go guest signs 100 messages with one
// oso.SignMany (one sign_many host call) per export call; the backend signs
// them on every core (Concurrency 0) or on one goroutine (1).
func BenchmarkSignMany_100(b *testing.B) {
	for _, conc := range []int{0, 1} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			kek := make([]byte, 32)
			rand.Read(kek)
			s, err := soft.New(soft.Options{Dir: b.TempDir(), KEK: kek, Concurrency: conc})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			k, _ := s.GenerateKey(b.Context(), signing.Ed25519)
			p := newPool(b, "signguest", s, hostcall.Policy{}, nil)
			arg := fmt.Sprintf("%s 100 %d", k.ID, benchMsgBytes)
			run(b, b.Context(), p, op{"bench:signmany", arg})
			b.ReportAllocs()
			cpu0 := cpuTime()
			n := 0
			for b.Loop() {
				if got := run(b, b.Context(), p, op{"bench:signmany", arg}); got[0] != "ok" {
					b.Fatal(got[0])
				}
				n += 100
			}
			perSignature(b, n, cpu0)
		})
	}
}

// BenchmarkExampleSigner_ToISV_100Docs: the reference plugin's whole
// to_isv on 100 documents of 128 bytes: key lookup, one sign_many, hex and
// metadata per document, the compact answer.
func BenchmarkExampleSigner_ToISV_100Docs(b *testing.B) {
	s := newSigner(b)
	p := newPool(b, "signer", s, hostcall.Policy{}, nil)
	in := abi.AppendDocumentListHeader(nil, 100)
	msg := string(benchMessage())
	for i := range 100 {
		in = abi.AppendDocument(in, fmt.Sprintf("doc-%03d", i), msg, "")
	}
	if _, err := p.Call(b.Context(), abi.ExportToISV, in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if _, err := p.Call(b.Context(), abi.ExportToISV, in); err != nil {
			b.Fatal(err)
		}
		n += 100
	}
	perSignature(b, n, cpu0)
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
}
