//go:build !wasip1

package oso

import (
	"sync"

	"github.com/osohost/osohost/abi"
)

// Outside WebAssembly, Credential answers from a table private to the
// process that plugin tests fill with SetTestCredential: a name set there
// is granted, any other is not found. The host's statuses, limits and
// encoding are followed so that the SDK's code paths are the same.

var nativeCreds struct {
	mu    sync.Mutex
	m     map[string]Token
	fault int32 // tests: when non-zero, credential returns it
}

// SetTestCredential makes [Credential](name) return t in programs built
// outside WebAssembly, such as a plugin's unit tests; a zero Token removes
// the name. It does not exist in a plugin module: there the host decides.
func SetTestCredential(name string, t Token) {
	nativeCreds.mu.Lock()
	defer nativeCreds.mu.Unlock()
	if t == (Token{}) {
		delete(nativeCreds.m, name)
		return
	}
	if nativeCreds.m == nil {
		nativeCreds.m = map[string]Token{}
	}
	nativeCreds.m[name] = t
}

func hostCredential(name string, out []byte) int32 {
	nativeCreds.mu.Lock()
	defer nativeCreds.mu.Unlock()
	switch {
	case nativeCreds.fault != 0:
		return nativeCreds.fault
	case len(name) > abi.MaxCredentialNameBytes:
		return int32(abi.StatusTooLarge)
	}
	t, ok := nativeCreds.m[name]
	if !ok {
		return int32(abi.StatusNotFound)
	}
	exp := uint64(0)
	if !t.ExpiresAt.IsZero() {
		exp = uint64(max(t.ExpiresAt.UnixMilli(), 1))
	}
	b := abi.AppendCredential(nil, t.Token, t.TokenType, exp)
	if len(b) > len(out) {
		return int32(abi.StatusTooSmall)
	}
	return int32(copy(out, b))
}
