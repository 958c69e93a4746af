// Package oidc authenticates requests by OpenID Connect bearer tokens: JWT
// access tokens that an identity provider (the issuer) signs, presented as
// "Authorization: Bearer <jwt>". It checks each token against the keys the
// issuer publishes and admits it to a named allowlist by its roles or
// scopes (AUTH__PARSERS__<n>__TYPE=oidc). docs/oidc.md is the operator's
// guide.
//
// # Checks
//
// A token is valid when all of these hold, in this order:
//
//   - it comes from the request's one Authorization header, scheme
//     "Bearer" in any letter case, and is at most MaxTokenSize bytes
//     (longer ones are refused before they are parsed);
//   - it is a compact JWS signed with RS256 (RSA keys of 2048 bits or
//     more), ES256 or EdDSA (Ed25519); "none", the HMAC algorithms and
//     everything else are refused whatever the key set holds;
//   - the signature verifies with a key of the issuer's key set whose
//     "kid" is the token's (any key of the set when the token has no kid),
//     whose type fits the algorithm and whose "alg", if set, is the
//     token's; at most 8 such keys are tried per token;
//   - "iss" is Options.Issuer exactly; "aud" (a string or a list)
//     contains Options.Audience; "exp" is present and not past, "nbf" and
//     "iat", if present, are not in the future, all three with
//     Options.Leeway of tolerance;
//   - "sub" is present, valid UTF-8 and at most MaxSubject bytes; it
//     becomes auth.Principal.Subject.
//
// Then the token must meet the rule of the allowlist the route names: any
// of its roles, or any of its scopes (see [Rule]). An invalid token is a
// 401 ([ErrInvalidToken], a kind of auth.ErrNoCredentials); a valid token
// that the allowlist does not admit, or an allowlist that is not
// configured, is a 403 (auth.ErrNotAllowlisted).
//
// # Keys
//
// The issuer's discovery document (Issuer +
// "/.well-known/openid-configuration") names the key set (jwks_uri); its
// "issuer" must be Options.Issuer exactly. Both are fetched by [New] once;
// if that fails, New fails when Options.RequireIssuer is set, and otherwise
// returns an Authenticator that keeps trying as tokens arrive and as
// [Authenticator.Ready] is called, while refusing tokens with
// [ErrUnavailable] (503).
//
// The key set is kept for the Cache-Control max-age of its response,
// bounded to [JWKSRefreshMinInterval, MaxJWKSTTL], or for Options.JWKSTTL
// (DefaultJWKSTTL) without one. A token naming a key the set lacks, or
// arriving after the set's freshness ended, starts a new fetch, but fetches
// start at most once per Options.JWKSRefreshMinInterval
// (DefaultJWKSRefreshMinInterval), so a flood of tokens with made-up key
// ids costs the issuer one request per interval; concurrent requests share
// one fetch. A token with an unknown kid that arrives within the interval is
// refused. A stale set keeps serving tokens whose key it holds while the
// new one is fetched in the background, and while fetches fail, up to
// MaxKeyAge after the last success. Discovery is not repeated once it has
// succeeded.
//
// Requests to the issuer use Options.HTTPClient, or a client trusting
// Options.RootCAs (else the system roots) that follows no redirects; each
// is bounded by Options.HTTPTimeout, and the documents by size (64 KiB for
// discovery, 256 KiB and 100 keys for the key set). The issuer and
// jwks_uri must be https URLs, or http on a loopback host.
//
// Tokens are never logged and never appear in errors.
package oidc
