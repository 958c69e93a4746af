package oso

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/osohost/osohost/abi"
)

// Token is a credential resolved by [Credential]: a secret the host keeps
// for the plugin, such as an API token. Its String, GoString, Format and
// MarshalJSON methods never show the secret, so printing, logging or
// encoding a Token by mistake does not leak it; read the Token field where
// it is used.
type Token struct {
	// Token is the secret itself.
	Token string
	// TokenType says how to present it, for example "Bearer"; may be
	// empty.
	TokenType string
	// ExpiresAt is when the secret expires; the zero time means never.
	// The host refreshes credentials before they expire: call
	// [Credential] again rather than keeping a Token.
	ExpiresAt time.Time
}

// Authorization returns the value of an HTTP Authorization header for the
// token: "<type> <token>", or the token alone when it has no type.
func (t Token) Authorization() string {
	if t.TokenType == "" {
		return t.Token
	}
	return t.TokenType + " " + t.Token
}

// String describes t without its secret.
func (t Token) String() string {
	exp := "never"
	if !t.ExpiresAt.IsZero() {
		exp = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	secret := ""
	if t.Token != "" {
		secret = "REDACTED"
	}
	return "Token{Token:" + secret + " TokenType:" + strconv.Quote(t.TokenType) + " ExpiresAt:" + exp + "}"
}

// GoString is [Token.String] for %#v.
func (t Token) GoString() string { return t.String() }

// Format writes [Token.String] for every verb, so that no fmt verb shows
// the secret.
func (t Token) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		f.Write([]byte(strconv.Quote(t.String())))
		return
	}
	f.Write([]byte(t.String()))
}

// MarshalJSON encodes t with the secret replaced by "REDACTED" (empty
// when there is none).
func (t Token) MarshalJSON() ([]byte, error) {
	secret := ""
	if t.Token != "" {
		secret = "REDACTED"
	}
	b := []byte(`{"token":`)
	b = strconv.AppendQuote(b, secret)
	b = append(b, `,"token_type":`...)
	b = strconv.AppendQuote(b, t.TokenType)
	exp := int64(0)
	if !t.ExpiresAt.IsZero() {
		exp = t.ExpiresAt.UnixMilli()
	}
	b = append(b, `,"expires_at_ms":`...)
	b = strconv.AppendInt(b, exp, 10)
	return append(b, '}'), nil
}

// CredentialError is a failed [Credential] call. It wraps the host
// function's [*HostError], so errors.Is matches [ErrNotAllowed] (the name
// is not granted to the plugin, or no export call is running),
// [ErrNotFound] (granted, but the host's credentials provider has no such
// name), [ErrUnavailable] (the provider failed or was too slow; retrying
// later may help) or [ErrTooLarge] (a name over
// [abi.MaxCredentialNameBytes]). Its text names the credential.
type CredentialError struct {
	Name string
	Err  *HostError
}

func (e *CredentialError) Error() string {
	var why string
	switch e.Err.Status {
	case abi.StatusNotAllowed:
		why = "not granted to this plugin, or no export call is running"
	case abi.StatusNotFound:
		why = "not found"
	case abi.StatusUnavailable:
		why = "credentials provider unavailable"
	case abi.StatusTooLarge:
		why = "name longer than " + strconv.Itoa(abi.MaxCredentialNameBytes) + " bytes"
	default:
		why = "failed with status " + strconv.Itoa(int(e.Err.Status))
	}
	name := e.Name
	if len(name) > abi.MaxCredentialNameBytes {
		name = name[:abi.MaxCredentialNameBytes] + "…"
	}
	return "oso: credential " + strconv.Quote(name) + ": " + why
}

// Unwrap returns the host function's error.
func (e *CredentialError) Unwrap() error { return e.Err }

// credBuf is the answer buffer of credential, allocated on first use and
// reused: an instance runs one call at a time.
var credBuf []byte

// Credential returns the credential the host holds under name, if the
// operator granted it to the plugin (names are 1 to
// [abi.MaxCredentialNameBytes] bytes of [A-Za-z0-9._-]). Failures are
// [*CredentialError] values; see there for the errors they match. It
// works only while Status, ToOSO or ToISV runs.
//
// The host caches credentials and refreshes them before they expire, so
// calling Credential for every use is cheap and always gives a valid
// token; keeping a Token across calls risks using an expired one. Never
// log the secret.
func Credential(name string) (Token, error) {
	if len(name) > abi.MaxCredentialNameBytes {
		return Token{}, credErr(name, int32(abi.StatusTooLarge))
	}
	if credBuf == nil {
		credBuf = make([]byte, abi.MaxCredentialBytes)
	}
	out := credBuf
	n := hostCredential(name, out)
	if n < 0 {
		return Token{}, credErr(name, n)
	}
	if int(n) > len(out) {
		return Token{}, errHostAnswer
	}
	defer clear(out[:n]) // no copy of the secret stays in the reused buffer
	tok, typ, exp, err := abi.DecodeCredential(out[:n])
	if err != nil || len(tok) == 0 || exp > math.MaxInt64 {
		return Token{}, errHostAnswer
	}
	t := Token{Token: string(tok), TokenType: string(typ)}
	if exp > 0 {
		t.ExpiresAt = time.UnixMilli(int64(exp))
	}
	return t, nil
}

func credErr(name string, st int32) error {
	return &CredentialError{Name: name, Err: &HostError{Func: abi.ImportCredential, Status: abi.Status(st)}}
}
