package routetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/osohost/osohost/host/auth"
)

// Method is the auth.Principal.Method of principals this package returns.
const Method = "routetoken"

// Default header names.
const (
	// DefaultHeader carries the token when Options.Carrier is
	// CarrierHeader and Options.Header is empty.
	DefaultHeader = "X-OSO-Route-Token"
	// DefaultAccessHeader carries the static secure-access token when
	// Options.AccessHeader is empty. OSEP-0011 clients send
	// "OpenSandbox-Secure-Access".
	DefaultAccessHeader = "X-OSO-Secure-Access"
)

// MinAccessTokenBytes is the shortest static secure-access token accepted.
const MinAccessTokenBytes = 16

// maxPathCandidates bounds the path prefixes a strong token is checked
// against: "/" and the first 31 segment boundaries of the request path.
const maxPathCandidates = 32

// Mode says which token formats a [Verifier] accepts.
type Mode string

// Modes.
const (
	// ModeStrong accepts strong tokens only: a full HMAC-SHA256 binding
	// the method and path prefix. The recommended mode and the default.
	ModeStrong Mode = "strong"
	// ModeShort accepts OSEP-0011 short tokens only: 32 bits of signature
	// over id, port and expiry.
	ModeShort Mode = "short"
	// ModeBoth accepts either, told apart by shape (strong tokens contain
	// '.', short ones never do).
	ModeBoth Mode = "both"
)

// Carrier says where a request carries its token.
type Carrier string

// Carriers.
const (
	// CarrierHeader: the whole value of a header (Options.Header). The
	// header is removed before the plugin routes see the request.
	CarrierHeader Carrier = "header"
	// CarrierPath: the first path segment, /{token}/api/…, or
	// OSEP-0011's layout /{id}/{port}/{expires_b36}/{signature}/… when
	// the first segment is the component id. The token segments are
	// stripped, so the plugin routes see /api/….
	CarrierPath Carrier = "path"
	// CarrierHost: the first label of the Host, {token}.host.example.
	// The label is stripped from Host. Only short tokens fit in a DNS
	// label (63 bytes), so it cannot be combined with ModeStrong.
	CarrierHost Carrier = "host"
)

// Options configures a [Verifier].
type Options struct {
	// Keys verify the tokens. Required.
	Keys *KeyRing
	// ID is this component's id, which every token must name. Required;
	// see [ValidID].
	ID string
	// Port is the port short tokens must name, 1 to 65535. Required
	// unless Mode is ModeStrong.
	Port uint16
	// Mode is the accepted token format; empty means ModeStrong.
	Mode Mode
	// Carrier is where requests carry the token; empty means
	// CarrierHeader.
	Carrier Carrier
	// Header names the token header for CarrierHeader; empty means
	// DefaultHeader.
	Header string
	// AccessToken is the static secure-access token; empty disables the
	// secure-access header. When set (at least MinAccessTokenBytes), a
	// request carrying AccessHeader, with any value, is decided by it
	// alone: the value matches (constant time) → allowed, the request
	// forwarded with that header removed and its path and host
	// unchanged; anything else → ErrAccessDenied, with no fallback to a
	// route token.
	AccessToken string
	// AccessHeader names the secure-access header; empty means
	// DefaultAccessHeader.
	AccessHeader string
	// MaxFailures is how many failed attempts (ErrMalformed, ErrMismatch,
	// ErrUnknownKey, ErrBadSignature, ErrAccessDenied) a client may make
	// per FailureWindow before every check from it fails with
	// ErrThrottled until the window ends. Zero means DefaultMaxFailures;
	// negative disables throttling. A client is the connection's peer
	// address (an IPv6 /56), never a header: behind a proxy, every
	// client shares the proxy's allowance.
	MaxFailures int
	// FailureWindow is the length of a throttle window, which starts at a
	// client's first failure. Zero means DefaultFailureWindow.
	FailureWindow time.Duration
	// MaxClients bounds the clients whose failures are remembered (the
	// least recently seen are forgotten first). Zero means
	// DefaultMaxClients.
	MaxClients int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Verifier checks the route token of requests and strips it before the
// plugin routes see them. It is safe for concurrent use; its configuration
// never changes after [New] (build a new one to rotate keys). Its only
// mutable state is the bounded failure throttle.
type Verifier struct {
	keys          *KeyRing
	id            string
	port          uint16
	short, strong bool
	carrier       Carrier
	header        string    // canonical form
	accessHeader  string    // canonical form
	access        *[32]byte // SHA-256 of the access token; nil: disabled
	throttle      *throttle // nil: disabled
	now           func() time.Time
}

// New returns a Verifier for opts, or an error naming the first bad
// option.
func New(opts Options) (*Verifier, error) {
	v := &Verifier{keys: opts.Keys, id: opts.ID, port: opts.Port, carrier: opts.Carrier, now: opts.Now}
	if v.keys == nil {
		return nil, errors.New("routetoken: no key ring")
	}
	if !ValidID(v.id) {
		return nil, fmt.Errorf("routetoken: component id %q is not 1 to %d characters of [A-Za-z0-9_-]", truncate(v.id, MaxIDLength), MaxIDLength)
	}
	switch opts.Mode {
	case ModeStrong, "":
		v.strong = true
	case ModeShort:
		v.short = true
	case ModeBoth:
		v.short, v.strong = true, true
	default:
		return nil, fmt.Errorf("routetoken: unknown mode %q (want strong, short or both)", truncate(string(opts.Mode), 16))
	}
	if v.short && v.port == 0 {
		return nil, errors.New("routetoken: short tokens need the port (1 to 65535)")
	}
	switch v.carrier {
	case "":
		v.carrier = CarrierHeader
	case CarrierHeader, CarrierPath:
	case CarrierHost:
		if !v.short {
			return nil, errors.New("routetoken: strong tokens do not fit in a host label; use the header or path carrier, or mode short or both")
		}
	default:
		return nil, fmt.Errorf("routetoken: unknown carrier %q (want header, path or host)", truncate(string(opts.Carrier), 16))
	}
	var err error
	if v.header, err = headerName(opts.Header, DefaultHeader); err != nil {
		return nil, err
	}
	if v.accessHeader, err = headerName(opts.AccessHeader, DefaultAccessHeader); err != nil {
		return nil, err
	}
	if opts.AccessToken != "" {
		if len(opts.AccessToken) < MinAccessTokenBytes {
			return nil, fmt.Errorf("routetoken: secure-access token is shorter than %d bytes", MinAccessTokenBytes)
		}
		if v.carrier == CarrierHeader && v.header == v.accessHeader {
			return nil, errors.New("routetoken: the token header and the secure-access header are the same")
		}
		sum := sha256.Sum256([]byte(opts.AccessToken))
		v.access = &sum
	}
	switch {
	case opts.FailureWindow < 0:
		return nil, errors.New("routetoken: negative failure window")
	case opts.MaxClients < 0:
		return nil, errors.New("routetoken: negative client count")
	case opts.MaxFailures >= 0:
		max, window, size := opts.MaxFailures, opts.FailureWindow, opts.MaxClients
		if max == 0 {
			max = DefaultMaxFailures
		}
		if window == 0 {
			window = DefaultFailureWindow
		}
		if size == 0 {
			size = DefaultMaxClients
		}
		v.throttle = newThrottle(max, window, size)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// headerName validates a header name and returns its canonical form.
func headerName(name, def string) (string, error) {
	if name == "" {
		name = def
	}
	if len(name) > 64 || !validMethod(name) { // a field name is a token too
		return "", fmt.Errorf("routetoken: %q is not a header name", truncate(name, 64))
	}
	return textproto.CanonicalMIMEHeaderKey(name), nil
}

// Check verifies the credential of r and returns the request the plugin
// routes should see: the token stripped from its carrier (header removed,
// path segment cut, host label cut) and the secure-access header removed.
// r is never modified; the returned request shares its body and context.
// On error the returned request is nil and the error is an [*Error]
// (errors.As), whose Status is the HTTP status to answer.
func (v *Verifier) Check(r *http.Request) (stripped *http.Request, err error) {
	out, _, err := v.Authenticate(r)
	return out, err
}

// Authenticate is [Verifier.Check] that also returns the principal:
// Method "routetoken", Subject "short token, key a", "strong token, key a"
// or "secure-access header".
//
// The order of checks: the presence of a credential (the secure-access
// header when configured, else a token; neither gives ErrMissing, so that
// another method can judge the request); the throttle (ErrThrottled: a
// client that used its allowance gets nothing verified); then either the
// secure-access value (ErrAccessDenied) or the token's shape
// (ErrMalformed), the accepted mode, id and port (ErrMismatch), the key
// (ErrUnknownKey), the signature or MAC over the component id and, for
// strong tokens, r's method and path (ErrBadSignature), and last the
// expiry (ErrExpired), so that a token is only called expired when it is
// authentic.
func (v *Verifier) Authenticate(r *http.Request) (*http.Request, auth.Principal, error) {
	now := v.now()
	var client netip.Addr
	if v.throttle != nil {
		client = clientOf(r)
	}
	out, p, e := v.check(r, now, client)
	if e != nil {
		if v.throttle != nil && e.counts() {
			v.throttle.fail(client, now)
		}
		return nil, auth.Principal{}, e
	}
	return out, p, nil
}

// throttled returns ErrThrottled if client has used its allowance.
func (v *Verifier) throttled(client netip.Addr, now time.Time) *Error {
	if v.throttle == nil {
		return nil
	}
	if wait, blocked := v.throttle.blocked(client, now); blocked {
		return &Error{Kind: ErrThrottled, RetryAfter: ceilSecond(wait)}
	}
	return nil
}

// ceilSecond rounds d up to whole seconds, at least one.
func ceilSecond(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		s = 1
	}
	return s * time.Second
}

// carried is a token and the request parts left once it is stripped.
type carried struct {
	token         string
	path, rawPath string // CarrierPath
	host          string // CarrierHost
}

func (v *Verifier) check(r *http.Request, now time.Time, client netip.Addr) (*http.Request, auth.Principal, *Error) {
	if v.access != nil {
		if vals, present := r.Header[v.accessHeader]; present {
			if e := v.throttled(client, now); e != nil {
				return nil, auth.Principal{}, e
			}
			if len(vals) != 1 || !v.accessMatches(vals[0]) {
				return nil, auth.Principal{}, fail(ErrAccessDenied, "")
			}
			out := new(http.Request)
			*out = *r
			out.Header = r.Header.Clone()
			delete(out.Header, v.accessHeader)
			if v.carrier == CarrierHeader {
				delete(out.Header, v.header)
			}
			return out, auth.Principal{Method: Method, Subject: "secure-access header"}, nil
		}
	}
	c, e := v.extract(r)
	if e != nil {
		return nil, auth.Principal{}, e
	}
	if e := v.throttled(client, now); e != nil {
		return nil, auth.Principal{}, e
	}
	if len(c.token) > MaxTokenLength {
		return nil, auth.Principal{}, fail(ErrMalformed, "token too long")
	}
	if strings.IndexByte(c.token, '.') < 0 {
		if !v.short {
			if _, err := ParseShort(c.token); err != nil {
				return nil, auth.Principal{}, asError(err)
			}
			return nil, auth.Principal{}, fail(ErrMismatch, "short tokens are not accepted")
		}
		t, err := v.keys.VerifyShort(c.token, v.id, v.port, now)
		if err != nil {
			return nil, auth.Principal{}, asError(err)
		}
		return v.strip(r, c), auth.Principal{Method: Method, Subject: "short token, key " + t.KeyID}, nil
	}
	if !v.strong {
		if _, err := ParseStrong(c.token); err != nil {
			return nil, auth.Principal{}, asError(err)
		}
		return nil, auth.Principal{}, fail(ErrMismatch, "strong tokens are not accepted")
	}
	// The path the plugin routes will see.
	p, raw := r.URL.Path, r.URL.RawPath
	if v.carrier == CarrierPath {
		p, raw = c.path, c.rawPath
	}
	t, e := v.verifyStrong(c.token, r.Method, p, raw, now)
	if e != nil {
		return nil, auth.Principal{}, e
	}
	return v.strip(r, c), auth.Principal{Method: Method, Subject: "strong token, key " + t.KeyID}, nil
}

// asError returns err, which this package made, as an *Error.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: ErrMalformed, Detail: err.Error()}
}

// accessMatches compares a secure-access header value with the configured
// token in constant time (over their SHA-256, so the length does not leak
// either).
func (v *Verifier) accessMatches(value string) bool {
	sum := sha256.Sum256([]byte(value))
	return subtle.ConstantTimeCompare(sum[:], v.access[:]) == 1
}

// extract finds the token of r in the carrier.
func (v *Verifier) extract(r *http.Request) (carried, *Error) {
	switch v.carrier {
	case CarrierPath:
		return v.extractPath(r)
	case CarrierHost:
		return extractHost(r.Host)
	}
	vals := r.Header[v.header]
	switch {
	case len(vals) == 0 || len(vals) == 1 && vals[0] == "":
		return carried{}, fail(ErrMissing, "")
	case len(vals) > 1:
		return carried{}, fail(ErrMalformed, "more than one token header")
	}
	return carried{token: vals[0]}, nil
}

// extractPath takes the token from the first path segment, or OSEP-0011's
// four segments when the first is the component id and short tokens are
// accepted. A first segment that
// contains neither '-' nor '.' cannot be a token: the token is missing.
func (v *Verifier) extractPath(r *http.Request) (carried, *Error) {
	p := r.URL.Path
	if len(p) < 2 || p[0] != '/' {
		return carried{}, fail(ErrMissing, "")
	}
	first, _, _ := strings.Cut(p[1:], "/")
	var c carried
	consumed := 1 + len(first)
	switch {
	case first == v.id && v.short:
		// /{id}/{port}/{expires_b36}/{signature}/…
		segs := [3]string{}
		rest := p[consumed:]
		for i := range segs {
			if len(rest) < 2 || rest[0] != '/' {
				return carried{}, fail(ErrMalformed, "path is not /{id}/{port}/{expires}/{signature}/…")
			}
			segs[i], _, _ = strings.Cut(rest[1:], "/")
			if strings.IndexByte(segs[i], '-') >= 0 {
				return carried{}, fail(ErrMalformed, "path is not /{id}/{port}/{expires}/{signature}/…")
			}
			consumed += 1 + len(segs[i])
			rest = p[consumed:]
		}
		c.token = first + "-" + segs[0] + "-" + segs[1] + "-" + segs[2]
	case strings.ContainsAny(first, "-."):
		c.token = first
	default:
		return carried{}, fail(ErrMissing, "")
	}
	c.path = p[consumed:]
	if c.path == "" {
		c.path = "/"
	}
	if raw := r.URL.RawPath; raw != "" {
		if !strings.HasPrefix(raw, p[:consumed]) {
			return carried{}, fail(ErrMalformed, "token is percent-encoded")
		}
		c.rawPath = raw[consumed:]
		if c.rawPath == "" {
			c.rawPath = "/"
		}
	}
	return c, nil
}

// extractHost takes the token from the first label of host. A host
// without a parent domain, an IP address, or a first label without '-'
// carries none.
func extractHost(host string) (carried, *Error) {
	if host == "" || host[0] == '[' {
		return carried{}, fail(ErrMissing, "")
	}
	name, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i:]
	}
	label, parent, ok := strings.Cut(name, ".")
	if !ok || parent == "" || strings.IndexByte(label, '-') < 0 {
		return carried{}, fail(ErrMissing, "")
	}
	return carried{token: label, host: parent + port}, nil
}

// strip returns a shallow copy of r without the token, as
// http.StripPrefix does.
func (v *Verifier) strip(r *http.Request, c carried) *http.Request {
	out := new(http.Request)
	*out = *r
	switch v.carrier {
	case CarrierHeader:
		out.Header = r.Header.Clone()
		delete(out.Header, v.header)
	case CarrierPath:
		u := *r.URL
		u.Path, u.RawPath = c.path, c.rawPath
		out.URL = &u
		out.RequestURI = u.RequestURI()
	case CarrierHost:
		out.Host = c.host
		if r.URL.Host != "" {
			u := *r.URL
			u.Host = c.host
			out.URL = &u
		}
	}
	return out
}

// verifyStrong checks a strong token against the component id, the
// method, and every prefix of the (stripped) request path at a segment
// boundary, "/" and the first maxPathCandidates-1 others, longest first. A path that
// is not clean or holds an encoded slash matches nothing.
func (v *Verifier) verifyStrong(token, method, reqPath, rawPath string, now time.Time) (StrongToken, *Error) {
	t, k, err := v.keys.parseStrong(token)
	if err != nil {
		return StrongToken{}, asError(err)
	}
	exp := expiresText(token)
	p, ok := requestPath(reqPath, rawPath)
	if ok {
		// The ends of the candidate prefixes: "/" (0), then each '/' and
		// the end of p, at most maxPathCandidates in all.
		var ends [maxPathCandidates]int
		n := 1
		for i := 1; len(p) > 1 && i <= len(p) && n < maxPathCandidates; i++ {
			if i == len(p) || p[i] == '/' {
				ends[n] = i
				n++
			}
		}
		// Longest first: tokens are usually bound to the route they are
		// used on.
		ok = false
		s := k.macState()
		for j := n - 1; j >= 0 && !ok; j-- {
			cand := "/"
			if ends[j] > 0 {
				cand = p[:ends[j]]
			}
			ok = hmac.Equal(t.MAC[:], s.mac(k.id, v.id, method, cand, exp))
		}
		k.macs.Put(s)
	}
	if !ok {
		return StrongToken{}, fail(ErrBadSignature, "strong MAC (id, method or path), key id "+t.KeyID)
	}
	if expired(now, t.Expires) {
		return StrongToken{}, fail(ErrExpired, "")
	}
	return t, nil
}

// requestPath returns the decoded path p without a trailing slash, if
// it is clean and holds no encoded slash (which the plugin router would
// read as part of a segment while the decoded path shows a boundary).
func requestPath(p, rawPath string) (string, bool) {
	if rawPath != "" && (strings.Contains(rawPath, "%2f") || strings.Contains(rawPath, "%2F")) {
		return "", false
	}
	if p == "" {
		p = "/"
	}
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if p[0] != '/' || path.Clean(p) != p {
		return "", false
	}
	return p, true
}

// Redacted is what [Verifier.Redact] puts where a token was.
const Redacted = "REDACTED"

// Redact returns a shallow copy of r without its credentials, for logs and
// error pages: a token in the path or host replaced by [Redacted]
// ("/REDACTED/api/x", "REDACTED.host.example"), the token and
// secure-access headers removed. r is not modified.
func (v *Verifier) Redact(r *http.Request) *http.Request {
	out := new(http.Request)
	*out = *r
	if _, ok := r.Header[v.header]; ok || (v.access != nil && r.Header[v.accessHeader] != nil) {
		out.Header = r.Header.Clone()
		delete(out.Header, v.header)
		delete(out.Header, v.accessHeader)
	}
	switch v.carrier {
	case CarrierPath:
		c, e := v.extractPath(r)
		if e != nil && e.Kind == ErrMissing {
			return out
		}
		u := *r.URL
		if e != nil {
			// Malformed: where the token ends is unknown.
			u.Path, u.RawPath = "/"+Redacted, ""
		} else {
			u.Path = "/" + Redacted + c.path
			if c.rawPath != "" {
				u.RawPath = "/" + Redacted + c.rawPath
			}
		}
		out.URL = &u
		out.RequestURI = u.RequestURI()
	case CarrierHost:
		if c, e := extractHost(r.Host); e == nil {
			out.Host = Redacted + "." + c.host
			if r.URL.Host != "" {
				u := *r.URL
				u.Host = out.Host
				out.URL = &u
			}
		}
	}
	return out
}

// Middleware returns a handler that checks each request with
// [Verifier.Check] and passes the stripped request to next. On failure it
// sets Retry-After (in seconds) for ErrThrottled and calls onError with
// the request as [Verifier.Redact] returns it (so that logging it shows no
// token); onError writes the response in the API's error shape. A nil
// onError writes the status and [Error.Description] as text.
func (v *Verifier) Middleware(next http.Handler, onError func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := v.Check(r)
		if err == nil {
			next.ServeHTTP(w, out)
			return
		}
		e := asError(err)
		if e.Kind == ErrThrottled {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(e.RetryAfter/time.Second), 10))
		}
		if onError != nil {
			onError(w, v.Redact(r), err)
			return
		}
		http.Error(w, e.Description(), e.Status())
	})
}
