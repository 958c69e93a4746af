package hostcall_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/credentials"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/soft"
	"github.com/osohost/osohost/host/state"
)

// extismEnv holds the Extism forms of every host function over real
// backends: the software signer, a state file, a credentials cache.
type extismEnv struct {
	signer *soft.Signer
	ns     *state.Namespace
	fns    map[string]plugin.HostFunction // by native name
	logs   *logBuffer
	ed, k1 signing.Key
}

type extismOpts struct {
	pol     hostcall.Policy
	creds   func(log *slog.Logger) credentials.Provider // nil: none configured
	lim     state.Limits
	maxList int
}

func newExtismEnv(t testing.TB, o extismOpts) *extismEnv {
	t.Helper()
	e := &extismEnv{signer: newSigner(t), logs: &logBuffer{}, fns: map[string]plugin.HostFunction{}}
	e.ed, e.k1 = keys(t, e.signer)
	st, err := state.Open(filepath.Join(t.TempDir(), "state", state.FileName), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if e.ns, err = st.Namespace(context.Background(), "plugin", o.lim); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var creds credentials.Provider
	if o.creds != nil {
		creds = o.creds(log)
	}
	var fns []plugin.HostFunction
	fns = append(fns, hostcall.Signing(e.signer, log, o.pol)...)
	fns = append(fns, hostcall.Credentials(creds, log)...)
	fns = append(fns, hostcall.State(log, hostcall.StateLimits{MaxListKeys: o.maxList})...)
	for _, f := range fns {
		e.fns[f.Name] = f
	}
	return e
}

// txn returns a context carrying a new transaction, rolled back at the
// end of the test unless committed.
func (e *extismEnv) txn(t testing.TB) (context.Context, *state.Txn) {
	t.Helper()
	x := e.ns.Begin()
	t.Cleanup(x.Rollback)
	return state.WithTxn(t.Context(), x), x
}

// call calls the Extism form of fn, as host/plugin does: with a request
// within its ExtismMaxRequest.
func (e *extismEnv) call(t testing.TB, ctx context.Context, fn, req string) []byte {
	t.Helper()
	f, ok := e.fns[fn]
	if !ok || f.Extism == nil {
		t.Fatalf("%s has no Extism form", fn)
	}
	if len(req) > f.ExtismMaxRequest {
		t.Fatalf("%s: request of %d bytes over ExtismMaxRequest %d", fn, len(req), f.ExtismMaxRequest)
	}
	return f.Extism(ctx, []byte(req))
}

// extismErr is the error object of a response.
type extismErr struct {
	Status  abi.Status `json:"status"`
	Name    string     `json:"name"`
	Message string     `json:"message"`
}

// statusOf returns the status of a response: its error's, or StatusOK.
func statusOf(t testing.TB, resp []byte) abi.Status {
	t.Helper()
	var r struct {
		Error *extismErr `json:"error"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatalf("response %.200s: %v", resp, err)
	}
	if r.Error == nil {
		return abi.StatusOK
	}
	if r.Error.Status >= 0 || r.Error.Name != plugin.StatusName(r.Error.Status) || r.Error.Message == "" {
		t.Fatalf("error object %.200s", resp)
	}
	return r.Error.Status
}

// decodeOK decodes a success response strictly into v.
func decodeOK(t testing.TB, resp []byte, v any) {
	t.Helper()
	if st := statusOf(t, resp); st != abi.StatusOK {
		t.Fatalf("response %.300s", resp)
	}
	d := json.NewDecoder(bytes.NewReader(resp))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("response %.300s: %v", resp, err)
	}
}

// jsonStr quotes s as a JSON string.
func jsonStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// escaped writes s as a JSON string of \u escapes only: the longest way.
func escaped(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, `\u%04x`, c)
	}
	b.WriteByte('"')
	return b.String()
}

type keyResp struct {
	KeyID     string `json:"key_id"`
	Type      string `json:"type"`
	PublicKey []byte `json:"public_key"`
}

// TestExtism_Forms: every host function has an Extism form with a request
// bound.
func TestExtism_Forms(t *testing.T) {
	e := newExtismEnv(t, extismOpts{})
	want := []string{abi.ImportKeyGenerate, abi.ImportKeyList, abi.ImportKeyPublic, abi.ImportSign, abi.ImportSignMany,
		abi.ImportCredential, abi.ImportKVGet, abi.ImportKVPut, abi.ImportKVDelete, abi.ImportKVList}
	if len(e.fns) != len(want) {
		t.Fatalf("%d functions, want %d", len(e.fns), len(want))
	}
	for _, name := range want {
		f := e.fns[name]
		if f.Extism == nil || f.ExtismMaxRequest < 1<<10 {
			t.Errorf("%s: Extism form %v, bound %d", name, f.Extism != nil, f.ExtismMaxRequest)
		}
	}
}

func TestExtism_Signing(t *testing.T) {
	e := newExtismEnv(t, extismOpts{})
	ctx := t.Context()
	msg := []byte("message to sign")
	digest := sha256.Sum256(msg)

	for _, tt := range []struct {
		name string
		typ  signing.KeyType
	}{{"ed25519", signing.Ed25519}, {"secp256k1", signing.Secp256k1}} {
		t.Run(tt.name, func(t *testing.T) {
			var k keyResp
			decodeOK(t, e.call(t, ctx, abi.ImportKeyGenerate, `{"type":"`+tt.name+`"}`), &k)
			stored, err := e.signer.PublicKey(ctx, k.KeyID)
			if err != nil || stored.Type != tt.typ || !bytes.Equal(stored.PublicKey, k.PublicKey) || k.Type != tt.name {
				t.Fatalf("key_generate = %+v; keystore %+v, %v", k, stored, err)
			}
			var p keyResp
			decodeOK(t, e.call(t, ctx, abi.ImportKeyPublic, `{"key_id":`+jsonStr(k.KeyID)+`}`), &p)
			if p.KeyID != k.KeyID || p.Type != k.Type || !bytes.Equal(p.PublicKey, k.PublicKey) {
				t.Fatalf("key_public = %+v, want %+v", p, k)
			}
			var l struct {
				KeyIDs []string `json:"key_ids"`
			}
			decodeOK(t, e.call(t, ctx, abi.ImportKeyList, `{"type":"`+tt.name+`"}`), &l)
			want, _ := e.signer.ListKeys(ctx, tt.typ)
			if !slices.Equal(l.KeyIDs, want) || !slices.Contains(l.KeyIDs, k.KeyID) || len(want) != 2 {
				t.Fatalf("key_list = %q, want %q", l.KeyIDs, want)
			}
		})
	}

	sign := func(t *testing.T, id string, data []byte) []byte {
		t.Helper()
		var s struct {
			Signature []byte `json:"signature"`
		}
		decodeOK(t, e.call(t, ctx, abi.ImportSign, `{"key_id":`+jsonStr(id)+`,"data":"`+b64(data)+`"}`), &s)
		if len(s.Signature) != abi.SignatureBytes {
			t.Fatalf("signature of %d bytes", len(s.Signature))
		}
		return s.Signature
	}
	t.Run("sign", func(t *testing.T) {
		var p keyResp
		decodeOK(t, e.call(t, ctx, abi.ImportKeyPublic, `{"key_id":"`+e.ed.ID+`"}`), &p)
		pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, data := range [][]byte{msg, nil} {
			if sig := sign(t, e.ed.ID, data); !ed25519.Verify(pub.(ed25519.PublicKey), data, sig) {
				t.Fatalf("signature of %q does not verify", data)
			}
		}
		verifySecp256k1(t, e.k1.PublicKey, digest[:], sign(t, e.k1.ID, digest[:]))
		// Whitespace and escapes are JSON: the same request.
		req := " {\n\t\"data\" : \"" + strings.ReplaceAll(b64(msg), "/", `\/`) + "\", \"key\\u005fid\":" + escaped(e.ed.ID) + "} \r\n"
		var s struct {
			Signature []byte `json:"signature"`
		}
		decodeOK(t, e.call(t, ctx, abi.ImportSign, req), &s)
		verifyEd25519(t, e.ed.PublicKey, msg, s.Signature)
	})

	t.Run("sign_many", func(t *testing.T) {
		reqs := []signing.SignRequest{{KeyID: e.ed.ID, Data: msg}, {KeyID: e.k1.ID, Data: digest[:]}, {KeyID: e.ed.ID}}
		var r struct {
			Results []struct {
				Signature []byte     `json:"signature"`
				Error     *extismErr `json:"error"`
			} `json:"results"`
		}
		decodeOK(t, e.call(t, ctx, abi.ImportSignMany, signManyJSON(reqs...)), &r)
		if len(r.Results) != len(reqs) {
			t.Fatalf("%d results", len(r.Results))
		}
		verifyEd25519(t, e.ed.PublicKey, msg, r.Results[0].Signature)
		verifySecp256k1(t, e.k1.PublicKey, digest[:], r.Results[1].Signature)
		verifyEd25519(t, e.ed.PublicKey, nil, r.Results[2].Signature)
		if got := string(e.call(t, ctx, abi.ImportSignMany, `{"requests":[]}`)); got != `{"results":[]}` {
			t.Fatalf("empty batch: %s", got)
		}
	})
}

// signManyJSON encodes a sign_many request.
func signManyJSON(reqs ...signing.SignRequest) string {
	var b strings.Builder
	b.WriteString(`{"requests":[`)
	for i, r := range reqs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"key_id":` + jsonStr(r.KeyID) + `,"data":"` + b64(r.Data) + `"}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// nativeStatus is the status of a native outcome "<result> …".
func nativeStatus(t testing.TB, outcome string) abi.Status {
	t.Helper()
	r, _, _ := strings.Cut(outcome, " ")
	n, err := strconv.Atoi(r)
	if err != nil {
		t.Fatalf("outcome %q", outcome)
	}
	return abi.Status(min(n, 0))
}

// TestExtism_SignMany_Native: for the same batch and policy, the Extism
// form answers each request with the status the native form gives it.
func TestExtism_SignMany_Native(t *testing.T) {
	msg := []byte("m")
	digest := sha256.Sum256(msg)
	policies := []struct {
		name string
		pol  func(ed, k1, ed2 string) hostcall.Policy
		want []abi.Status // of the batch below
	}{
		{"no policy", func(_, _, _ string) hostcall.Policy { return hostcall.Policy{} },
			[]abi.Status{0, 0, -7, -3, -2, 0, 0, 0, -2}},
		{"ED25519 only", func(_, _, _ string) hostcall.Policy {
			return hostcall.Policy{AllowedTypes: []signing.KeyType{signing.Ed25519}}
		}, []abi.Status{0, -4, -7, -4, -2, 0, 0, -4, -2}},
		{"key ids", func(ed, k1, _ string) hostcall.Policy { return hostcall.Policy{AllowedKeyIDs: []string{ed, k1}} },
			[]abi.Status{0, 0, -4, -3, -2, -4, 0, 0, -2}},
	}
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			// Both forms over one signer; the keys first, for the policy.
			s := newSigner(t)
			ed, k1 := keys(t, s)
			ed2, err := s.GenerateKey(t.Context(), signing.Ed25519)
			if err != nil {
				t.Fatal(err)
			}
			pol := p.pol(ed.ID, k1.ID, ed2.ID)
			fns := hostcall.Signing(s, nil, pol)
			i := slices.IndexFunc(fns, func(f plugin.HostFunction) bool { return f.Name == abi.ImportSignMany })
			pool := newPool(t, "signguest", s, pol, nil)
			batch := []signing.SignRequest{
				{KeyID: ed.ID, Data: msg},
				{KeyID: k1.ID, Data: digest[:]},
				{KeyID: "00000000-0000-4000-8000-000000000000", Data: msg},
				{KeyID: k1.ID, Data: msg}, // not a digest
				{KeyID: strings.Repeat("a", abi.MaxKeyIDBytes+1), Data: msg},
				{KeyID: ed2.ID, Data: msg},
				{KeyID: ed.ID, Data: nil},
				{KeyID: k1.ID, Data: digest[:]},
				{KeyID: ed.ID, Data: make([]byte, abi.MaxSignDataBytes+1)},
			}
			// Native.
			_, out := outcome(t, run1(t, pool, "raw:sign_many", fmt.Sprintf("x=%x out=%d", signManyInput(batch...), abi.SignManyOutputBytes(len(batch)))))
			rr, err := abi.NewSignResultReader(out)
			if err != nil {
				t.Fatal(err)
			}
			var native []abi.Status
			for {
				st, _, ok := rr.Next()
				if !ok {
					break
				}
				native = append(native, st)
			}
			// Extism.
			req := signManyJSON(batch...)
			if len(req) > fns[i].ExtismMaxRequest {
				t.Fatalf("request of %d bytes", len(req))
			}
			var r struct {
				Results []json.RawMessage `json:"results"`
			}
			decodeOK(t, fns[i].Extism(t.Context(), []byte(req)), &r)
			var got []abi.Status
			for k, res := range r.Results {
				st := statusOf(t, res)
				got = append(got, st)
				if st != abi.StatusOK {
					continue
				}
				var sig struct {
					Signature []byte `json:"signature"`
				}
				decodeOK(t, res, &sig)
				if batch[k].KeyID == k1.ID {
					verifySecp256k1(t, k1.PublicKey, batch[k].Data, sig.Signature)
				} else {
					verifyEd25519(t, map[string][]byte{ed.ID: ed.PublicKey, ed2.ID: ed2.PublicKey}[batch[k].KeyID], batch[k].Data, sig.Signature)
				}
			}
			if !slices.Equal(got, native) || !slices.Equal(got, p.want) {
				t.Fatalf("Extism statuses %v, native %v, want %v", got, native, p.want)
			}
		})
	}
}

// TestExtism_Policy: the policy refuses the Extism form exactly where it
// refuses the native one, and logs the refusal.
func TestExtism_Policy(t *testing.T) {
	digest := sha256.Sum256([]byte("m"))
	for _, p := range []struct {
		name string
		pol  func(ed, k1 string) hostcall.Policy
	}{
		{"types", func(_, _ string) hostcall.Policy {
			return hostcall.Policy{AllowedTypes: []signing.KeyType{signing.Ed25519}}
		}},
		{"key ids", func(ed, _ string) hostcall.Policy { return hostcall.Policy{AllowedKeyIDs: []string{ed}} }},
	} {
		t.Run(p.name, func(t *testing.T) {
			s := newSigner(t)
			ed, k1 := keys(t, s)
			pol := p.pol(ed.ID, k1.ID)
			logs := &logBuffer{}
			fns := map[string]plugin.HostFunction{}
			for _, f := range hostcall.Signing(s, slog.New(slog.NewJSONHandler(logs, nil)), pol) {
				fns[f.Name] = f
			}
			pool := newPool(t, "signguest", s, pol, nil)
			cases := []struct {
				fn, req, arg string
			}{
				{abi.ImportKeyGenerate, `{"type":"secp256k1"}`, "1 out=512"},
				{abi.ImportKeyGenerate, `{"type":"ed25519"}`, "2 out=512"},
				{abi.ImportKeyList, `{"type":"secp256k1"}`, "1 out=4096"},
				{abi.ImportKeyList, `{"type":"ed25519"}`, "2 out=4096"},
				{abi.ImportKeyPublic, `{"key_id":"` + k1.ID + `"}`, "s=" + k1.ID + " out=512"},
				{abi.ImportKeyPublic, `{"key_id":"` + ed.ID + `"}`, "s=" + ed.ID + " out=512"},
				{abi.ImportSign, `{"key_id":"` + k1.ID + `","data":"` + b64(digest[:]) + `"}`, fmt.Sprintf("s=%s x=%x out=64", k1.ID, digest)},
				{abi.ImportSign, `{"key_id":"` + ed.ID + `","data":"bQ=="}`, "s=" + ed.ID + " s=m out=64"},
			}
			refused := 0
			for _, c := range cases {
				want := nativeStatus(t, run1(t, pool, "raw:"+c.fn, c.arg))
				got := statusOf(t, fns[c.fn].Extism(t.Context(), []byte(c.req)))
				if got != want {
					t.Errorf("%s %s = %d, native %d", c.fn, c.req, got, want)
				}
				if got == abi.StatusNotAllowed {
					refused++
				}
			}
			if refused < 4 {
				t.Errorf("%d refusals", refused)
			}
			// key_list: the ids the native form lists.
			var l struct {
				KeyIDs []string `json:"key_ids"`
			}
			decodeOK(t, fns[abi.ImportKeyList].Extism(t.Context(), []byte(`{"type":"ed25519"}`)), &l)
			if got := run1(t, pool, "sdk:list", "ED25519"); strings.Join(l.KeyIDs, ",") != got || !slices.Contains(l.KeyIDs, ed.ID) {
				t.Errorf("key_list = %q, native %q", l.KeyIDs, got)
			}
			if lg := logs.String(); !strings.Contains(lg, `"msg":"signing refused by policy"`) || !strings.Contains(lg, k1.ID) {
				t.Errorf("refusals not logged: %s", lg)
			}
		})
	}
}

// TestExtism_Errors: malformed, unknown, mistyped and oversize members,
// and the faults of the backends, with the native form's status.
func TestExtism_Errors(t *testing.T) {
	e := newExtismEnv(t, extismOpts{
		creds: func(log *slog.Logger) credentials.Provider {
			return newCredCache(t, log, "api", "missing")
		},
		lim: state.Limits{MaxValueBytes: 64 << 10},
	})
	digest := sha256.Sum256([]byte("m"))
	unknown := "00000000-0000-4000-8000-000000000000"
	long := func(n int) string { return strings.Repeat("a", n) }
	many := `{"requests":[` + strings.Repeat(`{"key_id":"x","data":""},`, abi.MaxSignBatch) + `{"key_id":"x","data":""}]}`
	mib := b64(make([]byte, abi.MaxSignDataBytes))
	huge := `{"requests":[` + strings.Repeat(`{"key_id":"x","data":"`+mib+`"},`, 15) + `{"key_id":"x","data":"` + mib + `"}]}`
	const (
		tooLarge = abi.StatusTooLarge
		bad      = abi.StatusBadArgument
		notFound = abi.StatusNotFound
		refused  = abi.StatusNotAllowed
	)
	tests := []struct {
		name, fn, req string
		want          abi.Status
	}{
		{"generate: empty request", abi.ImportKeyGenerate, ``, bad},
		{"generate: malformed", abi.ImportKeyGenerate, `{"type":"ed25519"`, bad},
		{"generate: not an object", abi.ImportKeyGenerate, `["ed25519"]`, bad},
		{"generate: null", abi.ImportKeyGenerate, `null`, bad},
		{"generate: unknown member", abi.ImportKeyGenerate, `{"type":"ed25519","x":1}`, bad},
		{"generate: member in another case", abi.ImportKeyGenerate, `{"Type":"ed25519"}`, bad},
		{"generate: wrong type", abi.ImportKeyGenerate, `{"type":2}`, bad},
		{"generate: unknown key type", abi.ImportKeyGenerate, `{"type":"ED25519"}`, bad},
		{"generate: oversize type", abi.ImportKeyGenerate, `{"type":"` + long(10_000) + `"}`, bad},
		{"generate: duplicate member", abi.ImportKeyGenerate, `{"type":"ed25519","type":"ed25519"}`, bad},
		{"generate: trailing data", abi.ImportKeyGenerate, `{"type":"ed25519"}{}`, bad},
		{"generate: missing member", abi.ImportKeyGenerate, `{}`, bad},
		{"list: malformed", abi.ImportKeyList, `{"type":}`, bad},
		{"list: unknown member", abi.ImportKeyList, `{"type":"ed25519","limit":1}`, bad},
		{"list: wrong type", abi.ImportKeyList, `{"type":["ed25519"]}`, bad},
		{"list: oversize type", abi.ImportKeyList, `{"type":"` + long(10_000) + `"}`, bad},
		{"public: malformed", abi.ImportKeyPublic, `{"key_id" "x"}`, bad},
		{"public: unknown member", abi.ImportKeyPublic, `{"key_id":"x","type":"ed25519"}`, bad},
		{"public: wrong type", abi.ImportKeyPublic, `{"key_id":null}`, bad},
		{"public: id too long", abi.ImportKeyPublic, `{"key_id":"` + long(abi.MaxKeyIDBytes+1) + `"}`, tooLarge},
		{"public: lone surrogate", abi.ImportKeyPublic, `{"key_id":"\ud800"}`, bad},
		{"public: invalid UTF-8", abi.ImportKeyPublic, "{\"key_id\":\"\xff\"}", bad},
		{"public: raw control character", abi.ImportKeyPublic, "{\"key_id\":\"a\tb\"}", bad},
		{"public: unknown key", abi.ImportKeyPublic, `{"key_id":"` + unknown + `"}`, notFound},
		{"public: empty id", abi.ImportKeyPublic, `{"key_id":""}`, notFound},
		{"sign: malformed", abi.ImportSign, `{"key_id":"x","data":"bQ=="`, bad},
		{"sign: unknown member", abi.ImportSign, `{"key_id":"x","data":"bQ==","out":64}`, bad},
		{"sign: wrong type", abi.ImportSign, `{"key_id":"x","data":[1]}`, bad},
		{"sign: missing data", abi.ImportSign, `{"key_id":"` + e.ed.ID + `"}`, bad},
		{"sign: not base64", abi.ImportSign, `{"key_id":"x","data":"b%=="}`, bad},
		{"sign: base64 without padding", abi.ImportSign, `{"key_id":"x","data":"bQ"}`, bad},
		{"sign: base64 with a line break", abi.ImportSign, `{"key_id":"x","data":"bQ==\n"}`, bad},
		{"sign: base64 with non-zero padding bits", abi.ImportSign, `{"key_id":"x","data":"bR=="}`, bad},
		{"sign: id too long", abi.ImportSign, `{"key_id":"` + long(abi.MaxKeyIDBytes+1) + `","data":"bQ=="}`, tooLarge},
		{"sign: data too long", abi.ImportSign, `{"key_id":"` + e.ed.ID + `","data":"` + b64(make([]byte, abi.MaxSignDataBytes+1)) + `"}`, tooLarge},
		{"sign: unknown key", abi.ImportSign, `{"key_id":"` + unknown + `","data":"bQ=="}`, notFound},
		{"sign: wrong digest length", abi.ImportSign, `{"key_id":"` + e.k1.ID + `","data":"` + b64(digest[:31]) + `"}`, bad},
		{"sign_many: malformed", abi.ImportSignMany, `{"requests":[{"key_id":"x","data":""}}`, bad},
		{"sign_many: unknown member", abi.ImportSignMany, `{"requests":[],"n":0}`, bad},
		{"sign_many: unknown member of a request", abi.ImportSignMany, `{"requests":[{"key_id":"x","data":"","n":0}]}`, bad},
		{"sign_many: wrong type", abi.ImportSignMany, `{"requests":{}}`, bad},
		{"sign_many: wrong type of a request", abi.ImportSignMany, `{"requests":["x"]}`, bad},
		{"sign_many: missing member of a request", abi.ImportSignMany, `{"requests":[{"key_id":"x"}]}`, bad},
		{"sign_many: bad base64 in a request", abi.ImportSignMany, `{"requests":[{"key_id":"x","data":"*"}]}`, bad},
		{"sign_many: too many requests", abi.ImportSignMany, many, tooLarge},
		{"sign_many: input too long", abi.ImportSignMany, huge, tooLarge},
		{"sign_many: missing member", abi.ImportSignMany, `{}`, bad},
		{"credential: malformed", abi.ImportCredential, `{"name":"api",}`, bad},
		{"credential: unknown member", abi.ImportCredential, `{"name":"api","token":"x"}`, bad},
		{"credential: wrong type", abi.ImportCredential, `{"name":true}`, bad},
		{"credential: name too long", abi.ImportCredential, `{"name":"` + long(abi.MaxCredentialNameBytes+1) + `"}`, tooLarge},
		{"credential: not granted", abi.ImportCredential, `{"name":"plain"}`, refused},
		{"credential: not found", abi.ImportCredential, `{"name":"missing"}`, notFound},
		{"get: malformed", abi.ImportKVGet, `{"key":"a"]`, bad},
		{"get: unknown member", abi.ImportKVGet, `{"key":"a","value":"AA=="}`, bad},
		{"get: wrong type", abi.ImportKVGet, `{"key":5}`, bad},
		{"get: key too long", abi.ImportKVGet, `{"key":"` + long(abi.MaxKVKeyBytes+1) + `"}`, tooLarge},
		{"get: empty key", abi.ImportKVGet, `{"key":""}`, bad},
		{"get: absent", abi.ImportKVGet, `{"key":"zz"}`, notFound},
		{"put: malformed", abi.ImportKVPut, `{"key":"a","value":"AA=="`, bad},
		{"put: unknown member", abi.ImportKVPut, `{"key":"a","value":"AA==","ttl":1}`, bad},
		{"put: wrong type", abi.ImportKVPut, `{"key":"a","value":1}`, bad},
		{"put: missing value", abi.ImportKVPut, `{"key":"a"}`, bad},
		{"put: bad base64", abi.ImportKVPut, `{"key":"a","value":"A"}`, bad},
		{"put: key too long", abi.ImportKVPut, `{"key":"` + long(abi.MaxKVKeyBytes+1) + `","value":""}`, tooLarge},
		{"put: value over the namespace's limit", abi.ImportKVPut, `{"key":"a","value":"` + b64(make([]byte, 64<<10+1)) + `"}`, tooLarge},
		{"put: value over the ABI's limit", abi.ImportKVPut, `{"key":"a","value":"` + b64(make([]byte, abi.MaxKVValueBytes+1)) + `"}`, tooLarge},
		{"put: empty key", abi.ImportKVPut, `{"key":"","value":""}`, bad},
		{"delete: malformed", abi.ImportKVDelete, `{key:"a"}`, bad},
		{"delete: unknown member", abi.ImportKVDelete, `{"key":"a","all":true}`, bad},
		{"delete: wrong type", abi.ImportKVDelete, `{"key":{}}`, bad},
		{"delete: key too long", abi.ImportKVDelete, `{"key":"` + long(abi.MaxKVKeyBytes+1) + `"}`, tooLarge},
		{"delete: absent", abi.ImportKVDelete, `{"key":"zz"}`, notFound},
		{"list: malformed", abi.ImportKVList, `{"prefix":"a" "after":"b"}`, bad},
		{"list: unknown member", abi.ImportKVList, `{"start":"a"}`, bad},
		{"list: wrong type", abi.ImportKVList, `{"prefix":null}`, bad},
		{"list: limit as a string", abi.ImportKVList, `{"limit":"1"}`, bad},
		{"list: limit 0", abi.ImportKVList, `{"limit":0}`, bad},
		{"list: negative limit", abi.ImportKVList, `{"limit":-1}`, bad},
		{"list: fractional limit", abi.ImportKVList, `{"limit":1.5}`, bad},
		{"list: limit with an exponent", abi.ImportKVList, `{"limit":1e3}`, bad},
		{"list: limit with a leading zero", abi.ImportKVList, `{"limit":01}`, bad},
		{"list: prefix too long", abi.ImportKVList, `{"prefix":"` + long(abi.MaxKVKeyBytes+1) + `"}`, tooLarge},
		{"list: after too long", abi.ImportKVList, `{"after":"` + long(abi.MaxKVKeyBytes+1) + `"}`, tooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, _ := e.txn(t)
			resp := e.call(t, ctx, tt.fn, tt.req)
			if got := statusOf(t, resp); got != tt.want {
				t.Fatalf("%s(%.80s) = %.300s, want status %d", tt.fn, tt.req, resp, tt.want)
			}
		})
	}
	if l := e.logs.String(); strings.Contains(l, `"level":"ERROR"`) {
		t.Errorf("a request fault was logged as an error: %s", l)
	}
}

// TestExtism_RequestBounds: the largest valid request of each function,
// every string written with \u escapes, fits its ExtismMaxRequest and is
// served.
func TestExtism_RequestBounds(t *testing.T) {
	e := newExtismEnv(t, extismOpts{creds: func(log *slog.Logger) credentials.Provider { return newCredCache(t, log, "api") }})
	ctx, _ := e.txn(t)
	key := strings.Repeat("k", abi.MaxKVKeyBytes)
	id := strings.Repeat("i", abi.MaxKeyIDBytes)

	// sign_many: MaxSignBatch requests of MaxSignManyInputBytes in all.
	per := (abi.MaxSignManyInputBytes-4)/abi.MaxSignBatch - 8 - abi.MaxKeyIDBytes
	extra := abi.MaxSignManyInputBytes - 4 - abi.MaxSignBatch*(8+abi.MaxKeyIDBytes+per)
	batch := func(extra int) string {
		var b strings.Builder
		b.WriteString(`{"requests":[`)
		for i := range abi.MaxSignBatch {
			if i > 0 {
				b.WriteByte(',')
			}
			n := per
			if i == 0 {
				n += extra
			}
			b.WriteString(`{"key_id":` + escaped(id) + `,"data":"` + b64(make([]byte, n)) + `"}`)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	var r struct {
		Results []json.RawMessage `json:"results"`
	}
	decodeOK(t, e.call(t, ctx, abi.ImportSignMany, batch(extra)), &r)
	if len(r.Results) != abi.MaxSignBatch || statusOf(t, r.Results[0]) != abi.StatusNotFound {
		t.Fatalf("%d results, the first %s", len(r.Results), r.Results[0])
	}
	if st := statusOf(t, e.call(t, ctx, abi.ImportSignMany, batch(extra+1))); st != abi.StatusTooLarge {
		t.Fatalf("a batch one byte over: %d", st)
	}

	tests := []struct{ fn, req string }{
		{abi.ImportSign, `{"key_id":` + escaped(e.ed.ID) + `,"data":"` + b64(make([]byte, abi.MaxSignDataBytes)) + `"}`},
		{abi.ImportKVPut, `{"key":` + escaped(key) + `,"value":"` + b64(make([]byte, abi.MaxKVValueBytes)) + `"}`},
		{abi.ImportKVGet, `{"key":` + escaped(key) + `}`},
		{abi.ImportKVDelete, `{"key":` + escaped(key) + `}`},
		{abi.ImportKVList, `{"prefix":` + escaped(key) + `,"after":` + escaped(key) + `,"limit":18446744073709551616}`},
		{abi.ImportKeyPublic, `{"key_id":` + escaped(e.ed.ID) + `}`},
		{abi.ImportKeyGenerate, `{"type":` + escaped("secp256k1") + `}`},
		{abi.ImportKeyList, `{"type":` + escaped("secp256k1") + `}`},
		{abi.ImportCredential, `{"name":` + escaped("api") + `}`},
	}
	for _, tt := range tests {
		if st := statusOf(t, e.call(t, ctx, tt.fn, tt.req)); st != abi.StatusOK {
			t.Errorf("%s: status %d", tt.fn, st)
		}
	}
}

type listResp struct {
	Keys    []string `json:"keys"`
	More    bool     `json:"more"`
	Skipped int      `json:"skipped"`
}

func TestExtism_State(t *testing.T) {
	e := newExtismEnv(t, extismOpts{maxList: 3})
	ctx, txn := e.txn(t)
	kv := [][2]string{{"a", "alpha"}, {"b/1", "one"}, {"b/2", "two"}, {"b/3", ""}, {"c", "\x00\xff"}, {"é", "utf-8"}}
	for _, p := range kv {
		if got := string(e.call(t, ctx, abi.ImportKVPut, `{"key":`+jsonStr(p[0])+`,"value":"`+b64([]byte(p[1]))+`"}`)); got != "{}" {
			t.Fatalf("put %q: %s", p[0], got)
		}
	}
	get := func(ctx context.Context, k string) (string, abi.Status) {
		resp := e.call(t, ctx, abi.ImportKVGet, `{"key":`+jsonStr(k)+`}`)
		if st := statusOf(t, resp); st != abi.StatusOK {
			return "", st
		}
		var v struct {
			Value []byte `json:"value"`
		}
		decodeOK(t, resp, &v)
		return string(v.Value), abi.StatusOK
	}
	for _, p := range kv {
		if v, st := get(ctx, p[0]); st != abi.StatusOK || v != p[1] {
			t.Fatalf("get %q = %q, %d", p[0], v, st)
		}
	}
	list := func(ctx context.Context, req string) listResp {
		t.Helper()
		var l listResp
		decodeOK(t, e.call(t, ctx, abi.ImportKVList, req), &l)
		return l
	}
	for _, tt := range []struct {
		req  string
		want []string
		more bool
	}{
		{`{}`, []string{"a", "b/1", "b/2"}, true}, // at most MaxListKeys
		{`{"limit":100}`, []string{"a", "b/1", "b/2"}, true},
		{`{"limit":2}`, []string{"a", "b/1"}, true},
		{`{"after":"b/1","limit":2}`, []string{"b/2", "b/3"}, true},
		{`{"after":"b/3"}`, []string{"c", "é"}, false},
		{`{"prefix":"b/"}`, []string{"b/1", "b/2", "b/3"}, false},
		{`{"prefix":"b/","after":"b/3"}`, []string{}, false},
		{`{"prefix":"b/","after":"a"}`, []string{"b/1", "b/2", "b/3"}, false},
		{`{"prefix":"zz"}`, []string{}, false},
	} {
		if l := list(ctx, tt.req); !slices.Equal(l.Keys, tt.want) || l.More != tt.more || l.Skipped != 0 {
			t.Errorf("list %s = %+v, want %q more=%v", tt.req, l, tt.want, tt.more)
		}
	}
	if got := string(e.call(t, ctx, abi.ImportKVList, `{"prefix":"zz"}`)); got != `{"keys":[],"more":false}` {
		t.Errorf("empty list: %s", got)
	}
	if got := string(e.call(t, ctx, abi.ImportKVDelete, `{"key":"b/2"}`)); got != "{}" {
		t.Fatalf("delete: %s", got)
	}
	if st := statusOf(t, e.call(t, ctx, abi.ImportKVDelete, `{"key":"b/2"}`)); st != abi.StatusNotFound {
		t.Fatalf("delete again: %d", st)
	}
	if _, st := get(ctx, "b/2"); st != abi.StatusNotFound {
		t.Fatalf("get deleted: %d", st)
	}
	if l := list(ctx, `{"prefix":"b/"}`); !slices.Equal(l.Keys, []string{"b/1", "b/3"}) {
		t.Fatalf("list after delete: %+v", l)
	}
	if err := txn.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}

	// The next call sees what this one committed.
	ctx, _ = e.txn(t)
	if v, st := get(ctx, "a"); v != "alpha" || st != abi.StatusOK {
		t.Fatalf("committed a = %q, %d", v, st)
	}

	t.Run("read-only", func(t *testing.T) {
		ro := e.ns.BeginReadOnly()
		defer ro.Rollback()
		ctx := state.WithTxn(t.Context(), ro)
		if v, st := get(ctx, "a"); v != "alpha" || st != abi.StatusOK {
			t.Errorf("get = %q, %d", v, st)
		}
		for _, c := range [][2]string{{abi.ImportKVPut, `{"key":"a","value":""}`}, {abi.ImportKVDelete, `{"key":"a"}`}} {
			if st := statusOf(t, e.call(t, ctx, c[0], c[1])); st != abi.StatusNotAllowed {
				t.Errorf("%s: %d", c[0], st)
			}
		}
	})
	t.Run("no transaction", func(t *testing.T) {
		for _, c := range [][2]string{{abi.ImportKVGet, `{"key":"a"}`}, {abi.ImportKVPut, `{"key":"a","value":""}`}, {abi.ImportKVDelete, `{"key":"a"}`}, {abi.ImportKVList, `{}`}, {abi.ImportKVList, `not json`}} {
			if st := statusOf(t, e.call(t, t.Context(), c[0], c[1])); st != abi.StatusNotAllowed {
				t.Errorf("%s: %d", c[0], st)
			}
		}
	})
}

func TestExtism_State_Quota(t *testing.T) {
	e := newExtismEnv(t, extismOpts{lim: state.Limits{MaxKeys: 2}})
	ctx, txn := e.txn(t)
	var got []abi.Status
	for _, k := range []string{"a", "b", "c"} {
		got = append(got, statusOf(t, e.call(t, ctx, abi.ImportKVPut, `{"key":"`+k+`","value":"AA=="}`)))
	}
	if !slices.Equal(got, []abi.Status{0, 0, abi.StatusLimited}) {
		t.Fatalf("puts: %v", got)
	}
	if err := txn.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestExtism_State_Paging: keys that are not valid UTF-8 are left out and
// counted once, and paging on the last key answered sees every other key
// exactly once, whatever the limit; a page holds at most 1 MiB of keys.
func TestExtism_State_Paging(t *testing.T) {
	e := newExtismEnv(t, extismOpts{})
	seed := e.ns.Begin()
	var valid []string
	invalid := 0
	for _, k := range []string{"k/1", "k/1\xff", "k/2", "k/2\xff", "k/2\xfe", "k/3", "k/\xff", "z/\xff", "z/\xfe"} {
		if err := seed.Put(t.Context(), k, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k, "k/") {
			continue
		}
		if strings.ToValidUTF8(k, "") == k {
			valid = append(valid, k)
		} else {
			invalid++
		}
	}
	big := make([]string, 2100) // 2100 keys of 512 bytes: over 1 MiB
	for i := range big {
		big[i] = fmt.Sprintf("big/%06d/", i) + strings.Repeat("x", abi.MaxKVKeyBytes-11)
		if err := seed.Put(t.Context(), big[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := seed.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, _ := e.txn(t)

	// pages lists prefix page by page and returns the keys and the sum of
	// skipped.
	pages := func(t *testing.T, prefix, limit string) (keys []string, skipped, n int) {
		after := ""
		for n = 1; ; n++ {
			req := `{"prefix":` + jsonStr(prefix) + `,"after":` + jsonStr(after) + limit + `}`
			resp := e.call(t, ctx, abi.ImportKVList, req)
			if len(resp) > 1<<20+64 {
				t.Fatalf("a page of %d bytes", len(resp))
			}
			var l listResp
			decodeOK(t, resp, &l)
			if l.Skipped == 0 && strings.Contains(string(resp), "skipped") {
				t.Fatalf("skipped 0 given: %s", resp)
			}
			keys = append(keys, l.Keys...)
			skipped += l.Skipped
			if !l.More {
				return keys, skipped, n
			}
			if len(l.Keys) == 0 {
				t.Fatalf("more without keys: %s", resp)
			}
			after = l.Keys[len(l.Keys)-1]
		}
	}
	for _, limit := range []string{``, `,"limit":1`, `,"limit":2`, `,"limit":3`} {
		t.Run("limit"+limit, func(t *testing.T) {
			keys, skipped, _ := pages(t, "k/", limit)
			if !slices.Equal(keys, valid) || skipped != invalid {
				t.Fatalf("keys %q skipped %d, want %q skipped %d", keys, skipped, valid, invalid)
			}
		})
	}
	if got := string(e.call(t, ctx, abi.ImportKVList, `{"prefix":"z/"}`)); got != `{"keys":[],"more":false,"skipped":2}` {
		t.Errorf("only invalid keys: %s", got)
	}
	keys, _, n := pages(t, "big/", "")
	if !slices.Equal(keys, big) || n < 2 {
		t.Errorf("%d big keys in %d pages", len(keys), n)
	}
}

// extismCreds is a static credentials file.
const extismCreds = `{
	"api":    {"token": "tok-ext-api", "token_type": "Bearer", "expires_at_ms": 4102444800999},
	"plain":  {"token": "tok-ext-plain"},
	"odd":    {"token": "tok-ext-\"odd\"\\\t\u00e9", "token_type": "MAC"},
	"hidden": {"token": "tok-ext-hidden"}
}`

var extismTokens = []string{"tok-ext-api", "tok-ext-plain", "tok-ext-", "tok-ext-hidden"}

// newCredCache returns a cache over extismCreds granting allowed.
func newCredCache(t testing.TB, log *slog.Logger, allowed ...string) *credentials.Cache {
	t.Helper()
	set, err := credentials.ParseStatic([]byte(extismCreds))
	if err != nil {
		t.Fatal(err)
	}
	c, err := credentials.NewCache(set, credentials.CacheOptions{Allowed: allowed, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestExtism_Credential(t *testing.T) {
	e := newExtismEnv(t, extismOpts{creds: func(log *slog.Logger) credentials.Provider {
		return newCredCache(t, log, "api", "plain", "odd", "missing")
	}})
	type cred struct {
		Token     string `json:"token"`
		TokenType string `json:"token_type"`
		ExpiresAt int64  `json:"expires_at"`
	}
	for _, tt := range []struct {
		name string
		want cred
	}{
		{"api", cred{"tok-ext-api", "Bearer", 4102444800}},
		{"plain", cred{"tok-ext-plain", "", 0}},
		{"odd", cred{"tok-ext-\"odd\"\\\té", "MAC", 0}},
	} {
		var c cred
		decodeOK(t, e.call(t, t.Context(), abi.ImportCredential, `{"name":`+jsonStr(tt.name)+`}`), &c)
		if c != tt.want {
			t.Errorf("%s = %+v, want %+v", tt.name, c, tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		want abi.Status
	}{
		{"hidden", abi.StatusNotAllowed},
		{"missing", abi.StatusNotFound},
		{"nope", abi.StatusNotAllowed},
		{strings.Repeat("n", abi.MaxCredentialNameBytes+1), abi.StatusTooLarge},
	} {
		resp := e.call(t, t.Context(), abi.ImportCredential, `{"name":`+jsonStr(tt.name)+`}`)
		if st := statusOf(t, resp); st != tt.want {
			t.Errorf("%.20s: %s, want %d", tt.name, resp, tt.want)
		}
	}
	l := e.logs.String()
	if !strings.Contains(l, "credential refused") || !strings.Contains(l, `"credential":"hidden"`) {
		t.Errorf("refusals not logged: %s", l)
	}
	noTokenIn(t, extismTokens, l)

	t.Run("no provider", func(t *testing.T) {
		e := newExtismEnv(t, extismOpts{})
		if st := statusOf(t, e.call(t, t.Context(), abi.ImportCredential, `{"name":"api"}`)); st != abi.StatusNotAllowed {
			t.Fatalf("status %d", st)
		}
		if l := e.logs.String(); !strings.Contains(l, "no credentials are configured") {
			t.Fatalf("log %s", l)
		}
	})
}

// noTokenIn fails if a token appears in the log.
func noTokenIn(t testing.TB, tokens []string, log string) {
	t.Helper()
	for _, tok := range tokens {
		if strings.Contains(log, tok) {
			t.Fatalf("token %q in the log:\n%s", tok, log)
		}
	}
}

// checkExtismResponse fails unless resp is one JSON object: an error
// object, or the success shape of fn.
func checkExtismResponse(t *testing.T, fn string, resp []byte) {
	t.Helper()
	if !json.Valid(resp) {
		t.Fatalf("%s: invalid JSON %q", fn, resp)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(resp, &m); err != nil {
		t.Fatalf("%s: not an object: %s", fn, resp)
	}
	strict := func(v any) {
		d := json.NewDecoder(bytes.NewReader(resp))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			t.Fatalf("%s: %s: %v", fn, resp, err)
		}
	}
	has := func(names ...string) {
		if len(m) != len(names) {
			t.Fatalf("%s: members of %s, want %q", fn, resp, names)
		}
		for _, n := range names {
			if _, ok := m[n]; !ok {
				t.Fatalf("%s: %s lacks %q", fn, resp, n)
			}
		}
	}
	if _, ok := m["error"]; ok {
		has("error")
		var e struct {
			Error extismErr `json:"error"`
		}
		strict(&e)
		if e.Error.Status >= 0 || e.Error.Name != plugin.StatusName(e.Error.Status) || e.Error.Message == "" || !strings.Contains(string(resp), `"message":`) {
			t.Fatalf("%s: error object %s", fn, resp)
		}
		return
	}
	switch fn {
	case abi.ImportKeyGenerate, abi.ImportKeyPublic:
		has("key_id", "type", "public_key")
		var k keyResp
		strict(&k)
		if k.Type != "ed25519" && k.Type != "secp256k1" || len(k.PublicKey) == 0 {
			t.Fatalf("%s: %s", fn, resp)
		}
	case abi.ImportKeyList:
		has("key_ids")
		var l struct {
			KeyIDs []string `json:"key_ids"`
		}
		strict(&l)
		if l.KeyIDs == nil {
			t.Fatalf("%s: %s", fn, resp)
		}
	case abi.ImportSign:
		has("signature")
		var s struct {
			Signature []byte `json:"signature"`
		}
		strict(&s)
		if len(s.Signature) != abi.SignatureBytes {
			t.Fatalf("%s: %s", fn, resp)
		}
	case abi.ImportSignMany:
		has("results")
		var r struct {
			Results []json.RawMessage `json:"results"`
		}
		strict(&r)
		if r.Results == nil {
			t.Fatalf("%s: %s", fn, resp)
		}
		for _, res := range r.Results {
			checkExtismResponse(t, abi.ImportSign, res)
		}
	case abi.ImportCredential:
		has("token", "token_type", "expires_at")
		var c struct {
			Token     string `json:"token"`
			TokenType string `json:"token_type"`
			ExpiresAt int64  `json:"expires_at"`
		}
		strict(&c)
		if c.Token == "" || c.ExpiresAt < 0 {
			t.Fatalf("%s: %s", fn, resp)
		}
	case abi.ImportKVGet:
		has("value")
		var v struct {
			Value []byte `json:"value"`
		}
		strict(&v)
	case abi.ImportKVPut, abi.ImportKVDelete:
		if string(resp) != "{}" {
			t.Fatalf("%s: %s", fn, resp)
		}
	case abi.ImportKVList:
		if _, ok := m["skipped"]; ok {
			has("keys", "more", "skipped")
		} else {
			has("keys", "more")
		}
		var l listResp
		strict(&l)
		if l.Keys == nil || l.Skipped < 0 || !slices.IsSorted(l.Keys) {
			t.Fatalf("%s: %s", fn, resp)
		}
	default:
		t.Fatalf("no shape for %s", fn)
	}
}

// FuzzExtismRequests feeds the same bytes to every Extism form: each
// answers one compact JSON object, its success shape or an error object.
func FuzzExtismRequests(f *testing.F) {
	e := newExtismEnv(f, extismOpts{
		creds: func(log *slog.Logger) credentials.Provider { return newCredCache(f, log, "api", "odd", "missing") },
		lim:   state.Limits{MaxKeys: 100, MaxValueBytes: 4 << 10},
	})
	seed := e.ns.Begin()
	for _, k := range []string{"a", "b/1", "b/\xff", "c"} {
		if err := seed.Put(context.Background(), k, []byte(k)); err != nil {
			f.Fatal(err)
		}
	}
	if err := seed.Commit(context.Background()); err != nil {
		f.Fatal(err)
	}
	digest := sha256.Sum256([]byte("m"))
	for _, s := range []string{
		`{"type":"ed25519"}`, `{"type":"secp256k1"}`, `{"type":"rsa"}`,
		`{"key_id":"` + e.ed.ID + `"}`, `{"key_id":"` + e.k1.ID + `","data":"` + b64(digest[:]) + `"}`,
		`{"key_id":"` + e.ed.ID + `","data":"bQ=="}`, `{"key_id":"\ud83d\ude00","data":""}`,
		`{"requests":[{"key_id":"` + e.ed.ID + `","data":"bQ=="},{"key_id":"x","data":""}]}`, `{"requests":[]}`,
		`{"name":"api"}`, `{"name":"odd"}`, `{"name":"missing"}`,
		`{"key":"a"}`, `{"key":"b/1","value":"AAEC"}`, `{"key":""}`,
		`{}`, `{"prefix":"b/"}`, `{"prefix":"","after":"a","limit":1}`, `{"limit":18446744073709551616}`,
		``, `null`, `[]`, `{"key":"a"} x`, `{"key":"a","key":"b"}`, "{\"key\":\"\xff\"}", `{"key":"\u0000"}`, `{"limit":-0.5e-3}`,
	} {
		f.Add([]byte(s))
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range e.fns {
			if !yield(n) {
				return
			}
		}
	})
	f.Fuzz(func(t *testing.T, req []byte) {
		valid := json.Valid(req)
		for _, n := range names {
			fn := e.fns[n]
			if len(req) > fn.ExtismMaxRequest {
				continue // host/plugin answers too_large itself
			}
			x := e.ns.Begin()
			resp := fn.Extism(state.WithTxn(t.Context(), x), bytes.Clone(req))
			x.Rollback()
			checkExtismResponse(t, n, resp)
			// What encoding/json rejects is never taken for a request.
			if st := statusOf(t, resp); !valid && st != abi.StatusBadArgument {
				t.Fatalf("%s: invalid JSON %q answered %s", n, req, resp)
			}
		}
	})
}
