package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/osohost/osohost/host/auth/routetoken"
)

// Environment variables the route command reads (names case-insensitive,
// as all settings): the key ring, and defaults for --id, --port and the
// header name it prints. They are the route_tokens settings of `run`.
const (
	envRouteKeys   = "ROUTE_TOKENS__KEYS"
	envRouteID     = "ROUTE_TOKENS__ID"
	envRoutePort   = "ROUTE_TOKENS__PORT"
	envRouteHeader = "ROUTE_TOKENS__HEADER"
)

const routeUsage = `usage: osohost route sign   --id ID --port PORT (--expires UNIX_SECONDS | --ttl D) [--key-id K --secret BASE64] [-q]
       osohost route sign   --strong --id ID --method M --path P (--expires UNIX_SECONDS | --ttl D) [--key-id K --secret BASE64] [-q]
       osohost route verify TOKEN --id ID [--port PORT] [--method M --path P] [--now UNIX_SECONDS] [--key-id K --secret BASE64]
Without --key-id and --secret, the key ring comes from ` + envRouteKeys + `
(JSON: {"active":"b","keys":{"a":"BASE64","b":"BASE64"}}), signing with its active key.`

// cmdRoute mints and checks signed route tokens (docs/route-tokens.md).
func cmdRoute(_ context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "sign" && args[0] != "verify") {
		fmt.Fprintln(stderr, routeUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("route "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, routeUsage)
		fs.PrintDefaults()
	}
	id := fs.String("id", envValue(env, envRouteID), "component id the token is for (default $"+envRouteID+")")
	portText := fs.String("port", envValue(env, envRoutePort), "port a short token is for (default $"+envRoutePort+")")
	keyID := fs.String("key-id", "", "key id, one character of [0-9a-z] (with --secret)")
	secretText := fs.String("secret", "", "the key's secret in base64 (with --key-id); visible to other local users in the process list, prefer "+envRouteKeys)
	strong := fs.Bool("strong", false, "mint a strong token (full HMAC-SHA256 binding method and path)")
	method := fs.String("method", "", "HTTP method a strong token allows")
	pathPrefix := fs.String("path", "", "path prefix a strong token allows, as the plugin routes see it (e.g. /api/backend/v1alpha1)")
	expiresText := fs.String("expires", "", "expiry in Unix seconds")
	ttl := fs.Duration("ttl", 0, "lifetime from now, such as 15m (instead of --expires)")
	quiet := fs.Bool("q", false, "print the token only")
	nowText := fs.String("now", "", "verify at this time in Unix seconds instead of now")
	withValue := map[string]bool{"id": true, "port": true, "key-id": true, "secret": true, "method": true, "path": true, "expires": true, "ttl": true, "now": true}
	if err := fs.Parse(reorder(args[1:], withValue)); err != nil {
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "osohost: "+format+"\n", a...)
		return 2
	}

	var port uint16
	if *portText != "" {
		p, err := strconv.ParseUint(*portText, 10, 16)
		if err != nil || p == 0 {
			return usageErr("--port %q is not a port (1 to 65535)", *portText)
		}
		port = uint16(p)
	}
	if !routetoken.ValidID(*id) {
		return usageErr("--id must be 1 to %d characters of [A-Za-z0-9_-]", routetoken.MaxIDLength)
	}
	keys, err := routeKeys(env, *keyID, *secretText, stderr)
	if err != nil {
		return usageErr("%v", err)
	}
	header := envValue(env, envRouteHeader)
	if header == "" {
		header = routetoken.DefaultHeader
	}

	if sub == "verify" {
		if fs.NArg() != 1 {
			return usageErr("route verify takes one TOKEN")
		}
		now := time.Now()
		if *nowText != "" {
			s, err := strconv.ParseInt(*nowText, 10, 64)
			if err != nil {
				return usageErr("--now %q is not Unix seconds", *nowText)
			}
			now = time.Unix(s, 0)
		}
		return routeVerify(fs.Arg(0), *id, port, strings.ToUpper(*method), *pathPrefix, now, keys, stdout, stderr)
	}

	if fs.NArg() != 0 {
		return usageErr("route sign takes no arguments (got %q)", fs.Arg(0))
	}
	var expires uint64
	switch {
	case *expiresText != "" && *ttl != 0:
		return usageErr("give --expires or --ttl, not both")
	case *expiresText != "":
		if expires, err = strconv.ParseUint(*expiresText, 10, 64); err != nil {
			return usageErr("--expires %q is not Unix seconds (a decimal uint64)", *expiresText)
		}
	case *ttl > 0:
		expires = uint64(time.Now().Add(*ttl).Unix())
	case *ttl < 0:
		return usageErr("--ttl must be positive")
	default:
		return usageErr("give the expiry: --expires UNIX_SECONDS or --ttl D")
	}

	var token string
	if *strong {
		if *method == "" || *pathPrefix == "" {
			return usageErr("a strong token needs --method and --path")
		}
		token, err = keys.signStrong(routetoken.StrongClaims{ID: *id, Method: strings.ToUpper(*method), Path: *pathPrefix, Expires: expires})
	} else {
		if *method != "" || *pathPrefix != "" {
			return usageErr("--method and --path bind strong tokens only; add --strong")
		}
		if port == 0 {
			return usageErr("a short token needs --port")
		}
		token, err = keys.signShort(routetoken.ShortClaims{ID: *id, Port: port, Expires: expires})
	}
	if err != nil {
		return usageErr("%v", err)
	}
	fmt.Fprintln(stdout, token)
	if *quiet {
		return 0
	}
	fmt.Fprintf(stdout, "header:  %s: %s\n", header, token)
	if *strong {
		fmt.Fprintf(stdout, "path:    /%s%s\n", token, strings.TrimSuffix(*pathPrefix, "/"))
		fmt.Fprintln(stdout, "host:    (none: a strong token does not fit in a host label)")
		fmt.Fprintf(stdout, "allows:  %s %s and below it, component %s\n", strings.ToUpper(*method), *pathPrefix, *id)
	} else {
		sig := token[strings.LastIndexByte(token, '-')+1:]
		fmt.Fprintf(stdout, "path:    /%s/…  or  /%s/%d/%s/%s/…\n", token, *id, port, routetoken.FormatExpires(expires), sig)
		fmt.Fprintf(stdout, "host:    %s.<parent domain>\n", token)
		fmt.Fprintf(stdout, "allows:  component %s on port %d, any method and path\n", *id, port)
	}
	fmt.Fprintf(stdout, "expires: %s, key %s\n", formatExpiry(expires), keys.activeID)
	return 0
}

// routeSigner is where route sign and verify get their key: an explicit
// key (any secret length, as OSEP-0011 allows) or the configured ring.
type routeSigner struct {
	ring     *routetoken.KeyRing // nil when explicit
	activeID string
	secret   []byte // explicit only
}

func (k *routeSigner) signShort(c routetoken.ShortClaims) (string, error) {
	if k.ring != nil {
		return k.ring.SignShort(c)
	}
	return routetoken.SignShort(k.secret, k.activeID, c)
}

func (k *routeSigner) signStrong(c routetoken.StrongClaims) (string, error) {
	if k.ring != nil {
		return k.ring.SignStrong(c)
	}
	return routetoken.SignStrong(k.secret, k.activeID, c)
}

// routeKeys returns the explicit key of --key-id and --secret, or the key
// ring of the environment. A secret outside what a key ring accepts is
// used with a warning, so tokens of other OSEP-0011 implementations can
// be reproduced.
func routeKeys(env []string, keyID, secretText string, stderr io.Writer) (*routeSigner, error) {
	switch {
	case keyID != "" && secretText != "":
		secret, err := routetoken.DecodeSecret(secretText)
		if err != nil {
			return nil, fmt.Errorf("--secret: %v", err)
		}
		if ring, err := routetoken.NewKeyRing(keyID, routetoken.Key{ID: keyID, Secret: secret}); err == nil {
			return &routeSigner{ring: ring, activeID: keyID}, nil
		}
		if len(secret) < routetoken.MinSecretBytes || len(secret) > routetoken.MaxSecretBytes {
			fmt.Fprintf(stderr, "osohost: warning: the secret is %d bytes; the server's key ring accepts %d to %d\n", len(secret), routetoken.MinSecretBytes, routetoken.MaxSecretBytes)
		}
		return &routeSigner{activeID: keyID, secret: secret}, nil
	case keyID != "" || secretText != "":
		return nil, errors.New("give --key-id and --secret together")
	}
	spec := envValue(env, envRouteKeys)
	if spec == "" {
		return nil, fmt.Errorf("no key: give --key-id and --secret, or set %s", envRouteKeys)
	}
	ring, err := routetoken.ParseKeyRing(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", envRouteKeys, err)
	}
	return &routeSigner{ring: ring, activeID: ring.Active()}, nil
}

// routeVerify checks a token as the server would, for a request with
// method and path (a strong token) to the component on port (a short
// one).
func routeVerify(token, id string, port uint16, method, reqPath string, now time.Time, keys *routeSigner, stdout, stderr io.Writer) int {
	strong := strings.Contains(token, ".")
	if strong && (method == "" || !strings.HasPrefix(reqPath, "/")) {
		fmt.Fprintln(stderr, "osohost: a strong token is checked for a request: give --method and --path /…")
		return 2
	}
	if !strong && port == 0 {
		fmt.Fprintln(stderr, "osohost: a short token is checked for a port: give --port")
		return 2
	}
	var desc string
	var err error
	if keys.ring == nil {
		desc, err = verifyExplicit(token, id, port, method, reqPath, now, keys)
	} else {
		desc, err = verifyRing(token, id, port, method, reqPath, now, keys.ring)
	}
	if err != nil {
		status := http.StatusUnauthorized
		var e *routetoken.Error
		if errors.As(err, &e) {
			status = e.Status()
		}
		fmt.Fprintf(stderr, "osohost: rejected (%d): %v\n", status, err)
		return 1
	}
	fmt.Fprintln(stdout, "ok: "+desc)
	return 0
}

// verifyRing runs the server's verifier on a request built from the
// arguments.
func verifyRing(token, id string, port uint16, method, reqPath string, now time.Time, ring *routetoken.KeyRing) (string, error) {
	mode := routetoken.ModeBoth
	if port == 0 {
		mode = routetoken.ModeStrong
	}
	v, err := routetoken.New(routetoken.Options{Keys: ring, ID: id, Port: port, Mode: mode, MaxFailures: -1, Now: func() time.Time { return now }})
	if err != nil {
		return "", err
	}
	if method == "" {
		method = http.MethodGet
	}
	if reqPath == "" {
		reqPath = "/"
	}
	r := &http.Request{Method: method, URL: &url.URL{Path: reqPath}, Header: http.Header{}}
	r.Header.Set(routetoken.DefaultHeader, token)
	_, p, err := v.Authenticate(r)
	if err != nil {
		return "", err
	}
	return describe(token, p.Subject), nil
}

// verifyExplicit checks a token against one explicit key by signing its
// claims again and comparing in constant time; the secret may have any
// length.
func verifyExplicit(token, id string, port uint16, method, reqPath string, now time.Time, keys *routeSigner) (string, error) {
	var want string
	var expires uint64
	if strings.Contains(token, ".") {
		t, err := routetoken.ParseStrong(token)
		if err != nil {
			return "", err
		}
		expires = t.Expires
		if t.KeyID != keys.activeID {
			return "", &routetoken.Error{Kind: routetoken.ErrUnknownKey}
		}
		// The path and each of its prefixes, as the server tries them.
		p := strings.TrimSuffix(reqPath, "/")
		for p != "" {
			want, _ = routetoken.SignStrong(keys.secret, t.KeyID, routetoken.StrongClaims{ID: id, Method: method, Path: p, Expires: t.Expires})
			if subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1 {
				break
			}
			p = p[:strings.LastIndexByte(p, '/')]
		}
		if p == "" {
			want, _ = routetoken.SignStrong(keys.secret, t.KeyID, routetoken.StrongClaims{ID: id, Method: method, Path: "/", Expires: t.Expires})
		}
	} else {
		t, err := routetoken.ParseShort(token)
		if err != nil {
			return "", err
		}
		expires = t.Expires
		if t.ID != id || t.Port != port {
			return "", &routetoken.Error{Kind: routetoken.ErrMismatch, Detail: "another component id or port"}
		}
		if t.KeyID == keys.activeID {
			want, _ = routetoken.SignShort(keys.secret, t.KeyID, t.ShortClaims)
		}
	}
	if want == "" {
		return "", &routetoken.Error{Kind: routetoken.ErrUnknownKey}
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1 {
		return "", &routetoken.Error{Kind: routetoken.ErrBadSignature}
	}
	if s := now.Unix(); s > 0 && uint64(s) > expires {
		return "", &routetoken.Error{Kind: routetoken.ErrExpired}
	}
	return describe(token, ""), nil
}

// describe says what a verified token is.
func describe(token, subject string) string {
	var expires uint64
	if t, err := routetoken.ParseStrong(token); err == nil {
		expires = t.Expires
		if subject == "" {
			subject = "strong token, key " + t.KeyID
		}
	} else if t, err := routetoken.ParseShort(token); err == nil {
		expires = t.Expires
		if subject == "" {
			subject = "short token, key " + t.KeyID
		}
	}
	return subject + ", expires " + formatExpiry(expires)
}

// formatExpiry writes Unix seconds as an RFC 3339 UTC time with the
// seconds, or the seconds alone past year 9999.
func formatExpiry(sec uint64) string {
	const year9999 = 253402300799
	if sec > year9999 || sec > math.MaxInt64 {
		return strconv.FormatUint(sec, 10) + " (beyond year 9999)"
	}
	return time.Unix(int64(sec), 0).UTC().Format(time.RFC3339) + " (" + strconv.FormatUint(sec, 10) + ")"
}

// envValue returns the last value of the environment variable name (matched
// without regard to case, as osohost's settings are), or "".
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, name) {
			v = val
		}
	}
	return v
}
