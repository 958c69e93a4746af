package signing_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/audit"
	"github.com/osohost/osohost/host/signing/soft"
)

type fixture struct {
	backend *soft.Signer
	log     *audit.Log
	s       signing.Signer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	backend, err := soft.New(soft.Options{Dir: t.TempDir(), KEK: make([]byte, soft.KEKSize)})
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{backend: backend, log: log, s: signing.Audited(backend, log)}
	t.Cleanup(func() {
		f.s.Close()
		log.Close()
	})
	return f
}

// records reads the log file back as JSON objects.
func (f *fixture) records(t *testing.T) []map[string]any {
	t.Helper()
	file, err := os.Open(f.log.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := audit.Verify(file); err != nil {
		t.Fatal(err)
	}
	file.Seek(0, 0)
	var out []map[string]any
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func edPublic(t *testing.T, spki []byte) ed25519.PublicKey {
	var v struct {
		Alg struct{ OID asn1.ObjectIdentifier }
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &v); err != nil {
		t.Fatal(err)
	}
	return v.Key.Bytes
}

func TestCallerInfo(t *testing.T) {
	if ci, ok := signing.CallerInfoFrom(t.Context()); ok || ci != (signing.CallerInfo{}) {
		t.Errorf("CallerInfoFrom(empty) = %+v, %v", ci, ok)
	}
	want := signing.CallerInfo{PluginSHA256: "ab", Caller: "SHA256:x", TraceID: "t1"}
	if ci, ok := signing.CallerInfoFrom(signing.WithCallerInfo(t.Context(), want)); !ok || ci != want {
		t.Errorf("CallerInfoFrom = %+v, %v", ci, ok)
	}
}

func TestAudited_Sign(t *testing.T) {
	f := newFixture(t)
	k, err := f.s.GenerateKey(t.Context(), signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	ci := signing.CallerInfo{PluginSHA256: hexSHA([]byte("plugin")), Caller: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", TraceID: "trace-1"}
	ctx := signing.WithCallerInfo(t.Context(), ci)
	msg := []byte("document")
	sig, err := f.s.Sign(ctx, k.ID, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(edPublic(t, k.PublicKey), msg, sig) {
		t.Fatal("signature does not verify")
	}
	// Without caller information, and with a key the wrapper has not seen
	// generated (its type comes from the backend).
	k2, err := f.backend.GenerateKey(t.Context(), signing.Secp256k1)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	if _, err := f.s.Sign(t.Context(), k2.ID, digest[:]); err != nil {
		t.Fatal(err)
	}
	// A failed signature is not recorded.
	if _, err := f.s.Sign(ctx, k2.ID, msg); !errors.Is(err, signing.ErrBadInput) {
		t.Fatalf("Sign of a message with SECP256K1 = %v", err)
	}

	recs := f.records(t)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	want := []map[string]any{
		{"plugin_sha256": ci.PluginSHA256, "key_id": k.ID, "key_type": "ED25519", "data_sha256": hexSHA(msg), "caller": ci.Caller, "trace_id": "trace-1", "seq": 1.0},
		{"plugin_sha256": "", "key_id": k2.ID, "key_type": "SECP256K1", "data_sha256": hexSHA(digest[:]), "caller": "", "trace_id": "", "seq": 2.0},
	}
	for i, w := range want {
		for key, v := range w {
			if recs[i][key] != v {
				t.Errorf("record %d: %s = %v, want %v", i+1, key, recs[i][key], v)
			}
		}
	}
}

func TestAudited_SignMany(t *testing.T) {
	f := newFixture(t)
	k, _ := f.s.GenerateKey(t.Context(), signing.Ed25519)
	reqs := make([]signing.SignRequest, 50)
	for i := range reqs {
		reqs[i] = signing.SignRequest{KeyID: k.ID, Data: []byte{byte(i)}}
	}
	reqs[3].KeyID = "0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d" // unknown: fails, not recorded
	before := f.log.Stats()
	res, err := f.s.SignMany(t.Context(), reqs)
	if err != nil || len(res) != len(reqs) {
		t.Fatalf("SignMany = %d, %v", len(res), err)
	}
	for i, r := range res {
		if (r.Err != nil) != (i == 3) {
			t.Fatalf("result %d: %v", i, r.Err)
		}
		if i != 3 && !ed25519.Verify(edPublic(t, k.PublicKey), reqs[i].Data, r.Signature) {
			t.Fatalf("result %d does not verify", i)
		}
	}
	after := f.log.Stats()
	if got := after.Records - before.Records; got != 49 {
		t.Errorf("%d records, want 49", got)
	}
	if got := after.Syncs - before.Syncs; got != 1 {
		t.Errorf("%d fsyncs for one batch, want 1", got)
	}
	recs := f.records(t)
	if recs[3]["data_sha256"] != hexSHA([]byte{4}) {
		t.Errorf("record 4 is not request 5's: %v", recs[3])
	}
}

// TestAudited_FailClosed: when the record cannot be made durable, no
// signature is returned.
func TestAudited_FailClosed(t *testing.T) {
	f := newFixture(t)
	k, _ := f.s.GenerateKey(t.Context(), signing.Ed25519)
	f.log.Close()
	sig, err := f.s.Sign(t.Context(), k.ID, []byte("m"))
	if !errors.Is(err, signing.ErrAudit) || !errors.Is(err, audit.ErrClosed) || sig != nil {
		t.Fatalf("Sign with a closed log = %x, %v; want ErrAudit", sig, err)
	}
	res, err := f.s.SignMany(t.Context(), []signing.SignRequest{{KeyID: k.ID, Data: []byte("m")}})
	if !errors.Is(err, signing.ErrAudit) || res != nil {
		t.Fatalf("SignMany with a closed log = %v, %v; want ErrAudit", res, err)
	}
	// A record the log refuses (a field too long) withholds the signature too.
	f2 := newFixture(t)
	k2, _ := f2.s.GenerateKey(t.Context(), signing.Ed25519)
	ctx := signing.WithCallerInfo(t.Context(), signing.CallerInfo{TraceID: string(make([]byte, audit.MaxFieldBytes+1))})
	if sig, err := f2.s.Sign(ctx, k2.ID, []byte("m")); !errors.Is(err, audit.ErrBadRecord) || sig != nil {
		t.Fatalf("Sign with an oversized trace id = %x, %v", sig, err)
	}
	// An ended context: nothing is signed, nothing returned.
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if sig, err := f2.s.Sign(cancelled, k2.ID, []byte("m")); err == nil || sig != nil {
		t.Fatalf("Sign with an ended context = %x, %v", sig, err)
	}
}

// BenchmarkAudited_SignMany100 is the software backend's batch with its
// audit records on disk: 100 Ed25519 signatures and one group commit.
func BenchmarkAudited_SignMany100(b *testing.B) {
	f := newFixture(b)
	k, err := f.s.GenerateKey(b.Context(), signing.Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]signing.SignRequest, 100)
	for i := range reqs {
		reqs[i] = signing.SignRequest{KeyID: k.ID, Data: make([]byte, 128)}
	}
	ctx := signing.WithCallerInfo(b.Context(), signing.CallerInfo{PluginSHA256: hexSHA(nil), Caller: "SHA256:x", TraceID: "t"})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := f.s.SignMany(ctx, reqs); err != nil {
			b.Fatal(err)
		}
		n += len(reqs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/signature")
	st := f.log.Stats()
	b.ReportMetric(float64(st.Syncs)/float64(st.Records), "fsyncs/record")
}
