// Extism forms of the host functions
//
// Every host function of this package is also offered to Extism-ABI
// modules (plugins built with an Extism PDK and run through the Extism
// runtime): host/plugin imports it into the namespace "extism:host/user" as
// "oso_" + its native name, with the signature (i64) -> i64. The module
// passes the offset of an Extism memory block holding a request, one JSON
// object; it receives the offset of a block holding the response, one
// compact JSON object. The Extism form shares the native form's core:
// the same policy, ABI limits, quotas, backend calls and log lines, and
// the status the native form gives for a fault. It works only while an
// export call runs, like the native form; outside one, host/plugin
// answers "not_allowed" itself.
//
// Requests and responses (binary values are standard base64 with padding;
// key ids, keys and names are JSON strings, so valid UTF-8):
//
//	function          request                                     success response
//	oso_key_generate  {"type":"ed25519"|"secp256k1"}              {"key_id":"…","type":"ed25519","public_key":"<b64>"}
//	oso_key_list      {"type":"ed25519"|"secp256k1"}              {"key_ids":["…",…]}
//	oso_key_public    {"key_id":"…"}                              {"key_id":"…","type":"ed25519","public_key":"<b64>"}
//	oso_sign          {"key_id":"…","data":"<b64>"}               {"signature":"<b64>"}
//	oso_sign_many     {"requests":[{"key_id":"…","data":"<b64>"},…]}
//	                                                              {"results":[{"signature":"<b64>"} or {"error":{…}},…]}
//	oso_credential    {"name":"…"}                                {"token":"…","token_type":"…","expires_at":<s>}
//	oso_kv_get        {"key":"…"}                                 {"value":"<b64>"}
//	oso_kv_put        {"key":"…","value":"<b64>"}                 {}
//	oso_kv_delete     {"key":"…"}                                 {}
//	oso_kv_list       {"prefix":"…","after":"…","limit":n}        {"keys":["…",…],"more":false}
//
// A failure is answered with an error object instead, whose status and
// name are those of the native [abi.Status] (see [plugin.ExtismError]):
//
//	{"error":{"status":-7,"name":"not_found","message":"unknown key"}}
//
// The message is short and never holds a token, key material, signed data
// or a state value.
//
// Requests are decoded strictly: anything but one JSON object, an unknown,
// duplicate, missing or mistyped member, invalid UTF-8 (a lone surrogate
// escape included), a binary member that is not standard base64 with
// padding, or data after the object is answered "bad_argument". Every
// string and array is bounded by the ABI limit of its native argument and
// "too_large" when over it. Faults are answered in this order: a state
// function without a transaction ("not_allowed", as natively, before the
// request is read); the request's form ("bad_argument"); each member's
// length, in the order of the native arguments ("too_large"); then the
// checks of the native core, in its order.
//
// The request as a whole is bounded by
// [plugin.HostFunction].ExtismMaxRequest, set for each function to hold
// its largest valid request even with every string written in \u
// escapes: 64 KiB, except oso_sign and oso_kv_put (the base64 of 1 MiB
// plus 16 KiB, 1,414,488 bytes) and oso_sign_many (the base64 of 16 MiB
// plus 512 bytes a request plus 16 KiB, 27,506,008 bytes).
//
// Per function:
//
//   - oso_key_generate, oso_key_list, oso_key_public: "type" is the key's
//     type in lower case. key_list answers the ids the native form lists
//     (sorted, filtered by the policy), less any id that is not valid
//     UTF-8, which no request could name.
//   - oso_sign: "key_id" at most abi.MaxKeyIDBytes, "data" at most
//     abi.MaxSignDataBytes once decoded.
//   - oso_sign_many: at most abi.MaxSignBatch requests, whose key ids and
//     data take at most abi.MaxSignManyInputBytes in the native encoding
//     (4 + Σ(8 + key id + data)), else the whole call is "too_large". One
//     result per request, in order, each the signature or the error object
//     of that request's status (native: a SignResult); the requests left
//     after the policy checks are signed in one backend call. An empty
//     array is valid.
//   - oso_credential: "name" at most abi.MaxCredentialNameBytes.
//     "expires_at" is the expiry in Unix seconds (rounded down, at least
//     1), 0 when the credential does not expire. "token_type" may be "".
//   - oso_kv_get, oso_kv_put, oso_kv_delete: "key" at most
//     abi.MaxKVKeyBytes, "value" at most abi.MaxKVValueBytes once decoded.
//     An absent key is "not_found" for get and delete.
//   - oso_kv_list: every member optional: "prefix" and "after" (each at
//     most abi.MaxKVKeyBytes; default "") and "limit" (an integer without
//     fraction or exponent, at least 1; default and maximum
//     [StateLimits].MaxListKeys, a larger value is lowered to it). The keys that start with prefix and sort after after, in byte
//     order, at most limit of them and as many as fit in 1 MiB of
//     response. "more" is true when keys follow the last one answered: the
//     module pages by passing that key as "after". Keys that are not valid
//     UTF-8 cannot be JSON strings: they are left out, and the number left
//     out before the last key answered (or up to the end, when "more" is
//     false) is given as "skipped":n, a member present only when n > 0.
//     Paging on the last key answered sees each key exactly once. Keys
//     left out are scanned past up to the next key answered, so a run of
//     them is bounded by the namespace's key quota, not by MaxListKeys.
//
// The response of oso_credential holds the token: the module must treat
// it as a native guest treats the Credential encoding.

package hostcall

import (
	"context"
	"log/slog"
	"strconv"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/credentials"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/state"
)

// Bounds on the request JSON of the Extism forms ([plugin.HostFunction]
// ExtismMaxRequest): each holds the largest valid request, even with every
// string character written as a \u escape (6 bytes a byte), with room to
// spare for whitespace.
const (
	// extismSmallRequest bounds the requests of short strings only, the
	// largest two state keys (2 × 6 × 512 bytes): the default bound.
	extismSmallRequest = plugin.DefaultExtismMaxRequest
	// extismSlack is room for member names, short members and
	// whitespace beside a large member.
	extismSlack = 16 << 10
	// extismSignRequest bounds sign: a key id and the base64 of
	// abi.MaxSignDataBytes.
	extismSignRequest = (abi.MaxSignDataBytes+2)/3*4 + extismSlack
	// extismSignManyRequest bounds sign_many: the base64 of
	// abi.MaxSignManyInputBytes, and per request its member names, an
	// escaped key id and base64's rounding (24 + 6 × 64 + 4 < 512 bytes).
	extismSignManyRequest = (abi.MaxSignManyInputBytes+2)/3*4 + abi.MaxSignBatch*512 + extismSlack
	// extismKVPutRequest bounds kv_put: an escaped key (6 × 512 bytes)
	// and the base64 of abi.MaxKVValueBytes.
	extismKVPutRequest = (abi.MaxKVValueBytes+2)/3*4 + extismSlack
)

// extismMaxListBytes bounds the keys of one oso_kv_list response; a key
// takes at most 6 × abi.MaxKVKeyBytes + 3 bytes, so one always fits.
const extismMaxListBytes = 1 << 20

// withExtism sets the Extism form of f.
func withExtism(f plugin.HostFunction, fn plugin.ExtismFunc, maxRequest int) plugin.HostFunction {
	f.Extism, f.ExtismMaxRequest = fn, maxRequest
	return f
}

// extismFail answers a fault of an Extism form.
func extismFail(st abi.Status, msg string) []byte { return plugin.ExtismError(st, msg) }

// overLimit is the message of a member over its ABI limit.
func overLimit(member string, limit int) string {
	return "request: member " + strconv.Quote(member) + " is over " + strconv.Itoa(limit) + " bytes"
}

// keyTypeName is the JSON name of a key type.
func keyTypeName(t abi.KeyType) string {
	switch t {
	case abi.KeySecp256k1:
		return "secp256k1"
	case abi.KeyEd25519:
		return "ed25519"
	}
	return ""
}

// keyTypeFromName is the inverse of keyTypeName.
func keyTypeFromName(s string) (signing.KeyType, bool) {
	switch s {
	case "secp256k1":
		return signing.Secp256k1, true
	case "ed25519":
		return signing.Ed25519, true
	}
	return "", false
}

// signingMessage is the message of a signing function's status.
func signingMessage(st abi.Status) string {
	switch st {
	case abi.StatusTooLarge:
		return "key id or data over its limit"
	case abi.StatusBadArgument:
		return "data or key type not supported for this key"
	case abi.StatusNotAllowed:
		return "not allowed by the signing policy"
	case abi.StatusNotFound:
		return "unknown key"
	case abi.StatusUnavailable:
		return "signing backend unavailable"
	}
	return plugin.StatusName(st)
}

// decodeKeyType decodes the {"type": …} request of key_generate and
// key_list.
func decodeKeyType(req []byte) (signing.KeyType, abi.Status, string) {
	var name string
	if st, msg := decodeRequest(req, jsonField{name: "type", str: &name}); st != abi.StatusOK {
		return "", st, msg
	}
	t, ok := keyTypeFromName(name)
	if !ok {
		return "", abi.StatusBadArgument, `request: "type" must be "ed25519" or "secp256k1"`
	}
	return t, abi.StatusOK, ""
}

// appendKey appends the members key_id, type and public_key.
func appendKey(b []byte, id string, t abi.KeyType, pub []byte) []byte {
	b = append(b, `{"key_id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"type":"`...)
	b = append(b, keyTypeName(t)...)
	b = append(b, `","public_key":`...)
	b = appendJSONBase64(b, pub)
	return append(b, '}')
}

// keyGenerateJSON is the Extism form of key_generate.
func (h *signer) keyGenerateJSON(ctx context.Context, req []byte) []byte {
	t, st, msg := decodeKeyType(req)
	if st != abi.StatusOK {
		return extismFail(st, msg)
	}
	k, st := h.generate(ctx, t)
	if st != abi.StatusOK {
		return extismFail(st, signingMessage(st))
	}
	if !utf8.ValidString(k.ID) {
		h.logf(ctx, slog.LevelError, "signing backend returned a key id JSON cannot carry", "host_function", abi.ImportKeyGenerate, "key_type", string(t))
		return extismFail(abi.StatusUnavailable, signingMessage(abi.StatusUnavailable))
	}
	at, _ := fromKeyType(t)
	return appendKey(make([]byte, 0, 64+2*len(k.ID)+len(k.PublicKey)*4/3), k.ID, at, k.PublicKey)
}

// keyListJSON is the Extism form of key_list.
func (h *signer) keyListJSON(ctx context.Context, req []byte) []byte {
	t, st, msg := decodeKeyType(req)
	if st != abi.StatusOK {
		return extismFail(st, msg)
	}
	ids, st := h.list(ctx, t)
	if st != abi.StatusOK {
		return extismFail(st, signingMessage(st))
	}
	b := append(make([]byte, 0, 16+len(ids)*(abi.MaxKeyIDBytes/2+3)), `{"key_ids":[`...)
	n := 0
	for _, id := range ids {
		if !utf8.ValidString(id) {
			continue // no request could name it
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, id)
		n++
	}
	return append(b, "]}"...)
}

// keyPublicJSON is the Extism form of key_public.
func (h *signer) keyPublicJSON(ctx context.Context, req []byte) []byte {
	var id string
	if st, msg := decodeRequest(req, jsonField{name: "key_id", str: &id}); st != abi.StatusOK {
		return extismFail(st, msg)
	}
	if len(id) > abi.MaxKeyIDBytes {
		return extismFail(abi.StatusTooLarge, overLimit("key_id", abi.MaxKeyIDBytes))
	}
	k, at, st := h.public(ctx, id)
	if st != abi.StatusOK {
		return extismFail(st, signingMessage(st))
	}
	return appendKey(make([]byte, 0, 64+2*len(id)+len(k.PublicKey)*4/3), id, at, k.PublicKey)
}

// signJSON is the Extism form of sign.
func (h *signer) signJSON(ctx context.Context, req []byte) []byte {
	var id string
	var data []byte
	if st, msg := decodeRequest(req, jsonField{name: "key_id", str: &id}, jsonField{name: "data", b64: &data}); st != abi.StatusOK {
		return extismFail(st, msg)
	}
	if len(id) > abi.MaxKeyIDBytes {
		return extismFail(abi.StatusTooLarge, overLimit("key_id", abi.MaxKeyIDBytes))
	}
	if len(data) > abi.MaxSignDataBytes {
		return extismFail(abi.StatusTooLarge, overLimit("data", abi.MaxSignDataBytes))
	}
	// data is the decoder's copy: the signer may keep it.
	sig, st := h.signOne(ctx, id, data)
	if st != abi.StatusOK {
		return extismFail(st, signingMessage(st))
	}
	b := append(make([]byte, 0, 24+abi.SignatureBytes*4/3), `{"signature":`...)
	b = appendJSONBase64(b, sig)
	return append(b, '}')
}

// signManyJSON is the Extism form of sign_many.
func (h *signer) signManyJSON(ctx context.Context, req []byte) []byte {
	var (
		reqs []signing.SignRequest
		n    int
		size = 4 // of the native SignManyInput
		id   string
		data []byte
	)
	entry := []jsonField{{name: "key_id", str: &id}, {name: "data", b64: &data}}
	each := func(r *jsonRequest) {
		id, data = "", nil
		r.object(entry)
		if r.failed() {
			return
		}
		n++
		size += 8 + len(id) + len(data) // bounded by the request's size
		if n <= abi.MaxSignBatch {
			reqs = append(reqs, signing.SignRequest{KeyID: id, Data: data})
		}
	}
	if st, msg := decodeRequest(req, jsonField{name: "requests", each: each}); st != abi.StatusOK {
		return extismFail(st, msg)
	}
	if size > abi.MaxSignManyInputBytes {
		return extismFail(abi.StatusTooLarge, "request: the batch is over "+strconv.Itoa(abi.MaxSignManyInputBytes)+" bytes")
	}
	if n > abi.MaxSignBatch {
		return extismFail(abi.StatusTooLarge, "request: more than "+strconv.Itoa(abi.MaxSignBatch)+" requests")
	}
	status, sigs, st := h.signBatch(ctx, reqs)
	if st != abi.StatusOK {
		return extismFail(st, signingMessage(st))
	}
	b := append(make([]byte, 0, 16+n*(16+abi.SignatureBytes*4/3)), `{"results":[`...)
	for i := range reqs {
		if i > 0 {
			b = append(b, ',')
		}
		if status[i] != abi.StatusOK {
			b = append(b, extismFail(status[i], signingMessage(status[i]))...)
			continue
		}
		b = append(b, `{"signature":`...)
		b = appendJSONBase64(b, sigs[i])
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// credentialMessage is the message of the credential function's status.
func credentialMessage(st abi.Status) string {
	switch st {
	case abi.StatusTooLarge:
		return "credential name over its limit"
	case abi.StatusNotAllowed:
		return "credential not granted to the plugin"
	case abi.StatusNotFound:
		return "credential not found"
	case abi.StatusUnavailable:
		return "credentials unavailable"
	}
	return plugin.StatusName(st)
}

// credentialJSON is the Extism form of credential.
func (h *credential) credentialJSON(ctx context.Context, req []byte) []byte {
	var name string
	if st, msg := decodeRequest(req, jsonField{name: "name", str: &name}); st != abi.StatusOK {
		return extismFail(st, msg)
	}
	if len(name) > abi.MaxCredentialNameBytes {
		return extismFail(abi.StatusTooLarge, overLimit("name", abi.MaxCredentialNameBytes))
	}
	c, st := h.resolve(ctx, name)
	if st != abi.StatusOK {
		return extismFail(st, credentialMessage(st))
	}
	token := c.Token.Reveal()
	if !utf8.ValidString(token) || !utf8.ValidString(c.TokenType) {
		h.logf(ctx, slog.LevelError, "credential provider answered a credential JSON cannot carry", "credential", name)
		return extismFail(abi.StatusUnavailable, credentialMessage(abi.StatusUnavailable))
	}
	// The token's one host copy is the response itself.
	b := make([]byte, 0, 64+len(token)+len(c.TokenType)+len(token)/8)
	b = append(b, `{"token":`...)
	b = appendJSONString(b, token)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, c.TokenType)
	b = append(b, `,"expires_at":`...)
	b = strconv.AppendInt(b, expiresAtSeconds(c), 10)
	return append(b, '}')
}

// expiresAtSeconds is the expiry of c in Unix seconds, rounded down and
// at least 1; 0 when c does not expire.
func expiresAtSeconds(c credentials.Credential) int64 {
	if c.ExpiresAt.IsZero() {
		return 0
	}
	return max(c.ExpiresAt.Unix(), 1)
}

// stateMessage is the message of a state function's status.
func stateMessage(st abi.Status) string {
	switch st {
	case abi.StatusTooLarge:
		return "key or value over its limit"
	case abi.StatusBadArgument:
		return "empty key"
	case abi.StatusNotAllowed:
		return "state is read-only or absent in this call"
	case abi.StatusLimited:
		return "state quota reached"
	case abi.StatusUnavailable:
		return "state storage unavailable"
	case abi.StatusNotFound:
		return "no such key"
	}
	return plugin.StatusName(st)
}

// decodeKey decodes the {"key": …} request of kv_get and kv_delete.
func decodeKey(req []byte) (string, abi.Status, string) {
	var k string
	if st, msg := decodeRequest(req, jsonField{name: "key", str: &k}); st != abi.StatusOK {
		return "", st, msg
	}
	if len(k) > abi.MaxKVKeyBytes {
		return "", abi.StatusTooLarge, overLimit("key", abi.MaxKVKeyBytes)
	}
	return k, abi.StatusOK, ""
}

// getJSON is the Extism form of kv_get.
func (h *stateFuncs) getJSON(ctx context.Context, req []byte) []byte {
	t := state.TxnFrom(ctx)
	if t == nil {
		return extismFail(abi.StatusNotAllowed, stateMessage(abi.StatusNotAllowed))
	}
	k, st, msg := decodeKey(req)
	if st != abi.StatusOK {
		return extismFail(st, msg)
	}
	v, st := h.getValue(ctx, t, k)
	if st != abi.StatusOK {
		return extismFail(st, stateMessage(st))
	}
	b := append(make([]byte, 0, 16+(len(v)+2)/3*4), `{"value":`...)
	b = appendJSONBase64(b, v)
	return append(b, '}')
}

// putJSON is the Extism form of kv_put.
func (h *stateFuncs) putJSON(ctx context.Context, req []byte) []byte {
	t := state.TxnFrom(ctx)
	if t == nil {
		return extismFail(abi.StatusNotAllowed, stateMessage(abi.StatusNotAllowed))
	}
	var k string
	var v []byte
	if st, msg := decodeRequest(req, jsonField{name: "key", str: &k}, jsonField{name: "value", b64: &v}); st != abi.StatusOK {
		return extismFail(st, msg)
	}
	if len(k) > abi.MaxKVKeyBytes {
		return extismFail(abi.StatusTooLarge, overLimit("key", abi.MaxKVKeyBytes))
	}
	if len(v) > abi.MaxKVValueBytes {
		return extismFail(abi.StatusTooLarge, overLimit("value", abi.MaxKVValueBytes))
	}
	if st := h.putValue(ctx, t, k, v); st != abi.StatusOK {
		return extismFail(st, stateMessage(st))
	}
	return []byte("{}")
}

// deleteJSON is the Extism form of kv_delete.
func (h *stateFuncs) deleteJSON(ctx context.Context, req []byte) []byte {
	t := state.TxnFrom(ctx)
	if t == nil {
		return extismFail(abi.StatusNotAllowed, stateMessage(abi.StatusNotAllowed))
	}
	k, st, msg := decodeKey(req)
	if st != abi.StatusOK {
		return extismFail(st, msg)
	}
	if st := h.deleteKey(ctx, t, k); st != abi.StatusOK {
		return extismFail(st, stateMessage(st))
	}
	return []byte("{}")
}

// listJSON is the Extism form of kv_list.
func (h *stateFuncs) listJSON(ctx context.Context, req []byte) []byte {
	t := state.TxnFrom(ctx)
	if t == nil {
		return extismFail(abi.StatusNotAllowed, stateMessage(abi.StatusNotAllowed))
	}
	var prefix, after string
	limit := uint64(h.maxList)
	if st, msg := decodeRequest(req,
		jsonField{name: "prefix", optional: true, str: &prefix},
		jsonField{name: "after", optional: true, str: &after},
		jsonField{name: "limit", optional: true, num: &limit},
	); st != abi.StatusOK {
		return extismFail(st, msg)
	}
	if len(prefix) > abi.MaxKVKeyBytes {
		return extismFail(abi.StatusTooLarge, overLimit("prefix", abi.MaxKVKeyBytes))
	}
	if len(after) > abi.MaxKVKeyBytes {
		return extismFail(abi.StatusTooLarge, overLimit("after", abi.MaxKVKeyBytes))
	}
	if limit == 0 {
		return extismFail(abi.StatusBadArgument, `request: "limit" must be at least 1`)
	}
	limit = min(limit, uint64(h.maxList))

	b := append(make([]byte, 0, 4<<10), `{"keys":[`...)
	var n uint64
	skipped, pending, more := 0, 0, false
	st := h.keys(ctx, t, prefix, after, func(k string) bool {
		if !utf8.ValidString(k) {
			// Counted once a later key is answered, or at the end: a
			// module paging on its last key sees it again otherwise.
			pending++
			return true
		}
		if n >= limit {
			more = true
			return false
		}
		mark := len(b)
		if n > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		if n > 0 && len(b) > extismMaxListBytes {
			b, more = b[:mark], true
			return false
		}
		n++
		skipped += pending
		pending = 0
		return true
	})
	if st != abi.StatusOK {
		return extismFail(st, stateMessage(st))
	}
	if !more {
		skipped += pending
	}
	b = append(b, `],"more":`...)
	b = strconv.AppendBool(b, more)
	if skipped > 0 {
		b = append(b, `,"skipped":`...)
		b = strconv.AppendInt(b, int64(skipped), 10)
	}
	return append(b, '}')
}
