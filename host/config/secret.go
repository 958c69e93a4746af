package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/osohost/osohost/host/pki"
)

// RedactedText is what a set [Secret] prints as, in every format.
const RedactedText = "REDACTED"

// Secret is a configuration value that must never be printed, logged or
// serialised, such as a private key. Its String, Format, GoString,
// LogValue, MarshalText, MarshalJSON and MarshalYAML methods all give
// [RedactedText] for a set secret and "" for an unset one; only [Secret.Reveal]
// returns the value. The value sits behind a pointer, so even code that
// prints a Secret by reflection (an unexported field, say) shows an
// address, not the text.
//
// The zero value is the unset secret. Secrets are immutable and safe for
// concurrent use.
type Secret struct {
	v *string
}

// NewSecret returns a Secret holding s; an empty s gives the unset secret.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the secret text. Call it only where the value is used,
// never to print it.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsSet reports whether the secret holds a value.
func (s Secret) IsSet() bool { return s.v != nil }

// String returns [RedactedText], or "" for the unset secret.
func (s Secret) String() string {
	if s.v == nil {
		return ""
	}
	return RedactedText
}

// Format writes [Secret.String] for every verb (quoted for %q), so that no
// fmt verb can reveal the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(s.String())))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// GoString is [Secret.String] for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler with [Secret.String].
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON implements json.Marshaler with [Secret.String].
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// MarshalYAML implements yaml.Marshaler with [Secret.String].
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// PEM is PEM text that is public (certificates), kept as given. Logged,
// it shows as its [PEM.Summary].
type PEM string

// LogValue implements slog.LogValuer with [PEM.Summary].
func (p PEM) LogValue() slog.Value { return slog.StringValue(p.Summary()) }

// Summary describes the certificates in p without their content, naming
// the first: "<PEM: 2 certificates, CN=app, expires 2035-01-01>"; "" when p
// is empty, "<PEM: invalid>" when it does not parse.
func (p PEM) Summary() string {
	if p == "" {
		return ""
	}
	certs, err := pki.ParseCertificates([]byte(p))
	if err != nil {
		return "<PEM: invalid>"
	}
	var b strings.Builder
	b.WriteString("<PEM: ")
	b.WriteString(strconv.Itoa(len(certs)))
	if len(certs) == 1 {
		b.WriteString(" certificate, ")
	} else {
		b.WriteString(" certificates, ")
	}
	leaf := certs[0]
	name := leaf.Subject.CommonName
	if name == "" {
		name = leaf.Subject.String()
	} else {
		name = "CN=" + name
	}
	b.WriteString(truncate(name, maxNameInText))
	b.WriteString(", expires ")
	b.WriteString(leaf.NotAfter.UTC().Format("2006-01-02"))
	b.WriteString(">")
	return b.String()
}
