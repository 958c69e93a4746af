package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/osohost/osohost/host/auth/routetoken"
)

// RouteTokens holds the ROUTE_TOKENS__* settings: signed, time-limited
// route tokens (OSEP-0011 short tokens, or strong ones binding method and
// path) that every request on the TLS listener must carry, in addition to
// the auth parsers. See docs/route-tokens.md.
type RouteTokens struct {
	// Keys (ROUTE_TOKENS__KEYS) is the key ring as JSON,
	// {"active": "b", "keys": {"a": "<base64>", "b": "<base64>"}}. Setting
	// it (or AccessToken) turns the check on.
	Keys Secret
	// Mode (ROUTE_TOKENS__MODE) is strong (default), short or both.
	Mode string
	// Carrier (ROUTE_TOKENS__CARRIER) is header (default), path or host.
	Carrier string
	// Header (ROUTE_TOKENS__HEADER) carries the token with the header
	// carrier (default X-OSO-Route-Token).
	Header string
	// ID (ROUTE_TOKENS__ID) is the component id tokens name (default
	// APP__NAME).
	ID string
	// Port (ROUTE_TOKENS__PORT) is the port short tokens name (default:
	// the TLS listener's port).
	Port int
	// AccessToken (ROUTE_TOKENS__ACCESS_TOKEN) is the static
	// secure-access token: a request carrying AccessHeader is decided by
	// it alone, with no fallback to a route token.
	AccessToken Secret
	// AccessHeader (ROUTE_TOKENS__ACCESS_HEADER, default
	// X-OSO-Secure-Access) carries it.
	AccessHeader string
	// MaxFailures (ROUTE_TOKENS__MAX_FAILURES, default 10; negative turns
	// throttling off) failed attempts per FailureWindow and client before
	// 429.
	MaxFailures int
	// FailureWindow (ROUTE_TOKENS__FAILURE_WINDOW, default 1m).
	FailureWindow time.Duration
	// MaxClients (ROUTE_TOKENS__MAX_CLIENTS, default 10000) bounds the
	// clients whose failures are remembered.
	MaxClients int
}

// Enabled reports whether requests must carry a route token or the
// secure-access header.
func (r RouteTokens) Enabled() bool { return r.Keys.IsSet() || r.AccessToken.IsSet() }

func (d *decoder) routeTokens(c *Config) {
	r := &c.RouteTokens
	r.Keys = decodeAs(d, "route_tokens.keys", Secret{}, func(v any) (Secret, error) {
		s, err := jsonSetting(v)
		if err != nil {
			return Secret{}, err
		}
		if _, err := routetoken.ParseKeyRing(s); err != nil {
			return Secret{}, err
		}
		return NewSecret(s), nil
	})
	r.Mode = decodeAs(d, "route_tokens.mode", string(routetoken.ModeStrong), oneOf("strong", "short", "both"))
	r.Carrier = decodeAs(d, "route_tokens.carrier", string(routetoken.CarrierHeader), oneOf("header", "path", "host"))
	r.Header = decodeAs(d, "route_tokens.header", routetoken.DefaultHeader, asName)
	r.ID = decodeAs(d, "route_tokens.id", c.App.Name, func(v any) (string, error) {
		s, err := asString(v)
		if err == nil && !routetoken.ValidID(s) {
			err = errors.New("must be 1 to 128 of A-Z a-z 0-9 _ -")
		}
		return s, err
	})
	port := 0
	if _, p, err := net.SplitHostPort(c.Server.Listen); err == nil {
		port, _ = strconv.Atoi(p)
	}
	r.Port = int(decodeAs(d, "route_tokens.port", int64(port), intIn(1, 65535)))
	r.AccessToken = decodeAs(d, "route_tokens.access_token", Secret{}, asToken)
	r.AccessHeader = decodeAs(d, "route_tokens.access_header", routetoken.DefaultAccessHeader, asName)
	r.MaxFailures = int(decodeAs(d, "route_tokens.max_failures", int64(routetoken.DefaultMaxFailures), intIn(-1, 1<<20)))
	r.FailureWindow = decodeAs(d, "route_tokens.failure_window", routetoken.DefaultFailureWindow, positiveDuration)
	r.MaxClients = int(decodeAs(d, "route_tokens.max_clients", int64(routetoken.DefaultMaxClients), intIn(1, 1<<24)))
	if !r.Enabled() {
		return
	}
	if _, err := routetoken.New(r.Options()); err != nil {
		name := "ROUTE_TOKENS__KEYS"
		if st, ok := d.get("route_tokens.keys"); ok {
			name = st.Name
		} else if st, ok := d.get("route_tokens.access_token"); ok {
			name = st.Name
		}
		d.p.fail(name, err.Error())
	}
}

// Options returns the verifier options of the settings.
func (r RouteTokens) Options() routetoken.Options {
	o := routetoken.Options{
		ID: r.ID, Port: uint16(r.Port), Mode: routetoken.Mode(r.Mode), Carrier: routetoken.Carrier(r.Carrier),
		Header: r.Header, AccessToken: r.AccessToken.Reveal(), AccessHeader: r.AccessHeader,
		MaxFailures: r.MaxFailures, FailureWindow: r.FailureWindow, MaxClients: r.MaxClients,
	}
	if r.Keys.IsSet() {
		o.Keys, _ = routetoken.ParseKeyRing(r.Keys.Reveal())
	}
	return o
}

func oneOf(values ...string) func(any) (string, error) {
	return func(v any) (string, error) {
		s, err := asString(v)
		if err != nil {
			return "", err
		}
		for _, want := range values {
			if s == want {
				return s, nil
			}
		}
		return "", fmt.Errorf("must be one of %q, not %s", values, quote(s))
	}
}
