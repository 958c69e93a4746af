package integrity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/osohost/osohost/host/plugin"
)

// SignatureSuffix is appended to a module's path to name its signature file.
const SignatureSuffix = ".sig"

// Errors of [Policy.Verify] and [ReadModule]. A refused module is a
// [*VerifyError], which matches ErrRejected and, through errors.Is, the
// check that failed: ErrNotAllowlisted, ErrNoSignature,
// ErrMalformedSignature or ErrBadSignature.
var (
	// ErrRejected matches every [*VerifyError].
	ErrRejected = errors.New("integrity: module refused")
	// ErrNotAllowlisted: the module's SHA-256 is not in the allowlist.
	ErrNotAllowlisted = errors.New("sha256 not in the allowlist")
	// ErrNoSignature: keys are configured but the module has no
	// signature file.
	ErrNoSignature = errors.New("no signature")
	// ErrMalformedSignature: the signature file is not the base64 of a
	// 64-byte signature, or is too large.
	ErrMalformedSignature = errors.New("malformed signature")
	// ErrBadSignature: the signature verifies under none of the keys.
	ErrBadSignature = errors.New("signature does not verify")
)

// Policy says which modules may be loaded. The zero value accepts every
// module (see [Policy.Enabled]). A Policy is read-only once in use and safe
// for concurrent use.
type Policy struct {
	// SHA256 lists the digests of modules accepted whatever their
	// signature.
	SHA256 [][32]byte
	// Keys lists the public keys a module's signature may verify under.
	// A key that is not 32 bytes long verifies nothing.
	Keys []ed25519.PublicKey
}

// NewPolicy returns the policy for the given digests and raw 32-byte Ed25519
// public keys, the forms configuration holds them in. It copies both.
func NewPolicy(digests, keys [][32]byte) Policy {
	var p Policy
	if len(digests) > 0 {
		p.SHA256 = append([][32]byte(nil), digests...)
	}
	for _, k := range keys {
		p.Keys = append(p.Keys, ed25519.PublicKey(append([]byte(nil), k[:]...)))
	}
	return p
}

// Enabled reports whether the policy checks anything: with neither digests
// nor keys, every module is accepted.
func (p Policy) Enabled() bool {
	return len(p.SHA256) > 0 || len(p.Keys) > 0
}

// Verify accepts wasm when the policy is not enabled, when its SHA-256 is
// allowlisted, or when sig, the content of its signature file (nil when
// there is none), holds a signature of wasm under one of the keys. Otherwise
// it returns a [*VerifyError] naming each check that failed.
func (p Policy) Verify(wasm, sig []byte) error {
	if !p.Enabled() {
		return nil
	}
	return p.verify(sha256.Sum256(wasm), wasm, sig)
}

// allowlisted reports whether sum is in the allowlist.
func (p Policy) allowlisted(sum [32]byte) bool {
	for _, h := range p.SHA256 {
		if h == sum { // digests of public modules: no timing concern
			return true
		}
	}
	return false
}

func (p Policy) verify(sum [32]byte, wasm, sig []byte) error {
	if p.allowlisted(sum) {
		return nil
	}
	e := &VerifyError{SHA256: sum}
	if len(p.SHA256) > 0 {
		n := "1 entry"
		if len(p.SHA256) != 1 {
			n = fmt.Sprintf("%d entries", len(p.SHA256))
		}
		e.Errs = append(e.Errs, fmt.Errorf("%w (%s)", ErrNotAllowlisted, n))
	}
	if len(p.Keys) > 0 {
		err := p.verifySignature(wasm, sig)
		if err == nil {
			return nil
		}
		e.Errs = append(e.Errs, err)
	}
	return e
}

func (p Policy) verifySignature(wasm, sig []byte) error {
	if sig == nil {
		return ErrNoSignature
	}
	s, err := ParseSignature(sig)
	if err != nil {
		return err
	}
	for _, k := range p.Keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, wasm, s) {
			return nil
		}
	}
	if len(p.Keys) == 1 {
		return fmt.Errorf("%w under the key", ErrBadSignature)
	}
	return fmt.Errorf("%w under any of the %d keys", ErrBadSignature, len(p.Keys))
}

// VerifyError reports a module the policy refused. It carries the module's
// digest and the failed checks, never the module's or the signature's
// bytes. errors.Is matches [ErrRejected] and each failed check's sentinel.
type VerifyError struct {
	// Path is the module's file, when [ReadModule] read it.
	Path string
	// SHA256 is the module's digest.
	SHA256 [32]byte
	// Errs holds one error per failed check: the allowlist, then the
	// signature.
	Errs []error
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString("integrity: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString("module with sha256 ")
	b.WriteString(hex.EncodeToString(e.SHA256[:]))
	b.WriteString(" refused")
	for i, err := range e.Errs {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the failed checks.
func (e *VerifyError) Unwrap() []error { return e.Errs }

// Is reports whether target is [ErrRejected].
func (e *VerifyError) Is(target error) bool { return target == ErrRejected }

// ReadModule reads the module at path, bounded as plugin.ReadModule bounds
// it, and returns its bytes when pol accepts them (see [Policy.Verify]).
// When the digest is not allowlisted and keys are configured, it also reads
// path+[SignatureSuffix], after the module; a missing file means no
// signature, a file over [MaxSignatureFileBytes] is a malformed signature,
// and one that cannot be read (or is not a regular file) is an error.
//
// The module is read once: the bytes returned are the bytes verified. A
// module or signature replaced between the two reads fails verification
// (or passes, if the pair read matches); it never yields a module that was
// not verified. Replace a signed module by writing its new signature file
// first and renaming the new module into place second: a load that runs
// between the two steps is refused, the one after the rename succeeds.
func ReadModule(path string, pol Policy) ([]byte, error) {
	wasm, err := plugin.ReadModule(path)
	if err != nil {
		return nil, err
	}
	if !pol.Enabled() {
		return wasm, nil
	}
	sum := sha256.Sum256(wasm)
	if pol.allowlisted(sum) {
		return wasm, nil
	}
	var sig []byte
	if len(pol.Keys) > 0 {
		if sig, err = readSignature(path + SignatureSuffix); err != nil {
			return nil, err
		}
	}
	if err := pol.verify(sum, wasm, sig); err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) {
			ve.Path = path
		}
		return nil, err
	}
	return wasm, nil
}

// readSignature reads a signature file: nil when it does not exist, at most
// MaxSignatureFileBytes+1 bytes otherwise (ParseSignature refuses more).
// It opens without blocking, so a FIFO planted in its place cannot stall a
// load, and refuses anything but a regular file.
func readSignature(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("integrity: signature: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("integrity: signature: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("integrity: signature %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSignatureFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("integrity: signature: %w", err)
	}
	if b == nil {
		b = []byte{} // present but empty: malformed, not absent
	}
	return b, nil
}
