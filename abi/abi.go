// Package abi defines the native OSO plugin ABI, version 1: the names, codes,
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
package abi

// Version is the ABI major version implemented by this package. A guest
// declares it by exporting the function named [ExportMarker].
const Version = 1

// Minor is the ABI minor version: additions that old guests may ignore. The
// marker export returns the minor version the guest was built against.
const Minor = 0

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
	// ExportHandleHTTP, optional func(ptr, len i32) -> i32, serves the
	// plugin's own routes. Reserved: its request encoding is specified
	// when ISV routes are enabled.
	ExportHandleHTTP = "handle_http"
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

// ImportSignatures lists every host function of [ImportModule] with its
// signature, written "(i32,i32)->i32". A module importing anything else
// from [ImportModule] is refused at load. Read-only.
var ImportSignatures = map[string]string{
	ImportOutput: "(i32,i32,i32)->i32",
	ImportError:  "(i32,i32,i32)->i32",
	ImportLog:    "(i32,i32,i32)->i32",
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
	// for status, any JSON value for to_isv).
	OutputJSON OutputKind = 1
	// OutputDocumentList is the compact DocumentList encoding
	// ([AppendDocument]).
	OutputDocumentList OutputKind = 2
	// OutputStatus is the compact ComponentStatus encoding ([AppendStatus]).
	OutputStatus OutputKind = 3
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
