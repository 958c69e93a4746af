// Package signing holds the keys plugins sign with and the backends that
// use them: "software" (keys wrapped with AES-256-GCM in a keystore
// directory) and "grep11" (an HSM reached over GREP11). It knows nothing of
// WebAssembly or HTTP: host/hostcall turns guest calls into calls of a
// [Signer], and every signature passes through the audit log ([Audited]).
//
// # Audit guarantee
//
// A signature reaches the client (a response) or the state only after its
// audit record is durable; a signature made in a call that fails is
// recorded too, without waiting. How:
//
//   - Outside a request (no [AuditBatch] in the context: `osohost call`,
//     a plugin's status check during a reload, tests), [Audited] appends
//     each record and returns the signature only once it is durable.
//   - In a request, the host puts an [AuditBatch] in the guest call's
//     context ([WithAuditBatch]); [Audited] adds the records to it and
//     returns the signatures at once. The request's transaction
//     ([AuditedTxn]) flushes the batch when the call succeeded, before it
//     commits the state and before the response is written, so all the
//     request's records share group commits with concurrent requests and
//     no plugin instance waits for an fsync. When the call or the commit
//     fails, its records are handed to the log without waiting
//     ([AuditBatch.Enqueue]; bounded, and committed before the log
//     closes).
//
// What a failing audit log costs: no response and no state for the
// request (500), and later requests fail the same way until the host
// reopens the log; records of failed calls that the log refuses are
// logged as dropped.
//
// Keystores use the framework's layout, <dir>/<TYPE>/<uuid>.key|.pub, where
// .key is an opaque wrapped blob and .pub the SubjectPublicKeyInfo DER.
package signing

import (
	"context"
	"errors"
)

// KeyType is a key algorithm, spelled as the keystore directory names it.
type KeyType string

// Key types.
const (
	// Secp256k1 signs a caller-supplied 32-byte digest with ECDSA over
	// secp256k1; the signature is r||s (64 bytes), normalised to low-S.
	Secp256k1 KeyType = "SECP256K1"
	// Ed25519 signs the message itself (pure Ed25519); 64-byte signatures.
	Ed25519 KeyType = "ED25519"
)

// Errors every backend reports with errors.Is-comparable sentinels.
var (
	ErrUnknownKey     = errors.New("signing: unknown key id")
	ErrUnsupportedKey = errors.New("signing: unsupported key type")
	ErrBadInput       = errors.New("signing: invalid data for this key type") // e.g. a SECP256K1 digest that is not 32 bytes
	ErrNotAllowed     = errors.New("signing: key not allowed by policy")
	ErrUnavailable    = errors.New("signing: backend unavailable") // transient: retrying may help
)

// Key describes one key pair. PublicKey is the SubjectPublicKeyInfo DER.
type Key struct {
	ID        string
	Type      KeyType
	PublicKey []byte
}

// SignRequest is one signature of a batch.
type SignRequest struct {
	KeyID string
	Data  []byte
}

// SignResult is the outcome of one [SignRequest]: a signature or an error.
type SignResult struct {
	Signature []byte
	Err       error
}

// Signer is a signing backend. Implementations are safe for concurrent use;
// every method honours ctx's deadline and cancellation. Private key
// material never leaves the implementation, and no implementation logs key
// material or signed data.
type Signer interface {
	// GenerateKey creates and stores a new key pair.
	GenerateKey(ctx context.Context, t KeyType) (Key, error)
	// ListKeys returns the ids of complete key pairs of type t, sorted.
	ListKeys(ctx context.Context, t KeyType) ([]string, error)
	// PublicKey returns the key with that id, or ErrUnknownKey.
	PublicKey(ctx context.Context, id string) (Key, error)
	// Sign signs data with the key id.
	Sign(ctx context.Context, id string, data []byte) ([]byte, error)
	// SignMany signs every request, concurrently up to a bound, and returns
	// one result per request in order. The error is for the batch as a
	// whole (ctx ended); per-signature failures are in the results.
	SignMany(ctx context.Context, reqs []SignRequest) ([]SignResult, error)
	// Health reports whether the backend can sign now: nil, or an error
	// safe to show in a ComponentStatus.
	Health(ctx context.Context) error
	// Close releases connections and files.
	Close() error
}
