package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
)

// Provider resolves credentials by name. Implementations are safe for
// concurrent use.
type Provider interface {
	// Resolve returns the current value of the named credential. It fails
	// with an error matching [ErrNotFound] when the provider has no such
	// credential, [ErrNotAllowed] when the caller may not have it, and
	// [ErrUnavailable] when the provider cannot answer now (retrying may
	// help). No error ever carries a token.
	Resolve(ctx context.Context, name string) (Credential, error)
	// List returns the names the provider can resolve, with their scopes,
	// sorted by name. It never carries a token.
	List(ctx context.Context) ([]Info, error)
	// Close releases the provider's resources.
	Close() error
}

// Errors of a [Provider], matched with errors.Is. The errors returned wrap
// them with the credential's name and a cause; none carries a token.
var (
	// ErrNotFound: the provider has no credential of that name.
	ErrNotFound = errors.New("credentials: credential not found")
	// ErrNotAllowed: the credential is not granted to the caller.
	ErrNotAllowed = errors.New("credentials: credential not granted")
	// ErrUnavailable: the provider cannot answer now (a driver that is
	// down, slow or misbehaving, a deadline); retrying may help.
	ErrUnavailable = errors.New("credentials: provider unavailable")
)

// Limits of names and values. They follow from the ABI: a credential
// always fits in abi.MaxCredentialBytes once encoded.
const (
	// MaxNameBytes bounds a credential name.
	MaxNameBytes = abi.MaxCredentialNameBytes
	// MaxTokenTypeBytes bounds a token type.
	MaxTokenTypeBytes = 64
	// MaxTokenBytes bounds a token: abi.MaxCredentialBytes less the
	// encoding's lengths, expiry and the largest token type.
	MaxTokenBytes = abi.MaxCredentialBytes - 16 - MaxTokenTypeBytes
	// MaxScopes bounds the scopes of one credential.
	MaxScopes = 64
	// MaxScopeBytes bounds one scope.
	MaxScopeBytes = 256
	// MaxListEntries bounds the credentials of one provider (a file, a
	// driver's list).
	MaxListEntries = 4096
)

// Credential is a resolved credential. Its fmt, slog and JSON forms never
// show the token; read it with Token.Reveal where it is used.
type Credential struct {
	// Token is the secret.
	Token Token
	// TokenType says how to present the token, for example "Bearer";
	// may be empty.
	TokenType string
	// ExpiresAt is when the token expires; the zero time means never.
	ExpiresAt time.Time
}

// String describes c without its token.
func (c Credential) String() string {
	exp := "never"
	if !c.ExpiresAt.IsZero() {
		exp = c.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return "Credential{Token:" + c.Token.String() + " TokenType:" + strconv.Quote(c.TokenType) + " ExpiresAt:" + exp + "}"
}

// Format writes [Credential.String] for every verb, so that no fmt verb
// can reveal the token.
func (c Credential) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(c.String())))
		return
	}
	_, _ = f.Write([]byte(c.String()))
}

// GoString is [Credential.String] for %#v.
func (c Credential) GoString() string { return c.String() }

// LogValue implements slog.LogValuer: a group of the token type, the
// expiry and the redacted token.
func (c Credential) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("token", c.Token.String()), slog.String("token_type", c.TokenType)}
	if !c.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.Time("expires_at", c.ExpiresAt))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON implements json.Marshaler without the token.
func (c Credential) MarshalJSON() ([]byte, error) {
	b := []byte(`{"token":`)
	b = strconv.AppendQuote(b, c.Token.String())
	b = append(b, `,"token_type":`...)
	b = strconv.AppendQuote(b, c.TokenType)
	b = append(b, `,"expires_at_ms":`...)
	b = strconv.AppendInt(b, c.ExpiresAtMS(), 10)
	return append(b, '}'), nil
}

// ExpiresAtMS returns the expiry in Unix milliseconds, 0 for none: the
// form of the driver protocol and the ABI.
func (c Credential) ExpiresAtMS() int64 {
	if c.ExpiresAt.IsZero() {
		return 0
	}
	return max(c.ExpiresAt.UnixMilli(), 1)
}

// Redacted is what a set [Token] prints as, in every format.
const Redacted = "REDACTED"

// Token is a secret that must never be printed, logged or serialised. Its
// String, Format, GoString, LogValue, MarshalText and MarshalJSON methods
// give [Redacted] for a set token and "" for an unset one; only
// [Token.Reveal] returns the value. The value sits behind a pointer, so even
// code that prints a Token by reflection shows an address, not the text.
//
// The zero value is the unset token. Tokens are immutable and safe for
// concurrent use.
type Token struct {
	v *string
}

// NewToken returns a Token holding s; an empty s gives the unset token.
func NewToken(s string) Token {
	if s == "" {
		return Token{}
	}
	return Token{v: &s}
}

// Reveal returns the secret text. Call it only where the value is used,
// never to print it.
func (t Token) Reveal() string {
	if t.v == nil {
		return ""
	}
	return *t.v
}

// IsSet reports whether the token holds a value.
func (t Token) IsSet() bool { return t.v != nil }

// Len returns the length of the secret in bytes.
func (t Token) Len() int { return len(t.Reveal()) }

// String returns [Redacted], or "" for the unset token.
func (t Token) String() string {
	if t.v == nil {
		return ""
	}
	return Redacted
}

// Format writes [Token.String] for every verb (quoted for %q).
func (t Token) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(t.String())))
		return
	}
	_, _ = f.Write([]byte(t.String()))
}

// GoString is [Token.String] for %#v.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// MarshalText implements encoding.TextMarshaler with [Token.String].
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// MarshalJSON implements json.Marshaler with [Token.String].
func (t Token) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(t.String())), nil }

// Info describes a credential a provider can resolve, without its value.
type Info struct {
	Name   string
	Scopes []string
}

func sortInfos(infos []Info) {
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
}

// ValidName reports whether name is a valid credential name: 1 to
// [MaxNameBytes] bytes of ASCII letters, digits, '.', '_' and '-'.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameBytes {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// printable reports whether s holds only printable ASCII without spaces.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// checkValue validates the parts of a credential against the limits. Its
// errors name what is wrong, never the token.
func checkValue(token, tokenType string, expiresAtMS int64) error {
	switch {
	case token == "":
		return errors.New("empty token")
	case len(token) > MaxTokenBytes:
		return fmt.Errorf("token of %d bytes exceeds %d", len(token), MaxTokenBytes)
	case !utf8.ValidString(token):
		return errors.New("token is not valid UTF-8")
	case len(tokenType) > MaxTokenTypeBytes:
		return fmt.Errorf("token type of %d bytes exceeds %d", len(tokenType), MaxTokenTypeBytes)
	case !printable(tokenType):
		return errors.New("token type holds characters other than printable ASCII")
	case expiresAtMS < 0:
		return fmt.Errorf("negative expiry %d", expiresAtMS)
	}
	return nil
}

// newCredential builds a Credential from checked parts.
func newCredential(token, tokenType string, expiresAtMS int64) Credential {
	c := Credential{Token: NewToken(token), TokenType: tokenType}
	if expiresAtMS > 0 {
		c.ExpiresAt = time.UnixMilli(expiresAtMS)
	}
	return c
}

// checkScopes validates the scopes of one credential.
func checkScopes(scopes []string) error {
	if len(scopes) > MaxScopes {
		return fmt.Errorf("%d scopes exceed %d", len(scopes), MaxScopes)
	}
	for i, s := range scopes {
		if s == "" || len(s) > MaxScopeBytes || !printable(s) {
			return fmt.Errorf("scope %d is not 1 to %d printable ASCII characters", i, MaxScopeBytes)
		}
	}
	return nil
}

// quoteName quotes a name for an error or log line, cut to MaxNameBytes
// so that a caller's oversized input cannot bloat either.
func quoteName(name string) string {
	if len(name) > MaxNameBytes {
		return strconv.Quote(name[:MaxNameBytes]) + "…"
	}
	return strconv.Quote(name)
}
