package hostcall

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/signing"
)

// Policy restricts what plugins may do with the signer. It is checked
// before the signer is called; a refused attempt is logged (host function,
// key id, key type) and answered abi.StatusNotAllowed. The zero value
// allows everything.
type Policy struct {
	// AllowedTypes lists the key types plugins may generate, list, read
	// and sign with; nil or empty allows every type. Checking the type of
	// a key named by id costs one signer lookup per key id, cached.
	AllowedTypes []signing.KeyType
	// AllowedKeyIDs lists the only keys plugins may use; nil or empty
	// allows every key. When it is set, key_list lists only these keys
	// and key_generate is refused: a new key could never be used.
	AllowedKeyIDs []string
}

// Signing returns the signing host functions of ABI v1.1 (key_generate,
// key_list, key_public, sign, sign_many; abi/SPEC.md §6.5–6.10) over s, for
// [plugin.EngineOptions].HostFunctions. Each call uses the running export
// call's context ([plugin.CallContext]), so the request's deadline and
// values reach the signer. Each function has an Extism form too
// ([plugin.HostFunction].Extism; the contract is in extism.go), with the
// same policy, limits, logging and statuses. log receives refusals and
// backend failures; nil discards them. The functions are safe for
// concurrent use by every instance of every module of the engine.
func Signing(s signing.Signer, log *slog.Logger, pol Policy) []plugin.HostFunction {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &signer{s: s, limitedLog: newLimitedLog(log)}
	all := map[signing.KeyType]bool{}
	for _, t := range pol.AllowedTypes {
		all[t] = true
	}
	if len(pol.AllowedTypes) > 0 && !(all[signing.Secp256k1] && all[signing.Ed25519]) {
		h.types = all
	}
	if len(pol.AllowedKeyIDs) > 0 {
		h.ids = map[string]bool{}
		for _, id := range pol.AllowedKeyIDs {
			h.ids[id] = true
		}
	}
	return []plugin.HostFunction{
		withExtism(hostFunction(abi.ImportKeyGenerate, 3, h.keyGenerate), h.keyGenerateJSON, extismSmallRequest),
		withExtism(hostFunction(abi.ImportKeyList, 3, h.keyList), h.keyListJSON, extismSmallRequest),
		withExtism(hostFunction(abi.ImportKeyPublic, 4, h.keyPublic), h.keyPublicJSON, extismSmallRequest),
		withExtism(hostFunction(abi.ImportSign, 6, h.sign), h.signJSON, extismSignRequest),
		withExtism(hostFunction(abi.ImportSignMany, 4, h.signMany), h.signManyJSON, extismSignManyRequest),
	}
}

func hostFunction(name string, params int, fn api.GoModuleFunc) plugin.HostFunction {
	ps := make([]api.ValueType, params)
	for i := range ps {
		ps[i] = api.ValueTypeI32
	}
	return plugin.HostFunction{Name: name, Params: ps, Results: []api.ValueType{api.ValueTypeI32}, Fn: fn}
}

// signer implements the signing host functions.
type signer struct {
	s     signing.Signer
	types map[signing.KeyType]bool // nil: every type
	ids   map[string]bool          // nil: every key
	limitedLog

	mu        sync.Mutex
	typeCache map[string]signing.KeyType // key id → type, when types is set
}

// maxTypeCache bounds the key-type cache; it is emptied when full.
const maxTypeCache = 4096

func toKeyType(t abi.KeyType) (signing.KeyType, bool) {
	switch t {
	case abi.KeySecp256k1:
		return signing.Secp256k1, true
	case abi.KeyEd25519:
		return signing.Ed25519, true
	}
	return "", false
}

func fromKeyType(t signing.KeyType) (abi.KeyType, bool) {
	switch t {
	case signing.Secp256k1:
		return abi.KeySecp256k1, true
	case signing.Ed25519:
		return abi.KeyEd25519, true
	}
	return 0, false
}

// typedOut decodes the (type, out_ptr, out_cap) arguments key_generate and
// key_list share, in the order the ABI checks them: a running call, a known
// key type, then an output buffer inside linear memory.
func typedOut(ctx context.Context, mod api.Module, stack []uint64) (rctx context.Context, t signing.KeyType, mem api.Memory, outPtr, outCap uint32, st abi.Status) {
	if rctx = plugin.CallContext(ctx); rctx == nil {
		return nil, "", nil, 0, 0, abi.StatusNotAllowed
	}
	t, ok := toKeyType(abi.KeyType(api.DecodeI32(stack[0])))
	if !ok {
		return nil, "", nil, 0, 0, abi.StatusBadArgument
	}
	outPtr, outCap = api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	mem = mod.Memory()
	if st := checkOut(mem, outPtr, outCap); st != abi.StatusOK {
		return nil, "", nil, 0, 0, st
	}
	return rctx, t, mem, outPtr, outCap, abi.StatusOK
}

// keyGenerate implements oso.key_generate(type, out_ptr, out_cap).
func (h *signer) keyGenerate(ctx context.Context, mod api.Module, stack []uint64) {
	rctx, t, mem, outPtr, outCap, st := typedOut(ctx, mod, stack)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	if outCap < abi.KeyInfoMaxBytes {
		ret(stack, int32(abi.StatusTooSmall))
		return
	}
	k, st := h.generate(rctx, t)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	b := abi.AppendKeyInfo(make([]byte, 0, 8+len(k.ID)+len(k.PublicKey)), k.ID, k.PublicKey)
	ret(stack, write(mem, outPtr, b))
}

// generate is the core of key_generate, once its arguments are decoded:
// the policy, the backend, and the ABI's limits on the key it answers.
func (h *signer) generate(ctx context.Context, t signing.KeyType) (signing.Key, abi.Status) {
	const fn = abi.ImportKeyGenerate
	if !h.typeAllowed(t) {
		h.refuse(ctx, fn, "", t, "key type not allowed")
		return signing.Key{}, abi.StatusNotAllowed
	}
	if h.ids != nil {
		h.refuse(ctx, fn, "", t, "key ids are fixed by policy")
		return signing.Key{}, abi.StatusNotAllowed
	}
	k, err := h.s.GenerateKey(ctx, t)
	if err != nil {
		return signing.Key{}, h.fail(ctx, fn, err)
	}
	if len(k.ID) > abi.MaxKeyIDBytes || len(k.PublicKey) > abi.MaxPublicKeyBytes {
		h.logf(ctx, slog.LevelError, "signing backend returned a key over the ABI limits", "host_function", fn, "key_type", string(t), "key_id_bytes", len(k.ID), "public_key_bytes", len(k.PublicKey))
		return signing.Key{}, abi.StatusUnavailable
	}
	h.remember(k.ID, t)
	return k, abi.StatusOK
}

// keyList implements oso.key_list(type, out_ptr, out_cap).
func (h *signer) keyList(ctx context.Context, mod api.Module, stack []uint64) {
	rctx, t, mem, outPtr, outCap, st := typedOut(ctx, mod, stack)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	ids, st := h.list(rctx, t)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	if outCap < 4 {
		ret(stack, int32(abi.StatusTooSmall))
		return
	}
	size := 4
	for _, id := range ids {
		size += 4 + len(id)
	}
	if size > int(outCap) {
		ret(stack, int32(abi.StatusTooSmall)) // nothing written
		return
	}
	b := make([]byte, 4, size)
	for _, id := range ids {
		b = abi.AppendString(b, id)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(ids)))
	ret(stack, write(mem, outPtr, b))
}

// list is the core of key_list: the policy, the backend, and the ids a
// plugin may see, in the backend's (sorted) order.
func (h *signer) list(ctx context.Context, t signing.KeyType) ([]string, abi.Status) {
	const fn = abi.ImportKeyList
	if !h.typeAllowed(t) {
		h.refuse(ctx, fn, "", t, "key type not allowed")
		return nil, abi.StatusNotAllowed
	}
	ids, err := h.s.ListKeys(ctx, t)
	if err != nil {
		return nil, h.fail(ctx, fn, err)
	}
	// A new slice: the backend's is not ours to change.
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		// An id longer than the ABI allows could never be named by the
		// guest; one outside the policy must not be seen.
		if len(id) <= abi.MaxKeyIDBytes && h.idAllowed(id) {
			out = append(out, id)
		}
	}
	return out, abi.StatusOK
}

// keyPublic implements oso.key_public(id_ptr, id_len, out_ptr, out_cap).
func (h *signer) keyPublic(ctx context.Context, mod api.Module, stack []uint64) {
	rctx := plugin.CallContext(ctx)
	if rctx == nil {
		ret(stack, int32(abi.StatusNotAllowed))
		return
	}
	mem := mod.Memory()
	idv, st := readPair(mem, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), abi.MaxKeyIDBytes)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	id := string(idv)
	outPtr, outCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if st := checkOut(mem, outPtr, outCap); st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	k, at, st := h.public(rctx, id)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	if 8+len(k.PublicKey) > int(outCap) {
		ret(stack, int32(abi.StatusTooSmall))
		return
	}
	b := abi.AppendPublicKey(make([]byte, 0, 8+len(k.PublicKey)), at, k.PublicKey)
	ret(stack, write(mem, outPtr, b))
}

// public is the core of key_public: the id's length and the policy on it,
// the backend, the ABI's limits on its answer, and the policy on the key's
// type.
func (h *signer) public(ctx context.Context, id string) (signing.Key, abi.KeyType, abi.Status) {
	const fn = abi.ImportKeyPublic
	if len(id) > abi.MaxKeyIDBytes {
		return signing.Key{}, 0, abi.StatusTooLarge
	}
	if !h.idAllowed(id) {
		h.refuse(ctx, fn, id, "", "key id not allowed")
		return signing.Key{}, 0, abi.StatusNotAllowed
	}
	k, err := h.s.PublicKey(ctx, id)
	if err != nil {
		return signing.Key{}, 0, h.fail(ctx, fn, err)
	}
	at, ok := fromKeyType(k.Type)
	if !ok || len(k.PublicKey) > abi.MaxPublicKeyBytes {
		h.logf(ctx, slog.LevelError, "signing backend returned a key the ABI cannot describe", "host_function", fn, "key_id", id, "key_type", string(k.Type), "public_key_bytes", len(k.PublicKey))
		return signing.Key{}, 0, abi.StatusUnavailable
	}
	h.remember(id, k.Type)
	if !h.typeAllowed(k.Type) {
		h.refuse(ctx, fn, id, k.Type, "key type not allowed")
		return signing.Key{}, 0, abi.StatusNotAllowed
	}
	return k, at, abi.StatusOK
}

// sign implements oso.sign(id_ptr, id_len, data_ptr, data_len, out_ptr,
// out_cap).
func (h *signer) sign(ctx context.Context, mod api.Module, stack []uint64) {
	rctx := plugin.CallContext(ctx)
	if rctx == nil {
		ret(stack, int32(abi.StatusNotAllowed))
		return
	}
	mem := mod.Memory()
	idPtr, idLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	dataPtr, dataLen := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	outPtr, outCap := api.DecodeU32(stack[4]), api.DecodeU32(stack[5])
	idv, st := readPair(mem, idPtr, idLen, abi.MaxKeyIDBytes)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	datav, st := readPair(mem, dataPtr, dataLen, abi.MaxSignDataBytes)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	if st := checkOut(mem, outPtr, outCap); st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	if outCap < abi.SignatureBytes {
		ret(stack, int32(abi.StatusTooSmall))
		return
	}
	// Copies: the signer may keep what it is given (audit) and must not
	// see guest memory.
	sig, st := h.signOne(rctx, string(idv), bytes.Clone(datav))
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	ret(stack, write(mem, outPtr, sig))
}

// signOne is the core of sign: the lengths, the policy, the backend, and
// the size of the signature it answers. data must be the caller's own
// copy: the signer may keep it.
func (h *signer) signOne(ctx context.Context, id string, data []byte) ([]byte, abi.Status) {
	const fn = abi.ImportSign
	if len(id) > abi.MaxKeyIDBytes || len(data) > abi.MaxSignDataBytes {
		return nil, abi.StatusTooLarge
	}
	if st := h.allowed(ctx, fn, id); st != abi.StatusOK {
		return nil, st
	}
	sig, err := h.s.Sign(ctx, id, data)
	if err != nil {
		return nil, h.fail(ctx, fn, err)
	}
	if len(sig) != abi.SignatureBytes {
		h.logf(ctx, slog.LevelError, "signing backend returned a signature of the wrong size", "host_function", fn, "key_id", id, "bytes", len(sig))
		return nil, abi.StatusUnavailable
	}
	return sig, abi.StatusOK
}

// signMany implements oso.sign_many(in_ptr, in_len, out_ptr, out_cap).
func (h *signer) signMany(ctx context.Context, mod api.Module, stack []uint64) {
	rctx := plugin.CallContext(ctx)
	if rctx == nil {
		ret(stack, int32(abi.StatusNotAllowed))
		return
	}
	mem := mod.Memory()
	inv, st := readPair(mem, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), abi.MaxSignManyInputBytes)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	outPtr, outCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	r, err := abi.NewSignRequestReader(inv)
	if err != nil {
		ret(stack, int32(abi.StatusBadArgument))
		return
	}
	n := r.Len()
	if n > abi.MaxSignBatch {
		ret(stack, int32(abi.StatusTooLarge))
		return
	}
	if st := checkOut(mem, outPtr, outCap); st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	if int64(outCap) < int64(abi.SignManyOutputBytes(n)) {
		ret(stack, int32(abi.StatusTooSmall))
		return
	}
	// One copy of the whole input; the requests' data are views into it.
	in := bytes.Clone(inv)
	r, _ = abi.NewSignRequestReader(in)
	reqs := make([]signing.SignRequest, 0, n)
	prev := ""
	for {
		idv, data, ok := r.Next()
		if !ok {
			break
		}
		// A batch usually names one key: one string per run of an id.
		if len(reqs) == 0 || string(idv) != prev {
			prev = string(idv)
		}
		reqs = append(reqs, signing.SignRequest{KeyID: prev, Data: data})
	}
	if r.Err() != nil {
		ret(stack, int32(abi.StatusBadArgument))
		return
	}
	status, sigs, st := h.signBatch(rctx, reqs)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	out := make([]byte, 0, abi.SignManyOutputBytes(n))
	out = abi.AppendU32(out, uint32(n))
	for i := range n {
		out = abi.AppendSignResult(out, status[i], sigs[i])
	}
	ret(stack, write(mem, outPtr, out))
}

// signBatch is the core of sign_many: the batch's size, then for each
// request its lengths and the policy, then one backend call for the
// requests left, and the size of each signature. It answers one status
// and one signature (nil on failure) per request, in order, or a status
// for the batch as a whole. The requests' data must be the caller's own
// copies: the signer may keep them.
func (h *signer) signBatch(ctx context.Context, reqs []signing.SignRequest) ([]abi.Status, [][]byte, abi.Status) {
	const fn = abi.ImportSignMany
	n := len(reqs)
	if n > abi.MaxSignBatch {
		return nil, nil, abi.StatusTooLarge
	}
	status := make([]abi.Status, n)
	todo := make([]signing.SignRequest, 0, n)
	idx := make([]int, 0, n) // todo[k] answers request idx[k]
	var refusedID string
	refused := 0
	// A batch usually names one key: check each run of the same id once.
	prev, prevSt, started := "", abi.StatusOK, false
	for i, r := range reqs {
		if len(r.KeyID) > abi.MaxKeyIDBytes || len(r.Data) > abi.MaxSignDataBytes {
			status[i] = abi.StatusTooLarge
			continue
		}
		if !started || r.KeyID != prev {
			prev, started = r.KeyID, true
			prevSt = h.allowedQuiet(ctx, prev)
		}
		if st := prevSt; st != abi.StatusOK {
			status[i] = st
			if st == abi.StatusNotAllowed {
				if refused == 0 {
					refusedID = r.KeyID
				}
				refused++
			}
			continue
		}
		todo = append(todo, r)
		idx = append(idx, i)
	}
	if refused > 0 {
		h.refuse(ctx, fn, refusedID, h.cachedType(refusedID), "key not allowed", "refused_requests", refused)
	}
	sigs := make([][]byte, n)
	if len(todo) == 0 {
		return status, sigs, abi.StatusOK
	}
	results, err := h.s.SignMany(ctx, todo)
	if err != nil {
		return nil, nil, h.fail(ctx, fn, err)
	}
	if len(results) != len(todo) {
		h.logf(ctx, slog.LevelError, "signing backend answered a batch with the wrong number of results", "host_function", fn, "requests", len(todo), "results", len(results))
		return nil, nil, abi.StatusUnavailable
	}
	for k, res := range results {
		i := idx[k]
		switch {
		case res.Err != nil:
			status[i] = h.fail(ctx, fn, res.Err)
		case len(res.Signature) != abi.SignatureBytes:
			h.logf(ctx, slog.LevelError, "signing backend returned a signature of the wrong size", "host_function", fn, "key_id", todo[k].KeyID, "bytes", len(res.Signature))
			status[i] = abi.StatusUnavailable
		default:
			sigs[i] = res.Signature
		}
	}
	return status, sigs, abi.StatusOK
}

// typeAllowed reports whether the policy allows key type t.
func (h *signer) typeAllowed(t signing.KeyType) bool {
	return h.types == nil || h.types[t]
}

// idAllowed reports whether the policy allows key id.
func (h *signer) idAllowed(id string) bool {
	return h.ids == nil || h.ids[id]
}

// allowed checks the policy for signing with key id, logging a refusal.
func (h *signer) allowed(ctx context.Context, fn, id string) abi.Status {
	st := h.allowedQuiet(ctx, id)
	if st == abi.StatusNotAllowed {
		h.refuse(ctx, fn, id, h.cachedType(id), "key not allowed")
	}
	return st
}

// allowedQuiet checks the policy for signing with key id. When key types
// are restricted, the key's type is looked up (once per id) and an unknown
// key gives StatusNotFound.
func (h *signer) allowedQuiet(ctx context.Context, id string) abi.Status {
	if !h.idAllowed(id) {
		return abi.StatusNotAllowed
	}
	if h.types == nil {
		return abi.StatusOK
	}
	t := h.cachedType(id)
	if t == "" {
		k, err := h.s.PublicKey(ctx, id)
		if err != nil {
			return h.fail(ctx, "key type lookup", err)
		}
		t = k.Type
		h.remember(id, t)
	}
	if !h.types[t] {
		return abi.StatusNotAllowed
	}
	return abi.StatusOK
}

// cachedType returns the remembered type of key id, or "".
func (h *signer) cachedType(id string) signing.KeyType {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.typeCache[id]
}

// remember caches the type of key id, when types are restricted.
func (h *signer) remember(id string, t signing.KeyType) {
	if h.types == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.typeCache == nil || len(h.typeCache) >= maxTypeCache {
		h.typeCache = make(map[string]signing.KeyType)
	}
	h.typeCache[id] = t
}

// fail maps a signer error to the status the guest sees. Errors of the
// documented kinds are the backend's answer and are not logged here;
// anything else is logged and answered StatusUnavailable.
func (h *signer) fail(ctx context.Context, fn string, err error) abi.Status {
	switch {
	case errors.Is(err, signing.ErrUnknownKey):
		return abi.StatusNotFound
	case errors.Is(err, signing.ErrBadInput), errors.Is(err, signing.ErrUnsupportedKey):
		return abi.StatusBadArgument
	case errors.Is(err, signing.ErrNotAllowed):
		return abi.StatusNotAllowed
	case errors.Is(err, signing.ErrUnavailable):
		return abi.StatusUnavailable
	case ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The call is ending: the runtime reports why itself.
		return abi.StatusUnavailable
	}
	h.logf(ctx, slog.LevelError, "signing backend failed", "host_function", fn, "err", err)
	return abi.StatusUnavailable
}

// refuse logs a policy refusal: what was asked, never data.
func (h *signer) refuse(ctx context.Context, fn, id string, t signing.KeyType, why string, more ...any) {
	args := append([]any{"host_function", fn, "key_id", id, "key_type", string(t), "reason", why}, more...)
	h.logf(ctx, slog.LevelWarn, "signing refused by policy", args...)
}

// rateLimiter is a token bucket; the caller serialises access.
type rateLimiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (r *rateLimiter) allow(now time.Time) bool {
	if r.last.IsZero() {
		r.tokens = r.burst
	} else {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
