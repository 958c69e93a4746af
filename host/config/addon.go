package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// AddonType is the type of a plugin addon (PLUGIN__ADDONS__<n>__TYPE).
type AddonType string

// Addon types. The framework's name of the signing server,
// "oso.framework.plugin.addons.signing_server", is accepted too.
const (
	// AddonSigningServer gives the plugin keys and signatures from an HSM
	// reached through GREP11.
	AddonSigningServer AddonType = "signing_server"
)

// Addon is one PLUGIN__ADDONS__<n> entry.
type Addon struct {
	Type AddonType
	// SigningServer is set when Type is [AddonSigningServer].
	SigningServer SigningServer
}

// defaultGREP11Port is the port a GREP11 endpoint without one gets: gRPC's
// default for a TLS target, which the framework relied on.
const defaultGREP11Port = "443"

// SigningServer holds the fields of a signing-server addon: the GREP11
// endpoint, the TLS material to reach it, and the keystore directory.
type SigningServer struct {
	// Endpoint is the GREP11 gRPC target (GREP11_ENDPOINT), always with a
	// port: "host:port", "dns:///host:port", or "unix:path". A value
	// without a port gets 443, as in the framework, with a warning; unset,
	// it is "localhost:443".
	Endpoint string
	// CACert holds the CAs the GREP11 server's certificate must chain to
	// (CA_CERT, base64 of the PEM text in the environment). Empty means
	// the system's roots.
	CACert PEM
	// ClientCert is the client certificate chain (CLIENT_CERT, base64 of
	// the PEM text). Empty means no client certificate.
	ClientCert PEM
	// ClientKey is its private key (CLIENT_KEY, base64 of the PEM text).
	// Set exactly when ClientCert is.
	ClientKey Secret
	// KeystorePath is the keystore directory (KEYSTORE_PATH), laid out
	// <KeystorePath>/<TYPE>/<id>.key|.pub. Required.
	KeystorePath string

	parsed *tlsParsed // set by Load; printed as an address only
}

// ClientCertificate returns the client chain and key, with Leaf set, for
// tls.Config.Certificates; [ErrNotSet] when there is none. The result
// shares memory with s; do not modify it.
func (s SigningServer) ClientCertificate() (tls.Certificate, error) {
	p, err := parsedOrNew(s.parsed, s.CACert, s.ClientCert, s.ClientKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return p.keyPair()
}

// RootCAs returns a new pool of the CAs of CACert; [ErrNotSet] when it is
// not set (use the system's roots).
func (s SigningServer) RootCAs() (*x509.CertPool, error) {
	p, err := parsedOrNew(s.parsed, s.CACert, s.ClientCert, s.ClientKey)
	if err != nil {
		return nil, err
	}
	return p.pool()
}

// ServerName returns the host name the GREP11 server's certificate must
// carry: the host of Endpoint ("" for a unix socket).
func (s SigningServer) ServerName() string {
	target := s.Endpoint
	if strings.HasPrefix(target, "unix:") {
		return ""
	}
	if rest, ok := strings.CutPrefix(target, "dns:"); ok {
		rest = strings.TrimPrefix(rest, "//")
		_, target, _ = strings.Cut(rest, "/")
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return ""
	}
	return host
}

// parseEndpoint reads a GREP11 target: host, host:port, [v6]:port, a bare
// IPv6 address, dns:///host[:port], dns://authority/host[:port] or
// unix:path. It returns the target with a port and whether it added the
// default one.
func parseEndpoint(s string) (target string, defaulted bool, err error) {
	bad := func(why string) (string, bool, error) {
		return "", false, fmt.Errorf("%s; want host:port, dns:///host:port or unix:path, not %s", why, quote(s))
	}
	switch {
	case s == "":
		return bad("must not be empty")
	case strings.ContainsAny(s, " \t\r\n"):
		return bad("must not contain spaces")
	case strings.HasPrefix(s, "unix:"):
		if len(s) == len("unix:") || strings.HasPrefix(s, "unix://") && len(s) == len("unix://") {
			return bad("the socket path is missing")
		}
		return s, false, nil
	}
	prefix, hostport := "", s
	if rest, ok := strings.CutPrefix(s, "dns:"); ok {
		if !strings.HasPrefix(rest, "//") {
			return bad("a dns: target is written dns:///host:port")
		}
		authority, hp, ok := strings.Cut(rest[2:], "/")
		if !ok {
			return bad("a dns: target is written dns:///host:port")
		}
		prefix, hostport = "dns://"+authority+"/", hp
	} else if i := strings.Index(s, "://"); i >= 0 {
		return bad("unsupported scheme " + quote(s[:i]))
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: a name, an address, or a bracketed or bare IPv6 address.
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return bad("malformed host or port")
		}
		port, defaulted = defaultGREP11Port, true
	}
	if host == "" || strings.ContainsAny(host, "/[]") {
		return bad("the host is missing or malformed")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return bad("the port must be a number from 1 to 65535")
	}
	return prefix + net.JoinHostPort(host, port), defaulted, nil
}

// decodePEMBase64 decodes a CA_CERT, CLIENT_CERT or CLIENT_KEY value:
// standard base64 of PEM text, padded or not, with line breaks allowed and
// nothing else skipped. Errors never repeat the value.
func decodePEMBase64(s string) (string, error) {
	t := strings.NewReplacer("\r", "", "\n", "").Replace(s)
	if strings.HasPrefix(strings.TrimSpace(t), "-----BEGIN") {
		return "", errors.New("must be the base64 encoding of the PEM text, not the PEM text itself")
	}
	enc := base64.StdEncoding.Strict()
	if !strings.HasSuffix(t, "=") && len(t)%4 != 0 {
		enc = base64.RawStdEncoding.Strict()
	}
	b, err := enc.DecodeString(s) // skips line breaks itself, so offsets are s's
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return "", fmt.Errorf("not valid standard base64 (byte %d)", int64(ce)+1)
		}
		return "", errors.New("not valid standard base64")
	}
	if len(b) == 0 {
		return "", errors.New("must not be empty")
	}
	return string(b), nil
}
