package grep11

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"

	"github.com/osohost/osohost/host/signing"
	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
)

// Signer is the GREP11 signing backend. It is safe for concurrent use;
// all calls share one gRPC connection, with at most
// [Options.MaxConcurrency] of them in flight.
type Signer struct {
	opts   Options // with defaults
	conn   *grpc.ClientConn
	client pb.CryptoClient
	sem    chan struct{} // one token per call in flight
	done   chan struct{} // closed by Close
	once   sync.Once
}

var _ signing.Signer = (*Signer)(nil)

// MechanismError is the [Signer.Health] error for a mechanism the server
// does not offer. Its text is the framework's.
type MechanismError struct {
	Mechanism string // "ECDSA" or "ED25519_SHA512"
}

func (e *MechanismError) Error() string { return "GREP11 server does not support " + e.Mechanism }

// New connects to the GREP11 server at opts.Endpoint and returns a Signer.
//
// It waits up to opts.StartupTimeout (or until ctx ends) for the server to
// answer a health check, retrying with backoff. If the server is still not
// healthy, New fails when opts.FailFast is set; otherwise it logs a
// warning and returns the Signer anyway: [Signer.Health] reports the
// problem, calls fail with errors matching signing.ErrUnavailable, and the
// connection is retried in the background. New fails at once on invalid
// options (endpoint, certificates, missing keystore) and when ctx ends.
func New(ctx context.Context, opts Options) (*Signer, error) {
	o := opts.withDefaults()
	if o.Keystore == nil {
		return nil, errors.New("grep11: a keystore is required")
	}
	target, defaulted, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	if defaulted {
		o.Logger.Warn("grep11 endpoint has no port; using 443", "endpoint", target)
	}
	tlsConf, err := tlsConfig(o)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(credentials.NewTLS(tlsConf)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   maxConnectBackoff,
			},
			MinConnectTimeout: o.CallTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
		grpc.WithUserAgent("osohost"),
	)
	if err != nil {
		return nil, fmt.Errorf("grep11: %w", err)
	}
	s := &Signer{
		opts:   o,
		conn:   conn,
		client: pb.NewCryptoClient(conn),
		sem:    make(chan struct{}, o.MaxConcurrency),
		done:   make(chan struct{}),
	}
	conn.Connect()
	if err := s.awaitHealthy(ctx); err != nil {
		if o.FailFast || ctx.Err() != nil {
			s.Close()
			return nil, err
		}
		o.Logger.Warn("grep11 server not healthy at startup; reporting unhealthy until it is",
			"endpoint", target, "err", err)
		return s, nil
	}
	o.Logger.Info("grep11 server ready", "endpoint", target)
	return s, nil
}

// awaitHealthy runs health checks until one passes, one fails for a reason
// retrying cannot fix, or StartupTimeout passes. It returns the last
// check's error.
func (s *Signer) awaitHealthy(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, s.opts.StartupTimeout)
	defer cancel()
	var last error
	for round := 1; ; round++ {
		err := s.Health(sctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return err
		case sctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
			// Cut short by the startup deadline: the previous check, if
			// any, says more.
			if last == nil {
				last = fmt.Errorf("grep11: no answer from the server within %v: %w", s.opts.StartupTimeout, signing.ErrUnavailable)
			}
			return last
		}
		last = err
		if !errors.Is(err, signing.ErrUnavailable) || s.sleep(sctx, s.backoff(round)) != nil {
			return last
		}
	}
}

// tlsConfig builds the client's TLS configuration: TLS 1.2 or later, the
// server verified against CACert, the client certificate presented.
func tlsConfig(o Options) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if len(o.CACert) > 0 {
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(o.CACert) {
			return nil, errors.New("grep11: the CA certificate holds no PEM certificate")
		}
	}
	switch {
	case len(o.ClientCert) > 0 && len(o.ClientKey) > 0:
		cert, err := tls.X509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("grep11: client certificate and key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	case len(o.ClientCert) > 0 || len(o.ClientKey) > 0:
		return nil, errors.New("grep11: the client certificate and key must be given together")
	}
	return c, nil
}

// GenerateKey asks the HSM for a new key pair with the framework's
// templates, stores the wrapped private key and the public key in the
// keystore under a new random UUID, and returns the key. The public key of
// an ED25519 key is the RFC 8410 SubjectPublicKeyInfo rebuilt from the
// HSM's CKA_EC_POINT; that of a SECP256K1 key is the HSM's.
func (s *Signer) GenerateKey(ctx context.Context, t signing.KeyType) (signing.Key, error) {
	_, curve, err := mechanism(t)
	if err != nil {
		return signing.Key{}, err
	}
	req := generateRequest(curve)
	resp, err := call(s, ctx, "GenerateKeyPair", func(ctx context.Context) (*pb.GenerateKeyPairResponse, error) {
		return s.client.GenerateKeyPair(ctx, req)
	})
	if err != nil {
		return signing.Key{}, err
	}
	blob := resp.GetPrivKeyBytes()
	if kb := resp.GetPrivKey().GetKeyBlobs(); len(blob) == 0 && len(kb) == 1 {
		blob = kb[0]
	}
	if len(blob) == 0 {
		return signing.Key{}, errors.New("grep11: GenerateKeyPair returned no private key")
	}
	spki, err := publicKeyOf(t, resp)
	if err != nil {
		return signing.Key{}, err
	}
	id := newID()
	if err := s.opts.Keystore.Put(t, id, blob, spki); err != nil {
		return signing.Key{}, fmt.Errorf("grep11: store key: %w", err)
	}
	return signing.Key{ID: id, Type: t, PublicKey: spki}, nil
}

// ListKeys returns the sorted ids of the keystore's complete key pairs of
// type t.
func (s *Signer) ListKeys(ctx context.Context, t signing.KeyType) ([]string, error) {
	if _, _, err := mechanism(t); err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ids, err := s.opts.Keystore.List(t)
	if err != nil {
		return nil, fmt.Errorf("grep11: list keys: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// PublicKey returns the key with that id, or an error matching
// signing.ErrUnknownKey. PublicKey is the SubjectPublicKeyInfo DER,
// without any bytes an HSM appended to it in old keystores.
func (s *Signer) PublicKey(ctx context.Context, id string) (signing.Key, error) {
	if err := s.check(ctx); err != nil {
		return signing.Key{}, err
	}
	t, _, spki, err := s.lookup(id)
	if err != nil {
		return signing.Key{}, err
	}
	return signing.Key{ID: id, Type: t, PublicKey: bytes.Clone(storedSPKI(spki))}, nil
}

// Sign signs data with the key id in the HSM. A SECP256K1 key signs a
// 32-byte digest (other lengths: signing.ErrBadInput) and returns r||s
// with s normalised to low-S; an ED25519 key signs the message itself.
// Errors match signing.ErrUnknownKey, signing.ErrBadInput,
// signing.ErrUnavailable (transient, see [RPCError]) or ctx's error.
func (s *Signer) Sign(ctx context.Context, id string, data []byte) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	t, blob, _, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	return s.sign(ctx, t, blob, data)
}

// SignMany signs every request with up to MaxConcurrency SignSingle calls
// in flight over the one connection, and returns one result per request
// in order. Each distinct key is read from the keystore once. If ctx ends
// before the batch is done, SignMany returns ctx's error and no results,
// so that no signature escapes a batch that failed as a whole.
func (s *Signer) SignMany(ctx context.Context, reqs []signing.SignRequest) ([]signing.SignResult, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	type key struct {
		t    signing.KeyType
		blob []byte
		err  error
	}
	keys := make(map[string]key)
	for _, r := range reqs {
		if _, ok := keys[r.KeyID]; !ok {
			var k key
			k.t, k.blob, _, k.err = s.lookup(r.KeyID)
			keys[r.KeyID] = k
		}
	}
	results := make([]signing.SignResult, len(reqs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(reqs), s.opts.MaxConcurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				if ctx.Err() != nil {
					return
				}
				res := &results[i]
				if k := keys[reqs[i].KeyID]; k.err != nil {
					res.Err = k.err
				} else {
					res.Signature, res.Err = s.sign(ctx, k.t, k.blob, reqs[i].Data)
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("grep11: sign batch: %w", context.Cause(ctx))
	}
	return results, nil
}

// sign makes one signature with a wrapped key of type t.
func (s *Signer) sign(ctx context.Context, t signing.KeyType, blob, data []byte) ([]byte, error) {
	mech, _, err := mechanism(t)
	if err != nil {
		return nil, err
	}
	if t == signing.Secp256k1 && len(data) != digestSize {
		return nil, fmt.Errorf("grep11: a SECP256K1 key signs a %d-byte digest, not %d bytes: %w", digestSize, len(data), signing.ErrBadInput)
	}
	req := &pb.SignSingleRequest{
		Mech:    &pb.Mechanism{Mechanism: mech},
		Data:    data,
		PrivKey: &pb.KeyBlob{KeyBlobs: [][]byte{blob}},
	}
	resp, err := call(s, ctx, "SignSingle", func(ctx context.Context) (*pb.SignSingleResponse, error) {
		return s.client.SignSingle(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	sig := resp.GetSignature()
	if t == signing.Secp256k1 {
		if err := lowS(sig); err != nil {
			return nil, err
		}
	} else if len(sig) != signatureSize {
		return nil, fmt.Errorf("grep11: SignSingle returned a %d-byte Ed25519 signature, want %d", len(sig), signatureSize)
	}
	return sig, nil
}

// lookup reads a key pair from the keystore.
func (s *Signer) lookup(id string) (signing.KeyType, []byte, []byte, error) {
	t, blob, spki, err := s.opts.Keystore.Get(id)
	switch {
	case errors.Is(err, signing.ErrUnknownKey) || errors.Is(err, fs.ErrNotExist):
		return "", nil, nil, fmt.Errorf("grep11: %w", signing.ErrUnknownKey)
	case err != nil:
		return "", nil, nil, fmt.Errorf("grep11: read key: %w", err)
	}
	return t, blob, spki, nil
}

// Health checks that the server answers GetMechanismList and offers both
// signing mechanisms. It returns nil; an error matching
// signing.ErrUnavailable when the server cannot be reached (see
// [RPCError]); or one [*MechanismError] per missing mechanism (ECDSA
// first, then ED25519_SHA512), joined with errors.Join, whose texts are
// the framework's.
func (s *Signer) Health(ctx context.Context) error {
	resp, err := call(s, ctx, "GetMechanismList", func(ctx context.Context) (*pb.GetMechanismListResponse, error) {
		return s.client.GetMechanismList(ctx, &pb.GetMechanismListRequest{})
	})
	if err != nil {
		return err
	}
	var errs []error
	if !slices.Contains(resp.GetMechs(), pb.MechECDSA) {
		errs = append(errs, &MechanismError{Mechanism: "ECDSA"})
	}
	if !slices.Contains(resp.GetMechs(), pb.MechED25519SHA512) {
		errs = append(errs, &MechanismError{Mechanism: "ED25519_SHA512"})
	}
	return errors.Join(errs...)
}

// Close closes the connection. Calls in flight fail; later calls return
// [ErrClosed]. Close is idempotent.
func (s *Signer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.conn.Close()
	})
	return err
}

// call runs one GREP11 call with a deadline on each attempt, retrying
// transient failures with backoff up to Options.Retries times. Each
// attempt holds one of the MaxConcurrency tokens.
func call[T any](s *Signer, ctx context.Context, method string, f func(context.Context) (T, error)) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		if err := s.acquire(ctx); err != nil {
			return zero, fmt.Errorf("grep11: %s: %w", method, err)
		}
		actx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		resp, err := f(actx)
		cancel()
		<-s.sem
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("grep11: %s: %w", method, context.Cause(ctx))
		}
		e := newRPCError(method, err, attempt)
		if !e.transient() || attempt > s.opts.Retries {
			return zero, e
		}
		if e.Code == codes.Unavailable && s.conn.GetState() == connectivity.TransientFailure {
			s.conn.ResetConnectBackoff() // reconnect now rather than after gRPC's own backoff
		}
		if err := s.sleep(ctx, s.backoff(attempt)); err != nil {
			return zero, fmt.Errorf("grep11: %s: %w", method, err)
		}
	}
}

// check returns ErrClosed once the Signer is closed, else ctx's error.
func (s *Signer) check(ctx context.Context) error {
	select {
	case <-s.done:
		return ErrClosed
	default:
		return context.Cause(ctx)
	}
}

// acquire takes a token for a call in flight.
func (s *Signer) acquire(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-s.done:
		return ErrClosed
	}
}

// backoff returns the wait before retry n (1-based): RetryBackoff doubled
// n-1 times, capped, with equal jitter.
func (s *Signer) backoff(n int) time.Duration {
	d := s.opts.RetryBackoff << min(n-1, 16)
	if d <= 0 || d > maxRetryBackoff {
		d = maxRetryBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d, or until ctx ends or the Signer is closed.
func (s *Signer) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-s.done:
		return ErrClosed
	}
}
