package hostcall_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/soft"
)

// cacheDir is a compilation cache shared by the package's tests.
var cacheDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "osohost-hostcall-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// newSigner returns the software backend over a fresh keystore.
func newSigner(t testing.TB) *soft.Signer {
	t.Helper()
	kek := make([]byte, 32)
	rand.Read(kek)
	s, err := soft.New(soft.Options{Dir: t.TempDir(), KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// logBuffer collects JSON log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newPool(t testing.TB, guest string, s signing.Signer, pol hostcall.Policy, log *slog.Logger) *plugin.Pool {
	t.Helper()
	ctx := context.Background()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{
		CacheDir:      cacheDir,
		Logger:        log,
		HostFunctions: append(hostcall.Signing(s, log, pol), hostcall.State(log, hostcall.StateLimits{})...),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, plugintest.Read(t, guest))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// op is one operation of the test guest: its id and argument.
type op struct{ name, arg string }

// run runs the operations in one to_isv call and returns their outcomes.
func run(t testing.TB, ctx context.Context, p *plugin.Pool, ops ...op) []string {
	t.Helper()
	in := abi.AppendDocumentListHeader(nil, len(ops))
	for _, o := range ops {
		in = abi.AppendDocument(in, o.name, o.arg, "")
	}
	res, err := p.Call(ctx, abi.ExportToISV, in)
	if err != nil {
		t.Fatalf("to_isv: %v", err)
	}
	r, err := abi.NewDocumentReader(res.Data)
	if err != nil {
		t.Fatalf("to_isv answer: %v", err)
	}
	var out []string
	for {
		d, ok := r.Next()
		if !ok {
			break
		}
		out = append(out, string(d.Content))
	}
	if len(out) != len(ops) {
		t.Fatalf("%d outcomes for %d operations", len(out), len(ops))
	}
	return out
}

func run1(t testing.TB, p *plugin.Pool, name, arg string) string {
	t.Helper()
	return run(t, t.Context(), p, op{name, arg})[0]
}

// keys generates one key of each type through the signer itself.
func keys(t testing.TB, s signing.Signer) (ed, k1 signing.Key) {
	t.Helper()
	ed, err := s.GenerateKey(context.Background(), signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	k1, err = s.GenerateKey(context.Background(), signing.Secp256k1)
	if err != nil {
		t.Fatal(err)
	}
	return ed, k1
}

// outcome splits "<result> <hex>" into the result and the decoded bytes.
func outcome(t testing.TB, s string) (string, []byte) {
	t.Helper()
	r, h, _ := strings.Cut(s, " ")
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatalf("outcome %q: %v", s, err)
	}
	return r, b
}

func verifyEd25519(t testing.TB, spki, msg, sig []byte) {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	edPub, ok := pub.(ed25519.PublicKey)
	if !ok {
		t.Fatalf("public key is %T", pub)
	}
	if !ed25519.Verify(edPub, msg, sig) {
		t.Fatal("Ed25519 signature does not verify")
	}
}

// verifySecp256k1 checks an r||s signature over digest, and that it is
// low-S.
func verifySecp256k1(t testing.TB, spki, digest, sig []byte) {
	t.Helper()
	var info struct {
		Algo struct {
			Algorithm, Curve asn1.ObjectIdentifier
		}
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		t.Fatalf("SECP256K1 public key: %v", err)
	}
	pub, err := secp256k1.ParsePubKey(info.Key.Bytes)
	if err != nil {
		t.Fatalf("SECP256K1 public key: %v", err)
	}
	if len(sig) != 64 {
		t.Fatalf("signature of %d bytes", len(sig))
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) {
		t.Fatal("r or s overflows the group order")
	}
	if s.IsOverHalfOrder() {
		t.Fatal("signature is not low-S")
	}
	if !ecdsa.NewSignature(&r, &s).Verify(digest, pub) {
		t.Fatal("SECP256K1 signature does not verify")
	}
}

// badPtr lies beyond any linear memory the engine allows (128 MiB).
const badPtr = "0x7ffffff0"

// signManyInput encodes a sign_many input.
func signManyInput(reqs ...signing.SignRequest) []byte {
	b := abi.AppendU32(nil, uint32(len(reqs)))
	for _, r := range reqs {
		b = abi.AppendSignRequest(b, r.KeyID, r.Data)
	}
	return b
}

func TestSigning_HostFunctions(t *testing.T) {
	s := newSigner(t)
	ed, k1 := keys(t, s)
	p := newPool(t, "signguest", s, hostcall.Policy{}, nil)
	msg := []byte("message to sign")
	digest := sha256.Sum256(msg)
	unknown := "00000000-0000-4000-8000-000000000000"
	long := strings.Repeat("a", abi.MaxKeyIDBytes+1)

	t.Run("key_generate", func(t *testing.T) {
		for _, kt := range []abi.KeyType{abi.KeyEd25519, abi.KeySecp256k1} {
			r, b := outcome(t, run1(t, p, "raw:key_generate", fmt.Sprintf("%d out=%d", kt, abi.KeyInfoMaxBytes)))
			id, spki, err := abi.DecodeKeyInfo(b)
			if err != nil || r != fmt.Sprint(len(b)) {
				t.Fatalf("%v: result %s, %x: %v", kt, r, b, err)
			}
			k, err := s.PublicKey(t.Context(), string(id))
			if err != nil || !bytes.Equal(k.PublicKey, spki) || k.Type != map[abi.KeyType]signing.KeyType{abi.KeyEd25519: signing.Ed25519, abi.KeySecp256k1: signing.Secp256k1}[kt] {
				t.Fatalf("%v: generated key %s not in the keystore as answered: %+v, %v", kt, id, k, err)
			}
		}
	})

	t.Run("key_list", func(t *testing.T) {
		r, b := outcome(t, run1(t, p, "raw:key_list", "2 out=4096"))
		want, _ := s.ListKeys(t.Context(), signing.Ed25519)
		lr, err := abi.NewKeyListReader(b)
		if err != nil || r != fmt.Sprint(len(b)) {
			t.Fatalf("result %s: %v", r, err)
		}
		var got []string
		for {
			id, ok := lr.Next()
			if !ok {
				break
			}
			got = append(got, string(id))
		}
		if lr.Err() != nil || !slices.Equal(got, want) || !slices.Contains(got, ed.ID) {
			t.Fatalf("key_list = %q, want %q (%v)", got, want, lr.Err())
		}
	})

	t.Run("key_public", func(t *testing.T) {
		for _, k := range []signing.Key{ed, k1} {
			_, b := outcome(t, run1(t, p, "raw:key_public", "s="+k.ID+" out=512"))
			kt, spki, err := abi.DecodePublicKey(b)
			if err != nil || kt.String() != string(k.Type) || !bytes.Equal(spki, k.PublicKey) {
				t.Fatalf("key_public(%s) = %v %x, %v", k.Type, kt, spki, err)
			}
		}
	})

	t.Run("sign", func(t *testing.T) {
		r, sig := outcome(t, run1(t, p, "raw:sign", fmt.Sprintf("s=%s x=%x out=64", ed.ID, msg)))
		if r != "64" {
			t.Fatalf("sign: %s", r)
		}
		verifyEd25519(t, ed.PublicKey, msg, sig)
		r, sig = outcome(t, run1(t, p, "raw:sign", fmt.Sprintf("s=%s x=%x out=100", k1.ID, digest)))
		if r != "64" {
			t.Fatalf("sign: %s", r)
		}
		verifySecp256k1(t, k1.PublicKey, digest[:], sig)
		// An empty message is a message.
		r, sig = outcome(t, run1(t, p, "raw:sign", fmt.Sprintf("s=%s 0 0 out=64", ed.ID)))
		if r != "64" {
			t.Fatalf("sign of nothing: %s", r)
		}
		verifyEd25519(t, ed.PublicKey, nil, sig)
	})

	t.Run("sign_many", func(t *testing.T) {
		reqs := []signing.SignRequest{
			{KeyID: ed.ID, Data: msg},
			{KeyID: k1.ID, Data: digest[:]},
			{KeyID: unknown, Data: msg},
			{KeyID: k1.ID, Data: msg}, // not a 32-byte digest
			{KeyID: long, Data: msg},
			{KeyID: ed.ID, Data: nil},
		}
		r, b := outcome(t, run1(t, p, "raw:sign_many", fmt.Sprintf("x=%x out=%d", signManyInput(reqs...), abi.SignManyOutputBytes(len(reqs)))))
		rr, err := abi.NewSignResultReader(b)
		if err != nil || rr.Len() != len(reqs) || r != fmt.Sprint(len(b)) {
			t.Fatalf("sign_many: result %s, %v", r, err)
		}
		want := []abi.Status{abi.StatusOK, abi.StatusOK, abi.StatusNotFound, abi.StatusBadArgument, abi.StatusTooLarge, abi.StatusOK}
		for i := range reqs {
			st, sig, ok := rr.Next()
			if !ok || st != want[i] {
				t.Fatalf("request %d: status %d, want %d", i, st, want[i])
			}
			if st != abi.StatusOK {
				if len(sig) != 0 {
					t.Fatalf("request %d failed with a signature", i)
				}
				continue
			}
			if reqs[i].KeyID == ed.ID {
				verifyEd25519(t, ed.PublicKey, reqs[i].Data, sig)
			} else {
				verifySecp256k1(t, k1.PublicKey, reqs[i].Data, sig)
			}
		}
		if got := run1(t, p, "raw:sign_many", "x=00000000 out=4"); got != "4 00000000" {
			t.Fatalf("empty batch: %s", got)
		}
	})
}

func TestSigning_HostFunctions_Errors(t *testing.T) {
	s := newSigner(t)
	ed, k1 := keys(t, s)
	p := newPool(t, "signguest", s, hostcall.Policy{}, nil)
	unknown := "00000000-0000-4000-8000-000000000000"
	long := strings.Repeat("a", abi.MaxKeyIDBytes+1)
	digest := sha256.Sum256([]byte("m"))
	reqs := signManyInput(signing.SignRequest{KeyID: ed.ID, Data: []byte("m")})
	// 10001 empty requests: one over abi.MaxSignBatch.
	oversized := append(abi.AppendU32(nil, abi.MaxSignBatch+1), make([]byte, 8*(abi.MaxSignBatch+1))...)

	tests := []struct {
		name, fn, arg string
		want          string
	}{
		{"generate: unknown type", "key_generate", "9 out=512", "-3 untouched"},
		{"generate: buffer below KeyInfoMaxBytes", "key_generate", "2 out=511", "-8 untouched"},
		{"generate: buffer outside memory", "key_generate", "2 " + badPtr + " 512", "-1"},
		{"generate: negative capacity", "key_generate", "2 0 -1", "-1"},
		{"list: unknown type", "key_list", "0 out=4096", "-3 untouched"},
		{"list: buffer too small", "key_list", "2 out=20", "-8 untouched"},
		{"list: no room for the header", "key_list", "2 out=3", "-8 untouched"},
		{"list: buffer outside memory", "key_list", "2 " + badPtr + " 4096", "-1"},
		{"public: unknown key", "key_public", "s=" + unknown + " out=512", "-7 untouched"},
		{"public: id too long", "key_public", "s=" + long + " out=512", "-2 untouched"},
		{"public: id outside memory", "key_public", badPtr + " 36 out=512", "-1 untouched"},
		{"public: negative id length", "key_public", "0 -5 out=512", "-1 untouched"},
		{"public: buffer too small", "key_public", "s=" + ed.ID + " out=40", "-8 untouched"},
		{"sign: unknown key", "sign", "s=" + unknown + " s=m out=64", "-7 untouched"},
		{"sign: id too long", "sign", "s=" + long + " s=m out=64", "-2 untouched"},
		{"sign: data too long", "sign", fmt.Sprintf("s=%s 0 %d out=64", ed.ID, abi.MaxSignDataBytes+1), "-2 untouched"},
		{"sign: wrong digest length", "sign", fmt.Sprintf("s=%s x=%x out=64", k1.ID, digest[:31]), "-3 untouched"},
		{"sign: buffer too small", "sign", "s=" + ed.ID + " s=m out=63", "-8 untouched"},
		{"sign: id outside memory", "sign", badPtr + " 36 s=m out=64", "-1 untouched"},
		{"sign: data outside memory", "sign", "s=" + ed.ID + " " + badPtr + " 100 out=64", "-1 untouched"},
		{"sign: buffer outside memory", "sign", "s=" + ed.ID + " s=m " + badPtr + " 64", "-1"},
		{"sign_many: buffer too small", "sign_many", fmt.Sprintf("x=%x out=%d", reqs, abi.SignManyOutputBytes(1)-1), "-8 untouched"},
		{"sign_many: too many requests", "sign_many", fmt.Sprintf("x=%x out=64", oversized), "-2 untouched"},
		{"sign_many: input too long", "sign_many", fmt.Sprintf("0 %d out=64", abi.MaxSignManyInputBytes+1), "-2 untouched"},
		{"sign_many: truncated input", "sign_many", fmt.Sprintf("x=%x out=100", reqs[:len(reqs)-1]), "-3 untouched"},
		{"sign_many: trailing bytes", "sign_many", fmt.Sprintf("x=%x00 out=100", reqs), "-3 untouched"},
		{"sign_many: count larger than the input", "sign_many", "x=05000000 out=100", "-3 untouched"},
		{"sign_many: input outside memory", "sign_many", badPtr + " 100 out=100", "-1 untouched"},
		{"sign_many: buffer outside memory", "sign_many", fmt.Sprintf("x=%x %s 100", reqs, badPtr), "-1"},
	}
	ops := make([]op, len(tests))
	for i, tt := range tests {
		ops[i] = op{"raw:" + tt.fn, tt.arg}
	}
	before, _ := s.ListKeys(t.Context(), signing.Ed25519)
	got := run(t, t.Context(), p, ops...)
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("%s: %s(%.60s) = %q, want %q", tt.name, tt.fn, tt.arg, got[i], tt.want)
		}
	}
	if after, _ := s.ListKeys(t.Context(), signing.Ed25519); !slices.Equal(before, after) {
		t.Errorf("a refused key_generate created a key: %q → %q", before, after)
	}
	// The instance survived every refusal.
	if _, err := p.Call(t.Context(), abi.ExportStatus, nil); err != nil || p.Stats().Traps != 0 {
		t.Errorf("after the refusals: %v, stats %+v", err, p.Stats())
	}
}

// countingSigner counts the signatures asked of the backend and records the
// caller info of the last request.
type countingSigner struct {
	signing.Signer
	signs  atomic.Int64
	caller atomic.Value // signing.CallerInfo
	err    error        // when set, every signature fails with it
	sigLen int          // when > 0, signatures are cut to that length
}

func (c *countingSigner) Sign(ctx context.Context, id string, data []byte) ([]byte, error) {
	c.signs.Add(1)
	if ci, ok := signing.CallerInfoFrom(ctx); ok {
		c.caller.Store(ci)
	}
	if c.err != nil {
		return nil, c.err
	}
	sig, err := c.Signer.Sign(ctx, id, data)
	if c.sigLen > 0 && err == nil {
		sig = sig[:c.sigLen]
	}
	return sig, err
}

func (c *countingSigner) SignMany(ctx context.Context, reqs []signing.SignRequest) ([]signing.SignResult, error) {
	c.signs.Add(int64(len(reqs)))
	if ci, ok := signing.CallerInfoFrom(ctx); ok {
		c.caller.Store(ci)
	}
	if c.err != nil {
		res := make([]signing.SignResult, len(reqs))
		for i := range res {
			res[i].Err = c.err
		}
		return res, nil
	}
	return c.Signer.SignMany(ctx, reqs)
}

// TestSigning_SignMany_TooSmall: a buffer too small for the batch is refused
// before anything is signed.
func TestSigning_SignMany_TooSmall(t *testing.T) {
	s := &countingSigner{Signer: newSigner(t)}
	ed, _ := keys(t, s)
	p := newPool(t, "signguest", s, hostcall.Policy{}, nil)
	batch := make([]signing.SignRequest, 100)
	for i := range batch {
		batch[i] = signing.SignRequest{KeyID: ed.ID, Data: []byte{byte(i)}}
	}
	in := signManyInput(batch...)
	if got := run1(t, p, "raw:sign_many", fmt.Sprintf("x=%x out=%d", in, abi.SignManyOutputBytes(100)-1)); got != "-8 untouched" {
		t.Fatalf("sign_many = %q", got)
	}
	if n := s.signs.Load(); n != 0 {
		t.Fatalf("%d signatures made before the buffer was refused", n)
	}
	if got, _ := outcome(t, run1(t, p, "raw:sign_many", fmt.Sprintf("x=%x out=%d", in, abi.SignManyOutputBytes(100)))); got != fmt.Sprint(abi.SignManyOutputBytes(100)) {
		t.Fatalf("sign_many with the exact buffer = %q", got)
	}
	if n := s.signs.Load(); n != 100 {
		t.Fatalf("%d signatures for a batch of 100", n)
	}
}

// TestSigning_OutsideCall: during "_initialize" and "init" no export call
// runs, so the signing functions refuse.
func TestSigning_OutsideCall(t *testing.T) {
	s := newSigner(t)
	p := newPool(t, "signguest", s, hostcall.Policy{}, nil)
	if got := run1(t, p, "outside", ""); got != "-4 -4" {
		t.Fatalf("key_list during _initialize and init = %q, want -4 -4", got)
	}
}

// TestSigning_CallContext: the request's context, with its values, reaches
// the signer.
func TestSigning_CallContext(t *testing.T) {
	s := &countingSigner{Signer: newSigner(t)}
	ed, _ := keys(t, s)
	p := newPool(t, "signguest", s, hostcall.Policy{}, nil)
	ci := signing.CallerInfo{PluginSHA256: "ab", Caller: "SHA256:x", TraceID: "trace-1"}
	ctx := signing.WithCallerInfo(t.Context(), ci)
	for _, o := range []op{{"sdk:sign", ed.ID + " 00"}, {"sdk:signmany", ed.ID + ":00"}} {
		s.caller.Store(signing.CallerInfo{})
		if got := run(t, ctx, p, o)[0]; strings.HasPrefix(got, "err") {
			t.Fatalf("%s: %s", o.name, got)
		}
		if got := s.caller.Load(); got != ci {
			t.Fatalf("%s: the signer saw caller %+v, want %+v", o.name, got, ci)
		}
	}
}

func TestSigning_BackendErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		sigLen  int
		want    abi.Status
		wantLog string // "" : nothing logged
	}{
		{"unavailable", fmt.Errorf("grep11: connection refused: %w", signing.ErrUnavailable), 0, abi.StatusUnavailable, ""},
		{"not allowed", signing.ErrNotAllowed, 0, abi.StatusNotAllowed, ""},
		{"bad input", signing.ErrBadInput, 0, abi.StatusBadArgument, ""},
		{"unsupported key", signing.ErrUnsupportedKey, 0, abi.StatusBadArgument, ""},
		{"unknown key", signing.ErrUnknownKey, 0, abi.StatusNotFound, ""},
		{"audit not durable", signing.ErrAudit, 0, abi.StatusUnavailable, "signing backend failed"},
		{"other", errors.New("disk on fire"), 0, abi.StatusUnavailable, "signing backend failed"},
		{"short signature", nil, 63, abi.StatusUnavailable, "wrong size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			s := &countingSigner{Signer: newSigner(t), err: tt.err, sigLen: tt.sigLen}
			ed, _ := keys(t, s)
			p := newPool(t, "signguest", s, hostcall.Policy{}, slog.New(slog.NewJSONHandler(&logs, nil)))
			msg := "secret-message-bytes"
			got := run(t, t.Context(), p,
				op{"raw:sign", fmt.Sprintf("s=%s s=%s out=64", ed.ID, msg)},
				op{"sdk:signmany", fmt.Sprintf("%s:%x", ed.ID, msg)})
			if want := fmt.Sprintf("%d untouched", tt.want); got[0] != want {
				t.Errorf("sign = %q, want %q", got[0], want)
			}
			if tt.sigLen == 0 {
				if want := fmt.Sprintf("err %d", tt.want); got[1] != want {
					t.Errorf("sign_many = %q, want %q", got[1], want)
				}
			}
			l := logs.String()
			if tt.wantLog == "" && strings.Contains(l, "signing") || !strings.Contains(l, tt.wantLog) {
				t.Errorf("log = %s, want %q", l, tt.wantLog)
			}
			if strings.Contains(l, msg) || strings.Contains(l, hex.EncodeToString([]byte(msg))) {
				t.Errorf("the signed data reached the log: %s", l)
			}
		})
	}
}

func TestSigning_Policy(t *testing.T) {
	s := newSigner(t)
	ed, k1 := keys(t, s)
	ed2, err := s.GenerateKey(t.Context(), signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("m"))
	batch := signManyInput(
		signing.SignRequest{KeyID: ed.ID, Data: []byte("m")},
		signing.SignRequest{KeyID: k1.ID, Data: digest[:]},
		signing.SignRequest{KeyID: ed2.ID, Data: []byte("m")})
	batchOut := abi.SignManyOutputBytes(3)
	statuses := func(t *testing.T, got string) []abi.Status {
		_, b := outcome(t, got)
		r, err := abi.NewSignResultReader(b)
		if err != nil {
			t.Fatalf("sign_many %q: %v", got, err)
		}
		var sts []abi.Status
		for {
			st, _, ok := r.Next()
			if !ok {
				return sts
			}
			sts = append(sts, st)
		}
	}

	t.Run("types", func(t *testing.T) {
		var logs logBuffer
		p := newPool(t, "signguest", s, hostcall.Policy{AllowedTypes: []signing.KeyType{signing.Ed25519}}, slog.New(slog.NewJSONHandler(&logs, nil)))
		ctx := signing.WithCallerInfo(t.Context(), signing.CallerInfo{TraceID: "trace-7", Caller: "SHA256:abc"})
		got := run(t, ctx, p,
			op{"raw:key_generate", "1 out=512"},
			op{"raw:key_list", "1 out=4096"},
			op{"raw:key_public", "s=" + k1.ID + " out=512"},
			op{"raw:sign", fmt.Sprintf("s=%s x=%x out=64", k1.ID, digest)},
			op{"raw:sign", fmt.Sprintf("s=%s s=m out=64", ed.ID)},
			op{"raw:sign_many", fmt.Sprintf("x=%x out=%d", batch, batchOut)},
			op{"raw:sign", fmt.Sprintf("s=%s s=m out=64", "00000000-0000-4000-8000-000000000000")},
		)
		want := []string{"-4 untouched", "-4 untouched", "-4 untouched", "-4 untouched", "64", "", "-7 untouched"}
		for i, w := range want {
			if w != "" && !strings.HasPrefix(got[i], w) {
				t.Errorf("operation %d = %q, want %q", i, got[i], w)
			}
		}
		if sts := statuses(t, got[5]); !slices.Equal(sts, []abi.Status{abi.StatusOK, abi.StatusNotAllowed, abi.StatusOK}) {
			t.Errorf("sign_many statuses %v", sts)
		}
		l := logs.String()
		if !strings.Contains(l, `"msg":"signing refused by policy"`) || !strings.Contains(l, k1.ID) || !strings.Contains(l, `"key_type":"SECP256K1"`) || !strings.Contains(l, `"trace_id":"trace-7"`) {
			t.Errorf("refusals not logged with key id and type: %s", l)
		}
	})

	t.Run("refusals are logged at a bounded rate", func(t *testing.T) {
		var logs logBuffer
		p := newPool(t, "signguest", s, hostcall.Policy{AllowedTypes: []signing.KeyType{signing.Ed25519}}, slog.New(slog.NewJSONHandler(&logs, nil)))
		ops := make([]op, 500)
		for i := range ops {
			ops[i] = op{"raw:sign", fmt.Sprintf("s=%s x=%x out=64", k1.ID, digest)}
		}
		for i, got := range run(t, t.Context(), p, ops...) {
			if got != "-4 untouched" {
				t.Fatalf("sign %d = %q", i, got)
			}
		}
		// 500 refusals in far less than the 45 s it takes to refill the
		// bucket: at most its burst (50) plus its refill are written.
		if n := strings.Count(logs.String(), "signing refused by policy"); n < 1 || n > 100 {
			t.Errorf("%d refusal lines for 500 refusals", n)
		}
	})

	t.Run("key ids", func(t *testing.T) {
		var logs logBuffer
		p := newPool(t, "signguest", s, hostcall.Policy{AllowedKeyIDs: []string{ed.ID, k1.ID}}, slog.New(slog.NewJSONHandler(&logs, nil)))
		got := run(t, t.Context(), p,
			op{"raw:key_generate", "2 out=512"},
			op{"sdk:list", "ED25519"},
			op{"raw:key_public", "s=" + ed2.ID + " out=512"},
			op{"raw:sign", fmt.Sprintf("s=%s s=m out=64", ed2.ID)},
			op{"raw:sign", fmt.Sprintf("s=%s s=m out=64", ed.ID)},
			op{"raw:sign_many", fmt.Sprintf("x=%x out=%d", batch, batchOut)},
		)
		want := []string{"-4 untouched", ed.ID, "-4 untouched", "-4 untouched", "64", ""}
		for i, w := range want {
			if w != "" && got[i] != w && !strings.HasPrefix(got[i], w+" ") {
				t.Errorf("operation %d = %q, want %q", i, got[i], w)
			}
		}
		if sts := statuses(t, got[5]); !slices.Equal(sts, []abi.Status{abi.StatusOK, abi.StatusOK, abi.StatusNotAllowed}) {
			t.Errorf("sign_many statuses %v", sts)
		}
		if l := logs.String(); !strings.Contains(l, ed2.ID) || !strings.Contains(l, `"reason":"key ids are fixed by policy"`) {
			t.Errorf("refusals not logged: %s", l)
		}
	})
}

// TestSigning_SDK runs the Go SDK's typed helpers against the host.
func TestSigning_SDK(t *testing.T) {
	s := newSigner(t)
	_, k1 := keys(t, s)
	p := newPool(t, "signguest", s, hostcall.Policy{}, nil)

	gen := run1(t, p, "sdk:generate", "ED25519")
	id, spkiHex, _ := strings.Cut(gen, " ")
	spki, _ := hex.DecodeString(spkiHex)
	k, err := s.PublicKey(t.Context(), id)
	if err != nil || !bytes.Equal(k.PublicKey, spki) {
		t.Fatalf("GenerateKey = %q; keystore: %+v, %v", gen, k, err)
	}
	want, _ := s.ListKeys(t.Context(), signing.Ed25519)
	if got := run1(t, p, "sdk:list", "ED25519"); got != strings.Join(want, ",") {
		t.Errorf("ListKeys = %q, want %q", got, want)
	}
	if got := run1(t, p, "sdk:public", id); got != "ED25519 "+spkiHex {
		t.Errorf("PublicKey = %q", got)
	}
	wantPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k1.PublicKey}))
	if got := run1(t, p, "sdk:pem", k1.ID); got != wantPEM {
		t.Errorf("PublicKeyPEM = %q, want %q", got, wantPEM)
	}
	msg := []byte("framework sign")
	for _, o := range []string{"sdk:sign", "sdk:signhex"} {
		got := run1(t, p, o, fmt.Sprintf("%s %x", id, msg))
		sig, err := hex.DecodeString(got)
		if err != nil || got != strings.ToLower(got) {
			t.Fatalf("%s = %q", o, got)
		}
		verifyEd25519(t, spki, msg, sig)
	}
	digest := sha256.Sum256(msg)
	got := strings.Fields(run1(t, p, "sdk:signmany", fmt.Sprintf("%s:%x %s:%x %s:%x", id, msg, k1.ID, digest, "nope", msg)))
	if len(got) != 4 || got[2] != "err" || got[3] != fmt.Sprint(abi.StatusNotFound) {
		t.Fatalf("SignMany = %q", got)
	}
	sig0, _ := hex.DecodeString(got[0])
	sig1, _ := hex.DecodeString(got[1])
	verifyEd25519(t, spki, msg, sig0)
	verifySecp256k1(t, k1.PublicKey, digest[:], sig1)
	if got := run1(t, p, "sdk:public", "nope"); got != fmt.Sprintf("err %d", abi.StatusNotFound) {
		t.Errorf("PublicKey(unknown) = %q", got)
	}
}

// TestSigning_ImportSignatures: every function is declared in the ABI's
// table with the signature it has.
func TestSigning_ImportSignatures(t *testing.T) {
	fns := hostcall.Signing(newSigner(t), nil, hostcall.Policy{})
	if len(fns) != 5 {
		t.Fatalf("%d functions", len(fns))
	}
	for _, f := range fns {
		var b strings.Builder
		b.WriteByte('(')
		for i, p := range f.Params {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(api.ValueTypeName(p))
		}
		b.WriteString(")->")
		for _, r := range f.Results {
			b.WriteString(api.ValueTypeName(r))
		}
		if want, ok := abi.ImportSignatures[f.Name]; !ok || want != b.String() {
			t.Errorf("%s%s: abi.ImportSignatures has %q", f.Name, b.String(), want)
		}
	}
}

// TestSigning_Hammer signs concurrently on several instances.
func TestSigning_Hammer(t *testing.T) {
	s := newSigner(t)
	ed, _ := keys(t, s)
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{
		CacheDir:      cacheDir,
		HostFunctions: hostcall.Signing(s, nil, hostcall.Policy{AllowedTypes: []signing.KeyType{signing.Ed25519}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	mod, err := eng.Compile(ctx, plugintest.Read(t, "signguest"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 10 {
				msg := fmt.Sprintf("w%d-%d", w, i)
				got := run(t, ctx, p, op{"sdk:sign", fmt.Sprintf("%s %x", ed.ID, msg)}, op{"sdk:signmany", fmt.Sprintf("%s:%x %s:%x", ed.ID, msg, ed.ID, msg)})
				sig, _ := hex.DecodeString(got[0])
				if !ed25519.Verify(ed25519.PublicKey(ed.PublicKey[12:]), []byte(msg), sig) {
					t.Errorf("%s: bad signature", msg)
				}
				if many := strings.Fields(got[1]); len(many) != 2 || many[0] != got[0] {
					t.Errorf("%s: sign_many %q", msg, got[1])
				}
			}
		})
	}
	wg.Wait()
}
