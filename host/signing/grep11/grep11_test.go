package grep11_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc/codes"

	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/grep11"
	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
	"github.com/osohost/osohost/host/signing/keystore"
)

// healthBound bounds how long a test waits for a server that has just
// started to be seen as healthy.
const healthBound = 30 * time.Second

var keyTypes = []signing.KeyType{signing.Secp256k1, signing.Ed25519}

// testData returns what a key of type t signs: a 32-byte digest for
// SECP256K1, a message for ED25519.
func testData(t signing.KeyType, i int) []byte {
	d := sha256.Sum256(fmt.Appendf(nil, "document %d", i))
	if t == signing.Secp256k1 {
		return d[:]
	}
	return fmt.Appendf(nil, "document %d %x", i, d)
}

// verify checks sig over data with k's public key, and that a SECP256K1
// signature is r||s with a low s.
func verify(t testing.TB, k signing.Key, data, sig []byte) {
	t.Helper()
	_, raw, err := keystore.ParseSPKI(k.Type, k.PublicKey)
	if err != nil {
		t.Fatalf("public key of %s: %v", k.Type, err)
	}
	switch k.Type {
	case signing.Ed25519:
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey) // RFC 8410, as the standard library reads it
		if err != nil || !bytes.Equal(pub.(ed25519.PublicKey), raw) {
			t.Fatalf("Ed25519 SPKI does not parse as RFC 8410: %v", err)
		}
		if !ed25519.Verify(raw, data, sig) {
			t.Fatalf("Ed25519 signature does not verify")
		}
	case signing.Secp256k1:
		pub, err := secp256k1.ParsePubKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Fatalf("ECDSA signature of %d bytes; want r||s, 64", len(sig))
		}
		var r, s secp256k1.ModNScalar
		if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) {
			t.Fatal("r or s not below the group order")
		}
		if s.IsOverHalfOrder() {
			t.Fatal("s is not low")
		}
		if !ecdsa.NewSignature(&r, &s).Verify(data, pub) {
			t.Fatal("ECDSA signature does not verify")
		}
	}
}

func TestSigner_RoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.startDev(t)
	var logs lockedBuffer
	o := e.options(dev.addr)
	o.Logger = logTo(&logs)
	s := newSigner(t, o)
	ctx := t.Context()

	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			k, err := s.GenerateKey(ctx, kt)
			if err != nil {
				t.Fatal(err)
			}
			if k.Type != kt || !keystore.ValidID(k.ID) {
				t.Fatalf("GenerateKey = %+v", k)
			}
			// The framework's layout, written safely.
			for _, ext := range []string{".key", ".pub"} {
				fi, err := os.Stat(filepath.Join(e.ksDir, string(kt), k.ID+ext))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s%s has mode %v; want 0600", k.ID, ext, fi.Mode().Perm())
				}
			}
			pubFile, _ := os.ReadFile(filepath.Join(e.ksDir, string(kt), k.ID+".pub"))
			if !bytes.Equal(pubFile, k.PublicKey) {
				t.Errorf(".pub holds %x; want the key's SPKI %x", pubFile, k.PublicKey)
			}
			if kt == signing.Ed25519 && (len(pubFile) != 44 || !bytes.HasPrefix(pubFile, []byte("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"))) {
				t.Errorf("ED25519 .pub is %x; want the 44-byte RFC 8410 SPKI", pubFile)
			}

			got, err := s.PublicKey(ctx, k.ID)
			if err != nil || got.ID != k.ID || got.Type != kt || !bytes.Equal(got.PublicKey, k.PublicKey) {
				t.Fatalf("PublicKey = %+v, %v; want %+v", got, err, k)
			}
			ids, err := s.ListKeys(ctx, kt)
			if err != nil || !contains(ids, k.ID) {
				t.Fatalf("ListKeys(%s) = %v, %v; want it to hold %s", kt, ids, err, k.ID)
			}

			// The dev server returns a high s half of the time, as an HSM
			// may; every signature must come back low-S and valid.
			for i := range 40 {
				data := testData(kt, i)
				sig, err := s.Sign(ctx, k.ID, data)
				if err != nil {
					t.Fatalf("Sign #%d: %v", i, err)
				}
				verify(t, k, data, sig)
			}
		})
	}
	if t.Failed() {
		return
	}
	// Keys of one type are not listed under the other.
	for _, kt := range keyTypes {
		ids, _ := s.ListKeys(ctx, kt)
		if len(ids) != 1 {
			t.Errorf("ListKeys(%s) = %v; want one key", kt, ids)
		}
	}
	if err := s.Health(ctx); err != nil {
		t.Errorf("Health = %v", err)
	}
	checkNoSecrets(t, e, logs.String())
}

// checkNoSecrets fails if text holds any key blob of the keystore, in raw,
// hex or base64 form.
func checkNoSecrets(t testing.TB, e *env, text string) {
	t.Helper()
	for _, kt := range keyTypes {
		files, _ := filepath.Glob(filepath.Join(e.ksDir, string(kt), "*.key"))
		for _, f := range files {
			blob, _ := os.ReadFile(f)
			for _, form := range []string{string(blob[8:24]), hex.EncodeToString(blob[8:24]), base64.StdEncoding.EncodeToString(blob[9:24])[:16]} {
				if strings.Contains(text, form) {
					t.Errorf("a key blob appears in the text:\n%s", text)
				}
			}
		}
	}
}

func TestSigner_SignMany(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.startDev(t, "--latency", "1ms")
	o := e.options(dev.addr)
	o.MaxConcurrency = 8
	s := newSigner(t, o)
	ctx := t.Context()

	keys := map[signing.KeyType]signing.Key{}
	for _, kt := range keyTypes {
		k, err := s.GenerateKey(ctx, kt)
		if err != nil {
			t.Fatal(err)
		}
		keys[kt] = k
	}
	const n = 64
	unknown, badDigest := 5, 6 // badDigest: a SECP256K1 request
	reqs := make([]signing.SignRequest, n)
	for i := range reqs {
		kt := keyTypes[i%2]
		reqs[i] = signing.SignRequest{KeyID: keys[kt].ID, Data: testData(kt, i)}
	}
	reqs[unknown].KeyID = "00000000-0000-4000-8000-000000000000"
	reqs[badDigest].Data = reqs[badDigest].Data[:31]
	res, err := s.SignMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != n {
		t.Fatalf("SignMany returned %d results for %d requests", len(res), n)
	}
	for i, r := range res {
		switch i {
		case unknown:
			if !errors.Is(r.Err, signing.ErrUnknownKey) {
				t.Errorf("result %d: %v; want ErrUnknownKey", i, r.Err)
			}
		case badDigest:
			if !errors.Is(r.Err, signing.ErrBadInput) {
				t.Errorf("result %d: %v; want ErrBadInput", i, r.Err)
			}
		default:
			if r.Err != nil {
				t.Fatalf("result %d: %v", i, r.Err)
			}
			verify(t, keys[keyTypes[i%2]], reqs[i].Data, r.Signature)
		}
	}

	if res, err := s.SignMany(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("SignMany(nil) = %v, %v; want no results", res, err)
	}

	// A batch cut short by its context returns the context's error only.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	res, err = s.SignMany(cctx, reqs)
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Errorf("SignMany(cancelled) = %d results, %v; want none and context.Canceled", len(res), err)
	}
}

func TestSigner_Errors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.startDev(t)
	var logs lockedBuffer
	o := e.options(dev.addr)
	o.Logger = logTo(&logs)
	s := newSigner(t, o)
	ctx := t.Context()
	secp, err := s.GenerateKey(ctx, signing.Secp256k1)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := s.GenerateKey(ctx, signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	digest := testData(signing.Secp256k1, 0)

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"unknown key id", func() error {
			_, err := s.Sign(ctx, "00000000-0000-4000-8000-000000000000", digest)
			return err
		}, signing.ErrUnknownKey},
		{"malformed key id", func() error { _, err := s.Sign(ctx, "../../etc/passwd", digest); return err }, signing.ErrUnknownKey},
		{"public key of unknown id", func() error { _, err := s.PublicKey(ctx, "nope"); return err }, signing.ErrUnknownKey},
		{"digest of 31 bytes", func() error { _, err := s.Sign(ctx, secp.ID, digest[:31]); return err }, signing.ErrBadInput},
		{"digest of 33 bytes", func() error { _, err := s.Sign(ctx, secp.ID, append(digest, 0)); return err }, signing.ErrBadInput},
		{"empty digest", func() error { _, err := s.Sign(ctx, secp.ID, nil); return err }, signing.ErrBadInput},
		{"generate unknown type", func() error { _, err := s.GenerateKey(ctx, "RSA"); return err }, signing.ErrUnsupportedKey},
		{"list unknown type", func() error { _, err := s.ListKeys(ctx, "secp256k1"); return err }, signing.ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v; want %v", err, tt.want)
			}
			if errors.Is(err, signing.ErrUnavailable) {
				t.Errorf("err = %v matches ErrUnavailable", err)
			}
		})
	}

	// Ed25519 signs any message, the empty one included.
	if sig, err := s.Sign(ctx, ed.ID, nil); err != nil {
		t.Errorf("Sign(ED25519, empty) = %v", err)
	} else {
		verify(t, ed, nil, sig)
	}

	// A blob the HSM cannot unwrap: a clear, permanent error, not retried,
	// that shows neither the blob nor the data.
	t.Run("tampered blob", func(t *testing.T) {
		path := filepath.Join(e.ksDir, string(signing.Secp256k1), secp.ID+".key")
		blob, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		blob[len(blob)-1] ^= 1
		if err := os.WriteFile(path, blob, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = s.Sign(ctx, secp.ID, digest)
		var re *grep11.RPCError
		if !errors.As(err, &re) || re.Code != codes.InvalidArgument || re.CKR != pb.CKRWrappedKeyInvalid || re.Attempts != 1 {
			t.Fatalf("err = %#v; want an InvalidArgument RPCError with CKR_WRAPPED_KEY_INVALID after one attempt", err)
		}
		if errors.Is(err, signing.ErrUnavailable) {
			t.Errorf("err = %v matches ErrUnavailable", err)
		}
		checkNoSecrets(t, e, err.Error())
		if strings.Contains(err.Error(), hex.EncodeToString(digest)) || strings.Contains(err.Error(), string(digest)) {
			t.Errorf("the signed data appears in %q", err)
		}
	})
	checkNoSecrets(t, e, logs.String())
}

func TestSigner_Retries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.startDev(t, "--failure-rate", "0.5", "--seed", "7")
	o := e.options(dev.addr)
	o.Retries = 20 // a call fails for good with probability 2^-21
	o.RetryBackoff = time.Millisecond
	s := newSigner(t, o)
	ctx := t.Context()
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health = %v", err)
	}
	for _, kt := range keyTypes {
		k, err := s.GenerateKey(ctx, kt)
		if err != nil {
			t.Fatalf("GenerateKey(%s): %v", kt, err)
		}
		reqs := make([]signing.SignRequest, 50)
		for i := range reqs {
			reqs[i] = signing.SignRequest{KeyID: k.ID, Data: testData(kt, i)}
			if i < 10 {
				sig, err := s.Sign(ctx, k.ID, reqs[i].Data)
				if err != nil {
					t.Fatalf("Sign #%d: %v", i, err)
				}
				verify(t, k, reqs[i].Data, sig)
			}
		}
		res, err := s.SignMany(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("SignMany result %d: %v", i, r.Err)
			}
			verify(t, k, reqs[i].Data, r.Signature)
		}
	}
}

func TestSigner_RetriesExhausted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	masterKey := filepath.Join(t.TempDir(), "master.key")
	good := e.startDev(t, "--master-key-file", masterKey)
	keys := map[signing.KeyType]signing.Key{}
	g := newSigner(t, e.options(good.addr))
	for _, kt := range keyTypes {
		k, err := g.GenerateKey(t.Context(), kt)
		if err != nil {
			t.Fatal(err)
		}
		keys[kt] = k
	}

	// A server with the same master key that fails every call.
	bad := e.startDev(t, "--master-key-file", masterKey, "--failure-rate", "1")
	o := e.options(bad.addr)
	o.Retries = 3
	o.RetryBackoff = time.Millisecond
	o.StartupTimeout = 100 * time.Millisecond
	if _, err := grep11.New(t.Context(), withFailFast(o)); !errors.Is(err, signing.ErrUnavailable) {
		t.Fatalf("New(FailFast) = %v; want ErrUnavailable", err)
	}
	s := newSigner(t, o) // not FailFast: starts, reporting unhealthy
	ctx := t.Context()
	if err := s.Health(ctx); !errors.Is(err, signing.ErrUnavailable) {
		t.Errorf("Health = %v; want ErrUnavailable", err)
	}
	for _, kt := range keyTypes {
		_, err := s.Sign(ctx, keys[kt].ID, testData(kt, 0))
		var re *grep11.RPCError
		if !errors.Is(err, signing.ErrUnavailable) || !errors.As(err, &re) || re.Code != codes.Unavailable || re.Attempts != 4 {
			t.Errorf("Sign(%s) = %v; want ErrUnavailable after 4 attempts", kt, err)
		}
	}
	res, err := s.SignMany(ctx, []signing.SignRequest{
		{KeyID: keys[signing.Ed25519].ID, Data: []byte("a")},
		{KeyID: keys[signing.Secp256k1].ID, Data: testData(signing.Secp256k1, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, signing.ErrUnavailable) {
			t.Errorf("SignMany result %d: %v; want ErrUnavailable", i, r.Err)
		}
	}
	if _, err := s.GenerateKey(ctx, signing.Ed25519); !errors.Is(err, signing.ErrUnavailable) {
		t.Errorf("GenerateKey = %v; want ErrUnavailable", err)
	}

	// The working server signs with the same keys (a shared master key).
	for _, kt := range keyTypes {
		data := testData(kt, 2)
		sig, err := g.Sign(ctx, keys[kt].ID, data)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, keys[kt], data, sig)
	}
}

func withFailFast(o grep11.Options) grep11.Options {
	o.FailFast = true
	return o
}

func TestNew_ServerDownAtStartup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	var logs lockedBuffer
	o := e.options(addr)
	o.StartupTimeout = 200 * time.Millisecond
	o.RetryBackoff = 10 * time.Millisecond
	o.Logger = logTo(&logs)

	if _, err := grep11.New(t.Context(), withFailFast(o)); !errors.Is(err, signing.ErrUnavailable) {
		t.Fatalf("New(FailFast) with the server down = %v; want ErrUnavailable", err)
	}
	s := newSigner(t, o)
	if err := s.Health(t.Context()); !errors.Is(err, signing.ErrUnavailable) {
		t.Fatalf("Health with the server down = %v; want ErrUnavailable", err)
	}
	if !strings.Contains(logs.String(), "not healthy at startup") {
		t.Errorf("no startup warning logged:\n%s", logs.String())
	}

	e.startDev(t, "--listen", addr)
	ctx, cancel := context.WithTimeout(t.Context(), healthBound)
	defer cancel()
	for {
		err := s.Health(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not healthy %v after the server started: %v", healthBound, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a bounded readiness check
	}
	k, err := s.GenerateKey(t.Context(), signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign(t.Context(), k.ID, []byte("back"))
	if err != nil {
		t.Fatal(err)
	}
	verify(t, k, []byte("back"), sig)
}

func TestSigner_Deadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	masterKey := filepath.Join(t.TempDir(), "master.key")
	fast := e.startDev(t, "--master-key-file", masterKey)
	k, err := newSigner(t, e.options(fast.addr)).GenerateKey(t.Context(), signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	slow := e.startDev(t, "--master-key-file", masterKey, "--latency", "1m")

	t.Run("caller deadline", func(t *testing.T) {
		t.Parallel()
		o := e.options(slow.addr)
		o.StartupTimeout = 100 * time.Millisecond
		o.CallTimeout = time.Hour
		s := newSigner(t, o)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := s.Sign(ctx, k.ID, []byte("x"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sign = %v; want context.DeadlineExceeded", err)
		}
		ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		if err := s.Health(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Health = %v; want context.DeadlineExceeded", err)
		}
		ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		reqs := []signing.SignRequest{{KeyID: k.ID, Data: []byte("a")}, {KeyID: k.ID, Data: []byte("b")}}
		if res, err := s.SignMany(ctx, reqs); !errors.Is(err, context.DeadlineExceeded) || res != nil {
			t.Fatalf("SignMany = %d results, %v; want none and context.DeadlineExceeded", len(res), err)
		}
	})
	t.Run("call timeout", func(t *testing.T) {
		t.Parallel()
		o := e.options(slow.addr)
		o.StartupTimeout = 100 * time.Millisecond
		o.CallTimeout = 100 * time.Millisecond
		o.Retries = 2
		o.RetryBackoff = time.Millisecond
		s := newSigner(t, o)
		_, err := s.Sign(t.Context(), k.ID, []byte("x"))
		var re *grep11.RPCError
		if !errors.As(err, &re) || re.Code != codes.DeadlineExceeded || re.Attempts != 3 || !errors.Is(err, signing.ErrUnavailable) {
			t.Fatalf("Sign = %v; want DeadlineExceeded after 3 attempts, matching ErrUnavailable", err)
		}
	})
}

func TestSigner_Health(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, mechanisms string
		want             string
	}{
		{"both", "0x1040,0x1041,0x8001001C", ""},
		{"no Ed25519", "0x1040,0x1041", "GREP11 server does not support ED25519_SHA512"},
		{"no ECDSA", "0x1040,0x8001001C", "GREP11 server does not support ECDSA"},
		{"neither", "0x1040", "GREP11 server does not support ECDSA\nGREP11 server does not support ED25519_SHA512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dev := e.startDev(t, "--mechanisms", tt.mechanisms)
			o := e.options(dev.addr)
			_, ffErr := grep11.New(t.Context(), withFailFast(o))
			s := newSigner(t, o) // a missing mechanism is not retried at startup
			err := s.Health(t.Context())
			if tt.want == "" {
				if err != nil || ffErr != nil {
					t.Fatalf("Health = %v, New(FailFast) = %v; want nil", err, ffErr)
				}
				return
			}
			var me *grep11.MechanismError
			if err == nil || err.Error() != tt.want || !errors.As(err, &me) || errors.Is(err, signing.ErrUnavailable) {
				t.Fatalf("Health = %v; want %q", err, tt.want)
			}
			if ffErr == nil || ffErr.Error() != tt.want {
				t.Errorf("New(FailFast) = %v; want %q", ffErr, tt.want)
			}
		})
	}
}

func TestSigner_Endpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tcp := e.startDev(t)
	_, port, _ := strings.Cut(tcp.addr, ":")
	sock := filepath.Join(t.TempDir(), "grep11.sock")
	unix := e.startDev(t, "--listen", "unix:"+sock)
	if unix.addr != "unix:"+sock {
		t.Fatalf("unix listener reports %q; want unix:%s", unix.addr, sock)
	}
	for _, endpoint := range []string{
		tcp.addr,
		"localhost:" + port,
		"dns:///localhost:" + port,
		"dns:///127.0.0.1:" + port,
		"unix:" + sock,
		"unix://" + sock,
	} {
		t.Run(endpoint, func(t *testing.T) {
			t.Parallel()
			s := newSigner(t, withFailFast(e.options(endpoint)))
			k, err := s.GenerateKey(t.Context(), signing.Secp256k1)
			if err != nil {
				t.Fatal(err)
			}
			data := testData(signing.Secp256k1, 0)
			sig, err := s.Sign(t.Context(), k.ID, data)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, k, data, sig)
		})
	}
	t.Run("no port", func(t *testing.T) {
		t.Parallel()
		var logs lockedBuffer
		o := e.options("localhost")
		o.StartupTimeout = 50 * time.Millisecond
		o.Logger = logTo(&logs)
		newSigner(t, o)
		if !strings.Contains(logs.String(), "no port; using 443") || !strings.Contains(logs.String(), "localhost:443") {
			t.Errorf("no warning about the default port:\n%s", logs.String())
		}
	})
}

func TestSigner_TLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.startDev(t)
	tests := []struct {
		name   string
		mutate func(*grep11.Options)
	}{
		{"no client certificate", func(o *grep11.Options) { o.ClientCert, o.ClientKey = nil, nil }},
		{"client certificate from another CA", func(o *grep11.Options) {
			o.ClientCert, o.ClientKey = []byte(e.pki.Foreign.CertPEM), []byte(e.pki.Foreign.KeyPEM)
		}},
		{"server not trusted", func(o *grep11.Options) { o.CACert = []byte(e.pki.ForeignCA.CertPEM) }},
		{"server name mismatch", func(o *grep11.Options) { o.ServerName = "grep11.example" }},
		{"system roots", func(o *grep11.Options) { o.CACert = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := e.options(dev.addr)
			o.StartupTimeout = 100 * time.Millisecond
			o.Retries = -1
			tt.mutate(&o)
			if _, err := grep11.New(t.Context(), withFailFast(o)); !errors.Is(err, signing.ErrUnavailable) {
				t.Fatalf("New(FailFast) = %v; want ErrUnavailable", err)
			}
		})
	}
}

func TestNew_Errors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name   string
		mutate func(*grep11.Options)
		want   string
	}{
		{"no keystore", func(o *grep11.Options) { o.Keystore = nil }, "keystore is required"},
		{"no endpoint", func(o *grep11.Options) { o.Endpoint = "" }, "endpoint"},
		{"bad endpoint", func(o *grep11.Options) { o.Endpoint = "https://grep11:9876" }, "unsupported scheme"},
		{"CA not PEM", func(o *grep11.Options) { o.CACert = []byte("not pem") }, "no PEM certificate"},
		{"certificate without key", func(o *grep11.Options) { o.ClientKey = nil }, "together"},
		{"key without certificate", func(o *grep11.Options) { o.ClientCert = nil }, "together"},
		{"mismatched key", func(o *grep11.Options) { o.ClientKey = []byte(e.pki.Stranger.KeyPEM) }, "client certificate and key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := e.options("127.0.0.1:9")
			tt.mutate(&o)
			s, err := grep11.New(t.Context(), o)
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v; want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error shows key material: %v", err)
			}
		})
	}
}

func TestSigner_Close(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.startDev(t)
	s, err := grep11.New(t.Context(), e.options(dev.addr))
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.GenerateKey(t.Context(), signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Sign(t.Context(), k.ID, []byte("x")); !errors.Is(err, grep11.ErrClosed) {
		t.Errorf("Sign after Close = %v; want ErrClosed", err)
	}
	if err := s.Health(t.Context()); !errors.Is(err, grep11.ErrClosed) {
		t.Errorf("Health after Close = %v; want ErrClosed", err)
	}
	if _, err := s.PublicKey(t.Context(), k.ID); !errors.Is(err, grep11.ErrClosed) {
		t.Errorf("PublicKey after Close = %v; want ErrClosed", err)
	}
	if _, err := s.ListKeys(t.Context(), signing.Ed25519); !errors.Is(err, grep11.ErrClosed) {
		t.Errorf("ListKeys after Close = %v; want ErrClosed", err)
	}
	if _, err := s.SignMany(t.Context(), []signing.SignRequest{{KeyID: k.ID}}); !errors.Is(err, grep11.ErrClosed) {
		t.Errorf("SignMany after Close = %v; want ErrClosed", err)
	}
}

// TestSigner_Concurrent runs every method from many goroutines at once,
// for the race detector.
func TestSigner_Concurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dev := e.startDev(t, "--failure-rate", "0.1")
	o := e.options(dev.addr)
	o.MaxConcurrency = 4
	o.Retries = 20
	o.RetryBackoff = time.Millisecond
	s := newSigner(t, o)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			kt := keyTypes[g%2]
			k, err := s.GenerateKey(ctx, kt)
			if err != nil {
				errs <- err
				return
			}
			reqs := make([]signing.SignRequest, 20)
			for i := range reqs {
				reqs[i] = signing.SignRequest{KeyID: k.ID, Data: testData(kt, i)}
			}
			for range 3 {
				if _, err := s.Sign(ctx, k.ID, reqs[0].Data); err != nil {
					errs <- err
				}
				res, err := s.SignMany(ctx, reqs)
				if err != nil {
					errs <- err
					continue
				}
				for _, r := range res {
					if r.Err != nil {
						errs <- r.Err
					}
				}
				if err := s.Health(ctx); err != nil {
					errs <- err
				}
				if _, err := s.ListKeys(ctx, kt); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
