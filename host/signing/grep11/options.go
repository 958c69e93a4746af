package grep11

import (
	"log/slog"
	"time"

	"github.com/osohost/osohost/host/signing"
)

// Defaults for the zero values of [Options].
const (
	DefaultCallTimeout    = 10 * time.Second
	DefaultMaxConcurrency = 32
	DefaultRetries        = 3
	DefaultRetryBackoff   = 50 * time.Millisecond
	DefaultStartupTimeout = 15 * time.Second
	// maxRetryBackoff caps the exponential backoff between attempts.
	maxRetryBackoff = 2 * time.Second
	// maxConnectBackoff caps gRPC's delay between reconnection attempts,
	// so that a server that comes back is used within a few seconds.
	maxConnectBackoff = 5 * time.Second
	// maxRecvMsgSize bounds a reply from the server.
	maxRecvMsgSize = 1 << 20
)

// Keystore stores key pairs: the HSM-wrapped private key blob and the
// public key of each, by id and type. host/signing/keystore implements it.
// Implementations are safe for concurrent use.
type Keystore interface {
	// Put stores a new key pair.
	Put(t signing.KeyType, id string, blob, spki []byte) error
	// Get returns the key pair with that id; an error matching
	// signing.ErrUnknownKey when there is none.
	Get(id string) (t signing.KeyType, blob, spki []byte, err error)
	// List returns the ids of the complete key pairs of type t.
	List(t signing.KeyType) ([]string, error)
}

// Options configure [New]. The zero value of each field is usable except
// for Endpoint and Keystore, which are required.
type Options struct {
	// Endpoint is the GREP11 gRPC target: "host:port", "[v6]:port",
	// "dns:///host:port", "unix:/path" or "unix:///path". A host without a
	// port gets 443, as the framework's gRPC client did, and a warning is
	// logged.
	Endpoint string
	// ServerName is the name the server's certificate must carry. Empty
	// means the host of Endpoint ("localhost" for a unix socket).
	ServerName string
	// CACert holds PEM certificates of the CAs the server's certificate
	// must chain to. Empty means the system's roots.
	CACert []byte
	// ClientCert is the PEM client certificate chain presented to the
	// server, and ClientKey its PEM private key. Both or neither.
	ClientCert, ClientKey []byte

	// Keystore holds the wrapped keys. Required.
	Keystore Keystore

	// CallTimeout bounds each attempt of each call; the caller's context
	// can only shorten it. Zero means DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxConcurrency bounds the calls in flight to the server at once,
	// over all callers. Zero means DefaultMaxConcurrency.
	MaxConcurrency int
	// Retries is how many times a call is retried after a transient
	// failure (Unavailable, ResourceExhausted, an attempt's own deadline,
	// or a server error marked retryable). Zero means DefaultRetries;
	// negative means none.
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles for
	// each further one, up to 2s, with jitter. Zero means
	// DefaultRetryBackoff.
	RetryBackoff time.Duration

	// StartupTimeout bounds how long [New] keeps trying to reach a healthy
	// server. Zero means DefaultStartupTimeout.
	StartupTimeout time.Duration
	// FailFast makes [New] fail when the server is not healthy within
	// StartupTimeout, as the framework did. By default New returns a
	// Signer whose Health reports the problem until the server is back.
	FailFast bool

	// Logger receives the start-up outcome and warnings; never key
	// material or signed data. Nil discards them.
	Logger *slog.Logger
}

// withDefaults returns o with zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.StartupTimeout <= 0 {
		o.StartupTimeout = DefaultStartupTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
