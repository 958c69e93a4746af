package hostcall

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/credentials"
	"github.com/osohost/osohost/host/plugin"
)

// Credentials returns the credential host function of ABI v1.2
// (abi.ImportCredential) over p, for [plugin.EngineOptions].HostFunctions.
// p is normally the plugin's [credentials.Cache], whose allowlist decides
// which names the plugin is granted; a nil p grants nothing, so a plugin
// that imports the function still loads. Each call uses the running export
// call's context ([plugin.CallContext]), so the request's deadline bounds
// the lookup. The function has an Extism form too
// ([plugin.HostFunction].Extism; the contract is in extism.go), with the
// same grant, limits, logging and statuses.
//
// log receives refusals and failures, at warn, with the credential's name
// and never its token, at a bounded rate; nil discards them. The function
// is safe for concurrent use by every instance of every module of the
// engine.
func Credentials(p credentials.Provider, log *slog.Logger) []plugin.HostFunction {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &credential{p: p, limitedLog: newLimitedLog(log, "host_function", abi.ImportCredential)}
	return []plugin.HostFunction{withExtism(hostFunction(abi.ImportCredential, 4, h.credential), h.credentialJSON, extismSmallRequest)}
}

// credential implements the credential host function.
type credential struct {
	p credentials.Provider // nil: nothing granted
	limitedLog
}

// credentialOverhead is what the Credential encoding adds to the token and
// its type: two lengths and the expiry.
const credentialOverhead = 4 + 4 + 8

// credential implements oso.credential(name_ptr, name_len, out_ptr,
// out_cap). The checks run in the ABI's order: a running call; the name's
// length and place; the output buffer's place; the grant and the lookup;
// the output buffer's size. Nothing is written unless the call succeeds.
func (h *credential) credential(ctx context.Context, mod api.Module, stack []uint64) {
	rctx := plugin.CallContext(ctx)
	if rctx == nil {
		ret(stack, int32(abi.StatusNotAllowed))
		return
	}
	mem := mod.Memory()
	namev, st := readPair(mem, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), abi.MaxCredentialNameBytes)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	name := string(namev) // a copy: the lookup must not see guest memory
	outPtr, outCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if st := checkOut(mem, outPtr, outCap); st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	c, st := h.resolve(rctx, name)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	token := c.Token.Reveal()
	tokenType := c.TokenType
	size := len(token) + len(tokenType) + credentialOverhead
	if size > int(outCap) {
		ret(stack, int32(abi.StatusTooSmall))
		return
	}
	// Encoded straight into the guest's buffer (checked above, and the
	// guest does not run meanwhile): no copy of the token is made in host
	// memory.
	dst, ok := mem.Read(outPtr, uint32(size))
	if !ok {
		ret(stack, int32(abi.StatusBadPointer))
		return
	}
	if b := abi.AppendCredential(dst[:0], token, tokenType, uint64(c.ExpiresAtMS())); len(b) != size || &b[0] != &dst[0] {
		ret(stack, int32(abi.StatusUnavailable)) // unreachable: the size is exact
		return
	}
	ret(stack, int32(size))
}

// resolve is the core of credential: the name's length, the grant and
// the lookup, and the ABI's limits on the credential it answers. The
// token is read with [credentials.Token.Reveal] where it is encoded, and
// never logged.
func (h *credential) resolve(ctx context.Context, name string) (credentials.Credential, abi.Status) {
	if len(name) > abi.MaxCredentialNameBytes {
		return credentials.Credential{}, abi.StatusTooLarge
	}
	if h.p == nil {
		h.logf(ctx, slog.LevelWarn, "credential refused: no credentials are configured", "credential", name)
		return credentials.Credential{}, abi.StatusNotAllowed
	}
	c, err := h.p.Resolve(ctx, name)
	if err != nil {
		return credentials.Credential{}, h.fail(ctx, name, err)
	}
	if n := c.Token.Len(); n == 0 || n+len(c.TokenType)+credentialOverhead > abi.MaxCredentialBytes {
		h.logf(ctx, slog.LevelError, "credential provider answered a credential the ABI cannot carry",
			"credential", name, "token_bytes", n, "token_type_bytes", len(c.TokenType))
		return credentials.Credential{}, abi.StatusUnavailable
	}
	return c, abi.StatusOK
}

// fail maps a provider error to the status the guest sees and logs it:
// what was asked and why it failed, never a token.
func (h *credential) fail(ctx context.Context, name string, err error) abi.Status {
	switch {
	case errors.Is(err, credentials.ErrNotAllowed):
		h.logf(ctx, slog.LevelWarn, "credential refused: not granted to the plugin", "credential", name)
		return abi.StatusNotAllowed
	case errors.Is(err, credentials.ErrNotFound):
		h.logf(ctx, slog.LevelWarn, "credential refused: not found", "credential", name)
		return abi.StatusNotFound
	case errors.Is(err, credentials.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil:
		h.logf(ctx, slog.LevelWarn, "credential unavailable", "credential", name, "err", err)
		return abi.StatusUnavailable
	}
	h.logf(ctx, slog.LevelError, "credential provider failed", "credential", name, "err", err)
	return abi.StatusUnavailable
}
