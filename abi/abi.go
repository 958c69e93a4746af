// Package abi defines the native OSO plugin ABI, version 1.3: the names, codes,
// encodings and limits that a guest module and the osohost runtime share.
//
// The package holds constants and the pure-Go codec of the compact document
// encoding only; it imports nothing but the standard library and contains no
// host logic, so guest SDKs may import it. The prose specification is
// abi/SPEC.md (also published as docs/abi.md).
//
// # Calling convention (summary)
//
// Every value crossing the boundary is an i32. For each call the host asks the
// guest for a buffer with [ExportAlloc], writes the input there in one copy,
// and calls the export with (ptr, len). The guest hands results back with one
// call to the [ImportOutput] host function (one copy into the host) and
// reports failures through [ImportError]; the export's i32 result is
// [ResultOK] on success. Host functions never call back into the guest.
//
// Minor version 1 adds the signing host functions ([ImportKeyGenerate],
// [ImportKeyList], [ImportKeyPublic], [ImportSign], [ImportSignMany]): the
// guest names a key and hands over bytes, the host signs them with a key
// that never enters the guest, and writes the result into a guest buffer.
//
// Minor version 2 adds credentials ([ImportCredential]) and durable state
// ([ImportKVGet], [ImportKVPut], [ImportKVDelete], [ImportKVList]): the
// host resolves secrets and keeps state for the plugin, which never touches
// files or sockets itself.
//
// Minor version 3 adds the plugin's own HTTP routes: a route table handed
// over by [ExportRoutes], requests served by [ExportHandleHTTP] and answered
// with [OutputHTTP] (see http.go).
package abi

import "strconv"

// Version is the ABI major version implemented by this package. A guest
// declares it by exporting the function named [ExportMarker].
const Version = 1

// Minor is the ABI minor version: additions that old guests may ignore. The
// marker export returns the minor version the guest was built against; a
// host runs every guest whose minor version is at most its own.
//
//	0: output, error, log
//	1: key_generate, key_list, key_public, sign, sign_many; StatusTooSmall
//	2: credential, kv_get, kv_put, kv_delete, kv_list
//	3: oso_routes, handle_http; OutputHTTP
const Minor = 3

// ImportModule is the name of the single import module holding every host
// function of this ABI.
const ImportModule = "oso"

// WASIModule is the only other import module a guest may use. The host
// grants just what a language runtime needs to start (random, clocks, exit,
// stdout/stderr as bounded log sinks); there are no files, environment
// variables, arguments or sockets.
const WASIModule = "wasi_snapshot_preview1"

// Guest exports.
const (
	// ExportMarker, func() -> i32, marks a native-ABI v1 module and returns
	// the ABI minor version it was built for.
	ExportMarker = "oso_abi_v1"
	// ExportAlloc, func(size i32) -> i32, returns the address of a guest
	// buffer of at least size bytes that stays valid until the end of the
	// next export call, or 0 when it cannot allocate. The host calls it at
	// most once before each export call; the guest may reuse one buffer.
	ExportAlloc = "oso_alloc"
	// ExportToOSO, func(ptr, len i32) -> i32: documents for the OSO. The
	// input is empty; the output is a DocumentList.
	ExportToOSO = "to_oso"
	// ExportToISV, func(ptr, len i32) -> i32: documents from the OSO. The
	// input is a DocumentList in the compact encoding; the output is any
	// JSON value (or a DocumentList, which the host writes as JSON).
	ExportToISV = "to_isv"
	// ExportStatus, func(ptr, len i32) -> i32: component status. The input
	// is empty; the output is a ComponentStatus.
	ExportStatus = "status"
	// ExportInit, optional func() -> i32, runs once per instance after the
	// language runtime started (after "_initialize"). Non-zero fails the
	// instantiation.
	ExportInit = "init"
	// ExportHandleHTTP, optional func(ptr, len i32) -> i32 (ABI v1.3),
	// serves one request to a route of the plugin's route table. The input
	// is an HTTPRequest ([AppendHTTPRequest]); the output an [OutputHTTP]
	// response or JSON text (200, application/json).
	ExportHandleHTTP = "handle_http"
	// ExportRoutes, optional func() -> i32 (ABI v1.3), hands the plugin's
	// route table to [ImportOutput] as [OutputJSON]. The host calls it once
	// per module version, before the version serves; only output, error and
	// log work during the call.
	ExportRoutes = "oso_routes"
	// ExportStateless, optional func() -> i32, returns non-zero when the
	// guest keeps no state in linear memory between calls, so the host may
	// run several instances at once by default.
	ExportStateless = "oso_stateless"
	// ExportMemory is the guest's linear memory; every pointer refers to it.
	ExportMemory = "memory"
	// ExportInitialize is the WASI reactor initialiser that language
	// runtimes (Go c-shared, C reactors) export; the host calls it first.
	ExportInitialize = "_initialize"
)

// RequiredExports are the exports every native-ABI v1 module must have.
var RequiredExports = []string{ExportMarker, ExportAlloc, ExportToOSO, ExportToISV, ExportStatus, ExportMemory}

// Host imports, all in [ImportModule]. Each returns a [Status].
const (
	// ImportOutput, func(kind, ptr, len i32) -> i32, sets the result of the
	// current export call (a later call replaces an earlier one). kind is an
	// [OutputKind]; the bytes are copied before it returns.
	ImportOutput = "output"
	// ImportError, func(code, ptr, len i32) -> i32, sets the error of the
	// current export call: code is an HTTP status in 400..599 (others become
	// 500), the bytes a UTF-8 message of at most [MaxErrorMessageBytes]
	// sent to the client as the error description. The export must then
	// return a non-zero result.
	ImportError = "error"
	// ImportLog, func(level, ptr, len i32) -> i32, writes one log line at a
	// [LogLevel]; lines over [MaxLogLineBytes] are cut, lines over the rate
	// limit are dropped and counted.
	ImportLog = "log"
)

// Signing host imports (ABI v1.1), all in [ImportModule]. They work only
// while to_oso, to_isv or status runs (otherwise [StatusNotAllowed]); the
// host signs with keys that never enter the guest. Each writes its result
// into the guest buffer (out_ptr, out_cap) with one copy and returns the
// number of bytes written, or a negative [Status] with nothing written.
// Encodings are in encoding.go; abi/SPEC.md §6.5–6.10 has every rule.
const (
	// ImportKeyGenerate, func(type, out_ptr, out_cap i32) -> i32, creates
	// a key pair of [KeyType] type and writes its KeyInfo encoding.
	// out_cap below [KeyInfoMaxBytes] gives [StatusTooSmall] and no key is
	// generated.
	ImportKeyGenerate = "key_generate"
	// ImportKeyList, func(type, out_ptr, out_cap i32) -> i32, writes the
	// ids of the keys of that type as a compact KeyList, sorted. When the
	// list does not fit it writes nothing and returns [StatusTooSmall]: the
	// guest retries with a larger buffer.
	ImportKeyList = "key_list"
	// ImportKeyPublic, func(id_ptr, id_len, out_ptr, out_cap i32) -> i32,
	// writes the key's type and public key (the PublicKey encoding);
	// [KeyInfoMaxBytes] is always enough.
	ImportKeyPublic = "key_public"
	// ImportSign, func(id_ptr, id_len, data_ptr, data_len, out_ptr,
	// out_cap i32) -> i32, signs data with the key and writes the
	// [SignatureBytes]-byte signature. out_cap below [SignatureBytes]
	// gives [StatusTooSmall] before anything is signed.
	ImportSign = "sign"
	// ImportSignMany, func(in_ptr, in_len, out_ptr, out_cap i32) -> i32,
	// signs a batch (SignManyInput) in one crossing, concurrently on the
	// host, and writes one (status, signature) per request
	// (SignManyOutput). out_cap below [SignManyOutputBytes](n) gives
	// [StatusTooSmall] before anything is signed.
	ImportSignMany = "sign_many"
)

// Credential and state host imports (ABI v1.2), all in [ImportModule]. They
// work only while an export runs (otherwise [StatusNotAllowed]).
//
// State is a per-plugin key/value store kept by the host. The writes of one
// export call form a transaction: its reads see its own writes, and the
// host commits them together, durably, only when the call succeeds and its
// output is valid (for a request: before the response is sent). A trapped,
// failed or timed-out call leaves no trace. Writes outside a request (init,
// the status check of a reload) give [StatusNotAllowed].
const (
	// ImportCredential, func(name_ptr, name_len, out_ptr, out_cap i32) ->
	// i32, resolves the credential name (granted to the plugin by
	// configuration) and writes its Credential encoding. Unknown or not
	// granted names give [StatusNotFound] / [StatusNotAllowed]; a
	// credentials driver that fails gives [StatusUnavailable]; out_cap
	// below [MaxCredentialBytes] may give [StatusTooSmall].
	ImportCredential = "credential"
	// ImportKVGet, func(key_ptr, key_len, out_ptr, out_cap i32) -> i32,
	// returns the length of the key's value and writes the value when it
	// fits in out_cap (like snprintf: a result above out_cap means nothing
	// was written; retry with a buffer that large). An absent key gives
	// [StatusNotFound].
	ImportKVGet = "kv_get"
	// ImportKVPut, func(key_ptr, key_len, val_ptr, val_len i32) -> i32,
	// sets the key's value in the call's transaction. Over the plugin's
	// quota of keys or bytes gives [StatusLimited].
	ImportKVPut = "kv_put"
	// ImportKVDelete, func(key_ptr, key_len i32) -> i32, removes the key
	// in the call's transaction; [StatusNotFound] when it was absent.
	ImportKVDelete = "kv_delete"
	// ImportKVList, func(prefix_ptr, prefix_len, after_ptr, after_len,
	// out_ptr, out_cap i32) -> i32, writes the keys that start with prefix
	// and sort after `after` (empty: from the first), in byte order, as a
	// KeyList holding as many as fit, and returns the bytes written. An
	// empty list means the end; a buffer too small for even one key gives
	// [StatusTooSmall]. The guest pages by passing its last key as after.
	ImportKVList = "kv_list"
)

// ImportSignatures lists every host function of [ImportModule] with its
// signature, written "(i32,i32)->i32". A module importing anything else
// from [ImportModule] is refused at load. Read-only.
var ImportSignatures = map[string]string{
	ImportOutput: "(i32,i32,i32)->i32",
	ImportError:  "(i32,i32,i32)->i32",
	ImportLog:    "(i32,i32,i32)->i32",

	ImportKeyGenerate: "(i32,i32,i32)->i32",
	ImportKeyList:     "(i32,i32,i32)->i32",
	ImportKeyPublic:   "(i32,i32,i32,i32)->i32",
	ImportSign:        "(i32,i32,i32,i32,i32,i32)->i32",
	ImportSignMany:    "(i32,i32,i32,i32)->i32",

	ImportCredential: "(i32,i32,i32,i32)->i32",
	ImportKVGet:      "(i32,i32,i32,i32)->i32",
	ImportKVPut:      "(i32,i32,i32,i32)->i32",
	ImportKVDelete:   "(i32,i32)->i32",
	ImportKVList:     "(i32,i32,i32,i32,i32,i32)->i32",
}

// Status is what a host function returns to the guest: zero or positive on
// success, negative on failure. A failing host function never traps the
// guest; the guest decides what to do.
type Status int32

// Host function statuses.
const (
	StatusOK          Status = 0
	StatusBadPointer  Status = -1 // a (ptr, len) pair lies outside linear memory
	StatusTooLarge    Status = -2 // a length exceeds its documented limit
	StatusBadArgument Status = -3 // an argument is out of range or malformed
	StatusNotAllowed  Status = -4 // the call is not allowed here (no export call running, not granted)
	StatusLimited     Status = -5 // a rate or quota limit was reached
	StatusUnavailable Status = -6 // the backing service failed; retrying may help
	StatusNotFound    Status = -7 // the named item does not exist
	StatusTooSmall    Status = -8 // the output buffer is too small; nothing was done (ABI v1.1)
)

// Export results.
const (
	ResultOK = 0 // any other value is a failure
)

// OutputKind says how the bytes handed to [ImportOutput] are encoded.
type OutputKind int32

// Output kinds.
const (
	// OutputJSON is UTF-8 JSON text. The host parses and validates it
	// against the export's schema (DocumentList for to_oso, ComponentStatus
	// for status, any JSON value for to_isv and handle_http, the route
	// table for oso_routes).
	OutputJSON OutputKind = 1
	// OutputDocumentList is the compact DocumentList encoding
	// ([AppendDocument]).
	OutputDocumentList OutputKind = 2
	// OutputStatus is the compact ComponentStatus encoding ([AppendStatus]).
	OutputStatus OutputKind = 3
	// OutputHTTP is an HTTP response, the HTTPResponse encoding
	// ([AppendHTTPResponse]); handle_http only (ABI v1.3).
	OutputHTTP OutputKind = 4
)

// LogLevel is the level of a guest log line.
type LogLevel int32

// Log levels.
const (
	LogDebug LogLevel = 0
	LogInfo  LogLevel = 1
	LogWarn  LogLevel = 2
	LogError LogLevel = 3
)

// Limits. The host may be configured lower; never higher than these for
// values a guest cannot influence.
const (
	// MaxErrorMessageBytes bounds the message given to [ImportError].
	MaxErrorMessageBytes = 1024
	// MaxLogLineBytes bounds one guest log line; longer lines are cut.
	MaxLogLineBytes = 4096
	// DefaultMaxOutputBytes is the default bound on one export's output.
	DefaultMaxOutputBytes = 8 << 20
	// MaxStatusErrors bounds the errors of one ComponentStatus.
	MaxStatusErrors = 1024
	// PageSize is the WebAssembly page size in bytes.
	PageSize = 65536
)

// KeyType is a key algorithm in the signing host functions.
type KeyType int32

// Key types. Their names are the keystore directory names.
const (
	// KeySecp256k1 is ECDSA over secp256k1. sign takes exactly a 32-byte
	// digest and returns r||s (64 bytes), normalised to low-S.
	KeySecp256k1 KeyType = 1
	// KeyEd25519 is pure Ed25519: sign takes the message itself and
	// returns a 64-byte signature.
	KeyEd25519 KeyType = 2
)

// String returns the key type's name, "SECP256K1" or "ED25519", as the
// keystore and the framework spell it.
func (t KeyType) String() string {
	switch t {
	case KeySecp256k1:
		return "SECP256K1"
	case KeyEd25519:
		return "ED25519"
	}
	return "KeyType(" + strconv.Itoa(int(t)) + ")"
}

// Signing limits (ABI v1.1). A length over its limit gives [StatusTooLarge]
// (for one request of sign_many: that request's status).
const (
	// MaxKeyIDBytes bounds a key id (the framework's ids are 36-byte UUIDs).
	MaxKeyIDBytes = 64
	// MaxSignDataBytes bounds the data of one signature.
	MaxSignDataBytes = 1 << 20
	// MaxSignBatch bounds the number of requests of one sign_many.
	MaxSignBatch = 10000
	// MaxSignManyInputBytes bounds the whole input of one sign_many.
	MaxSignManyInputBytes = 16 << 20
	// SignatureBytes is the size of every signature (Ed25519, and r||s
	// for SECP256K1).
	SignatureBytes = 64
	// KeyInfoMaxBytes is the output buffer key_generate requires, and
	// always enough for key_public: a public key the host hands over is at
	// most KeyInfoMaxBytes-8-MaxKeyIDBytes bytes.
	KeyInfoMaxBytes = 512
	// MaxPublicKeyBytes bounds the public key (SubjectPublicKeyInfo DER)
	// in the KeyInfo and PublicKey encodings.
	MaxPublicKeyBytes = KeyInfoMaxBytes - 8 - MaxKeyIDBytes
	// SignResultBytes is the most one sign_many result takes: i32 status,
	// u32 length, signature.
	SignResultBytes = 8 + SignatureBytes
)

// SignManyOutputBytes returns the output buffer sign_many requires for n
// requests: 4 + n × [SignResultBytes].
func SignManyOutputBytes(n int) int {
	return 4 + n*SignResultBytes
}

// Credential and state limits (ABI v1.2). A length over its limit gives
// [StatusTooLarge]. The host may be configured lower.
const (
	// MaxCredentialNameBytes bounds a credential name.
	MaxCredentialNameBytes = 128
	// MaxCredentialBytes is an out_cap always enough for credential: the
	// token, its type and the expiry.
	MaxCredentialBytes = 16 << 10
	// MaxKVKeyBytes bounds a state key.
	MaxKVKeyBytes = 512
	// MaxKVValueBytes bounds a state value.
	MaxKVValueBytes = 1 << 20
)
