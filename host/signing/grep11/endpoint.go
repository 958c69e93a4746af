package grep11

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// defaultPort is the port of an endpoint written without one: gRPC's
// default for a TLS target, which the framework relied on.
const defaultPort = "443"

// parseEndpoint turns an endpoint into a gRPC target that has a port. It
// accepts host, host:port, [v6]:port, a bare IPv6 address,
// dns:///host[:port], dns://authority/host[:port], unix:path and
// unix:///path, and reports whether it added the default port.
func parseEndpoint(s string) (target string, defaulted bool, err error) {
	bad := func(why string) (string, bool, error) {
		return "", false, fmt.Errorf("grep11: endpoint %q: %s; want host:port, dns:///host:port or unix:/path", s, why)
	}
	switch {
	case s == "":
		return bad("empty")
	case strings.ContainsAny(s, " \t\r\n"):
		return bad("contains spaces")
	case strings.HasPrefix(s, "unix:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "unix:"), "//")
		if path == "" {
			return bad("the socket path is missing")
		}
		return s, false, nil
	}
	prefix, hostport := "", s
	if rest, ok := strings.CutPrefix(s, "dns:"); ok {
		authority, hp, ok := strings.Cut(strings.TrimPrefix(rest, "//"), "/")
		if !strings.HasPrefix(rest, "//") || !ok {
			return bad("a dns target is written dns:///host:port")
		}
		prefix, hostport = "dns://"+authority+"/", hp
	} else if i := strings.Index(s, "://"); i >= 0 {
		return bad("unsupported scheme " + strconv.Quote(s[:i]))
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: a name, an address, or a bracketed or bare IPv6 address.
		host = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return bad("malformed host or port")
		}
		port, defaulted = defaultPort, true
	}
	if host == "" || strings.ContainsAny(host, "/[]@") {
		return bad("the host is missing or malformed")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return bad("the port must be a number from 1 to 65535")
	}
	return prefix + net.JoinHostPort(host, port), defaulted, nil
}
