// Package routetoken verifies signed, time-limited route tokens: a client
// that holds no client certificate proves it may reach a component's
// plugin routes with a token minted by whoever holds the component's key
// ring (`osohost route sign`). docs/route-tokens.md is the user's guide.
//
// On the request path it runs after the front door has terminated TLS and
// before the plugin routes: [Verifier.Check] verifies the token and returns
// the request with the token stripped from its carrier, so the routes never
// see it. It never reads identity from anywhere but the token, the
// secure-access header and the connection's peer address.
//
// # Formats
//
// Short tokens are OSEP-0011's, byte for byte (testdata holds the public
// vectors):
//
//	canonical = "v1\nshort\n{id}\n{port}\n{expires_b36}\n"
//	inner     = BE32(len(secret)) || secret || BE32(len(canonical)) || canonical
//	signature = lowercase_hex(SHA256(inner))[0:8] + key_id
//	token     = {id}-{port}-{expires_b36}-{signature}
//
// parsed from the right, so the id may contain '-'. expires_b36 is the
// expiry in Unix seconds, base 36, lowercase, no leading zeros, 1 to 13
// characters; the port is decimal 1..65535 without leading zeros; the key
// id is one character of [0-9a-z]. Their 32-bit signature can be guessed:
// the verifier throttles failed attempts, but strong tokens are the
// recommended mode.
//
// Strong tokens carry a full HMAC-SHA256 and bind the method and a path
// prefix as well as the component id and expiry:
//
//	mac   = HMAC-SHA256(secret, F("osohost-route-token/s1") || F(key_id) || F(id) ||
//	                            F(method) || F(path) || F(expires_b36))
//	        where F(x) = BE32(len(x)) || x
//	token = "s1." + key_id + "." + expires_b36 + "." + base64url(mac)  (no padding)
//
// The id, method and path are not in the token: the verifier takes them
// from its configuration and from the request, trying each prefix of the
// request path at a segment boundary.
//
// # Status mapping
//
// Every failure is an [*Error] whose Kind is one of the ErrX sentinels and
// whose [Error.Status] is the HTTP status: [ErrMalformed] 400;
// [ErrMissing], [ErrExpired], [ErrUnknownKey], [ErrBadSignature],
// [ErrMismatch] and [ErrAccessDenied] 401; [ErrThrottled] 429 with
// [Error.RetryAfter]. [ErrMissing] is also auth.ErrNoCredentials.
package routetoken
