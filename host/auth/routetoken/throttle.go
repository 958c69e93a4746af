package routetoken

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults of the failure throttle.
const (
	// DefaultMaxFailures is the number of failed attempts a client may
	// make per window when Options.MaxFailures is zero.
	DefaultMaxFailures = 10
	// DefaultFailureWindow is the window when Options.FailureWindow is
	// zero.
	DefaultFailureWindow = time.Minute
	// DefaultMaxClients is the number of clients whose failures are
	// remembered when Options.MaxClients is zero.
	DefaultMaxClients = 10000
)

// ipv6ClientBits is the prefix length that makes one IPv6 client: a site
// usually holds a /56 or a /48, so counting single addresses (or /64s)
// would give one attacker thousands of allowances.
const ipv6ClientBits = 56

// throttle counts failed attempts per client in fixed windows and blocks
// a client that reached its allowance until its window ends. It remembers
// at most a bounded number of clients, the least recently seen evicted
// first. It is safe for concurrent use.
type throttle struct {
	max    int
	window time.Duration

	mu      sync.Mutex
	clients *simplelru.LRU[netip.Addr, bucket]
}

// bucket is one client's failures since start.
type bucket struct {
	start    time.Time
	failures int
}

func newThrottle(max int, window time.Duration, size int) *throttle {
	lru, _ := simplelru.NewLRU[netip.Addr, bucket](size, nil) // size > 0: no error
	return &throttle{max: max, window: window, clients: lru}
}

// blocked reports whether client has used its allowance, and for how much
// longer it is blocked.
func (t *throttle) blocked(client netip.Addr, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	b, ok := t.clients.Get(client)
	t.mu.Unlock()
	if !ok || b.failures < t.max {
		return 0, false
	}
	end := b.start.Add(t.window)
	if !now.Before(end) {
		return 0, false
	}
	return end.Sub(now), true
}

// fail counts one failed attempt of client.
func (t *throttle) fail(client netip.Addr, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.clients.Get(client)
	if !ok || !now.Before(b.start.Add(t.window)) {
		b = bucket{start: now}
	}
	b.failures++
	t.clients.Add(client, b)
}

// clientOf returns the address failures of r are counted under: the peer
// address of the connection (never a header), IPv4-mapped addresses as
// IPv4, IPv6 addresses reduced to their /56. A peer address that does not
// parse counts as the zero Addr, one shared client.
func clientOf(r *http.Request) netip.Addr {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(ipv6ClientBits)
		a = p.Addr()
	}
	return a
}
