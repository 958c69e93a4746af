//! Rust guest SDK for osohost plugins: the native OSO plugin ABI v1.2
//! (`abi/SPEC.md` in the osohost repository; guide in `docs/guest-rust.md`).
//!
//! A plugin is a type implementing [`Plugin`], declared with the
//! [`plugin!`] macro, compiled for `wasm32-wasi` as a `cdylib`:
//!
//! ```ignore
//! #[derive(Default)]
//! struct Hello;
//!
//! impl oso::Plugin for Hello {
//!     fn status(&mut self) -> Result<oso::ComponentStatus, oso::Error> {
//!         Ok(oso::ComponentStatus::ok())
//!     }
//!     fn to_oso(&mut self, _out: &mut oso::DocumentList) -> Result<(), oso::Error> {
//!         Ok(())
//!     }
//!     fn to_isv(&mut self, input: &oso::Documents, out: &mut oso::Reply) -> Result<(), oso::Error> {
//!         out.set_json(format!("{{\"received\":{}}}", input.len()));
//!         Ok(())
//!     }
//! }
//!
//! oso::plugin!(Hello, stateless);
//! ```
//!
//! The macro defines every export the host needs (`_initialize`,
//! `oso_abi_v1`, `oso_alloc`, `oso_stateless`, `init`, `to_oso`, `to_isv`,
//! `status`); the SDK turns the input into typed views, calls the plugin
//! and hands its result to the host in the compact encoding.
//!
//! The crate has no dependencies. With cargo: `cargo build --release
//! --target wasm32-wasi`. With rustc alone (what osohost's Makefile does):
//!
//! ```text
//! rustc --edition 2021 --target wasm32-wasi -O --crate-type rlib --crate-name oso \
//!     -o liboso.rlib guest-sdk/rust/src/lib.rs
//! rustc --edition 2021 --target wasm32-wasi -O --crate-type cdylib \
//!     --extern oso=liboso.rlib -o plugin.wasm src/lib.rs
//! ```
//!
//! # Ownership and errors
//!
//! [`Documents`] yields [`Document`] values whose strings borrow the input
//! buffer: no copy. Returning [`Error::http`] makes the request fail with
//! that status and message; [`Error::internal`] (and any [`HostError`]
//! converted with `?`) is logged through the host and answered with a
//! generic 500 whose text never reaches the client. A panic traps the
//! module: the host answers 500 and discards the instance.
//!
//! Every answer of the host is checked before use: a malformed one gives
//! [`HostError::BadAnswer`], never a panic.
//!
//! # Outside WebAssembly
//!
//! On other targets the crate builds so that plugin code can be unit-tested
//! natively: the host functions then answer [`HostError::NotAllowed`] and
//! log lines go to standard error.

#![deny(missing_docs)]

use std::fmt;

/// The ABI minor version this SDK is built for: the `oso_abi_v1` export
/// returns it (2: credentials and state).
pub const ABI_MINOR: i32 = 2;

/// Limits of the ABI (`abi/abi.go`).
pub mod limits {
    /// Bound of an error message; longer ones are cut.
    pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;
    /// Bound of a log line; longer ones are cut.
    pub const MAX_LOG_LINE_BYTES: usize = 4096;
    /// Default bound of one export's output.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 8 << 20;
    /// Bound of the errors of one ComponentStatus.
    pub const MAX_STATUS_ERRORS: usize = 1024;
    /// Bound of a key id.
    pub const MAX_KEY_ID_BYTES: usize = 64;
    /// Bound of the data of one signature.
    pub const MAX_SIGN_DATA_BYTES: usize = 1 << 20;
    /// Bound of the requests of one sign_many.
    pub const MAX_SIGN_BATCH: usize = 10000;
    /// Bound of the input of one sign_many.
    pub const MAX_SIGN_MANY_INPUT_BYTES: usize = 16 << 20;
    /// Size of every signature.
    pub const SIGNATURE_BYTES: usize = 64;
    /// Output buffer key_generate requires; enough for key_public.
    pub const KEY_INFO_MAX_BYTES: usize = 512;
    /// Bound of a public key handed to the guest.
    pub const MAX_PUBLIC_KEY_BYTES: usize = KEY_INFO_MAX_BYTES - 8 - MAX_KEY_ID_BYTES;
    /// Most one sign_many result takes.
    pub const SIGN_RESULT_BYTES: usize = 8 + SIGNATURE_BYTES;
    /// Bound of a credential name.
    pub const MAX_CREDENTIAL_NAME_BYTES: usize = 128;
    /// An output buffer always enough for credential.
    pub const MAX_CREDENTIAL_BYTES: usize = 16 << 10;
    /// Bound of a state key.
    pub const MAX_KV_KEY_BYTES: usize = 512;
    /// Bound of a state value.
    pub const MAX_KV_VALUE_BYTES: usize = 1 << 20;
}

use limits::*;

/// Output kinds of the `output` host function.
mod kind {
    pub const JSON: i32 = 1;
    pub const DOCUMENT_LIST: i32 = 2;
    pub const STATUS: i32 = 3;
}

// ---- Host functions --------------------------------------------------------

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "oso")]
    extern "C" {
        pub fn output(kind: i32, ptr: *const u8, len: i32) -> i32;
        pub fn error(code: i32, ptr: *const u8, len: i32) -> i32;
        pub fn log(level: i32, ptr: *const u8, len: i32) -> i32;
        pub fn key_generate(t: i32, out: *mut u8, cap: i32) -> i32;
        pub fn key_list(t: i32, out: *mut u8, cap: i32) -> i32;
        pub fn key_public(id: *const u8, id_len: i32, out: *mut u8, cap: i32) -> i32;
        pub fn sign(id: *const u8, id_len: i32, data: *const u8, data_len: i32, out: *mut u8, cap: i32) -> i32;
        pub fn sign_many(input: *const u8, in_len: i32, out: *mut u8, cap: i32) -> i32;
        pub fn credential(name: *const u8, name_len: i32, out: *mut u8, cap: i32) -> i32;
        pub fn kv_get(key: *const u8, key_len: i32, out: *mut u8, cap: i32) -> i32;
        pub fn kv_put(key: *const u8, key_len: i32, val: *const u8, val_len: i32) -> i32;
        pub fn kv_delete(key: *const u8, key_len: i32) -> i32;
        pub fn kv_list(prefix: *const u8, prefix_len: i32, after: *const u8, after_len: i32, out: *mut u8, cap: i32)
            -> i32;
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        #[link_name = "random_get"]
        pub fn random_get(buf: *mut u8, len: i32) -> i32;
    }

    extern "C" {
        /// The linker's constructor list (static initialisers of the C
        /// library). Calling it from `_initialize` makes the module a
        /// reactor.
        pub fn __wasm_call_ctors();
    }
}

/// Stand-ins for native unit tests: no host, so every host function
/// refuses (status NotAllowed) and log lines go to standard error.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::missing_safety_doc)]
mod host {
    const NOT_ALLOWED: i32 = -4;
    pub unsafe fn output(_: i32, _: *const u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn error(_: i32, _: *const u8, _: i32) -> i32 {
        0
    }
    pub unsafe fn log(level: i32, ptr: *const u8, len: i32) -> i32 {
        let b = std::slice::from_raw_parts(ptr, len as usize);
        eprintln!("oso log {}: {}", level, String::from_utf8_lossy(b));
        0
    }
    pub unsafe fn key_generate(_: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn key_list(_: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn key_public(_: *const u8, _: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn sign(_: *const u8, _: i32, _: *const u8, _: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn sign_many(_: *const u8, _: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn credential(_: *const u8, _: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn kv_get(_: *const u8, _: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn kv_put(_: *const u8, _: i32, _: *const u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn kv_delete(_: *const u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn kv_list(_: *const u8, _: i32, _: *const u8, _: i32, _: *mut u8, _: i32) -> i32 {
        NOT_ALLOWED
    }
    pub unsafe fn random_get(buf: *mut u8, len: i32) -> i32 {
        use std::io::Read;
        let b = std::slice::from_raw_parts_mut(buf, len as usize);
        match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(b)) {
            Ok(()) => 0,
            Err(_) => 29, // EIO
        }
    }
}

// ---- Errors -----------------------------------------------------------------

/// A failed host function (a negative ABI status), or an answer of the host
/// the SDK refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// A (ptr, len) pair outside linear memory (an SDK bug).
    BadPointer,
    /// A length over its limit.
    TooLarge,
    /// An argument out of range or malformed (e.g. a SECP256K1 digest that
    /// is not 32 bytes, an empty state key).
    BadArgument,
    /// Not allowed here: the host's policy, or no export call running, or
    /// no state in this call.
    NotAllowed,
    /// A rate or quota limit was reached (state: the plugin's quota).
    Limited,
    /// The backing service failed; retrying later may help.
    Unavailable,
    /// The named item does not exist.
    NotFound,
    /// The output buffer was too small (handled by the SDK).
    TooSmall,
    /// The host's answer is malformed (a host bug).
    BadAnswer,
    /// The guest could not allocate memory.
    NoMemory,
    /// Another negative status.
    Other(i32),
}

impl HostError {
    fn from_status(st: i32) -> HostError {
        match st {
            -1 => HostError::BadPointer,
            -2 => HostError::TooLarge,
            -3 => HostError::BadArgument,
            -4 => HostError::NotAllowed,
            -5 => HostError::Limited,
            -6 => HostError::Unavailable,
            -7 => HostError::NotFound,
            -8 => HostError::TooSmall,
            _ => HostError::Other(st),
        }
    }

    /// The ABI status of the error (SDK-only errors are below -99).
    pub fn status(self) -> i32 {
        match self {
            HostError::BadPointer => -1,
            HostError::TooLarge => -2,
            HostError::BadArgument => -3,
            HostError::NotAllowed => -4,
            HostError::Limited => -5,
            HostError::Unavailable => -6,
            HostError::NotFound => -7,
            HostError::TooSmall => -8,
            HostError::BadAnswer => -100,
            HostError::NoMemory => -101,
            HostError::Other(st) => st,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            HostError::BadPointer => "bad pointer",
            HostError::TooLarge => "too large",
            HostError::BadArgument => "invalid argument",
            HostError::NotAllowed => "not allowed",
            HostError::Limited => "limit reached",
            HostError::Unavailable => "unavailable",
            HostError::NotFound => "not found",
            HostError::TooSmall => "buffer too small",
            HostError::BadAnswer => "malformed answer from the host",
            HostError::NoMemory => "out of memory",
            HostError::Other(st) => return write!(f, "failed with status {}", st),
        };
        f.write_str(s)
    }
}

impl std::error::Error for HostError {}

/// The failure of a plugin method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The request fails with this HTTP status (400..599; the host uses 500
    /// for others) and message, sent to the client as the error
    /// description: put no internal detail in it. It is cut to
    /// [`limits::MAX_ERROR_MESSAGE_BYTES`].
    Http {
        /// HTTP status.
        code: i32,
        /// Description sent to the client.
        message: String,
    },
    /// The request fails with a generic 500; the text is logged through
    /// the host, never sent to the client.
    Internal(String),
}

impl Error {
    /// An error with an HTTP meaning; the message reaches the client.
    pub fn http(code: i32, message: impl Into<String>) -> Error {
        Error::Http { code, message: message.into() }
    }

    /// A generic 500; the text is only logged.
    pub fn internal(text: impl Into<String>) -> Error {
        Error::Internal(text.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Http { code, message } => write!(f, "oso: {} {}", code, message),
            Error::Internal(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}

impl From<HostError> for Error {
    fn from(e: HostError) -> Error {
        Error::Internal(format!("oso: host function failed: {}", e))
    }
}

// ---- Logs -------------------------------------------------------------------

/// The longest prefix of s of at most n bytes that does not split a UTF-8
/// sequence.
fn cut_utf8(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut i = n;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// Log lines, written through the host, which adds the plugin's name and
/// bounds their size and rate. Never log secrets.
pub mod log {
    fn write(level: i32, msg: &str) {
        let m = super::cut_utf8(msg, super::MAX_LOG_LINE_BYTES);
        unsafe {
            super::host::log(level, m.as_ptr(), m.len() as i32);
        }
    }
    /// Writes msg at debug level.
    pub fn debug(msg: &str) {
        write(0, msg)
    }
    /// Writes msg at info level.
    pub fn info(msg: &str) {
        write(1, msg)
    }
    /// Writes msg at warning level.
    pub fn warn(msg: &str) {
        write(2, msg)
    }
    /// Writes msg at error level.
    pub fn error(msg: &str) {
        write(3, msg)
    }
}

// ---- Compact encoding -------------------------------------------------------

/// The compact encoding's primitives (`abi/SPEC.md` §9).
pub mod codec {
    /// Appends v little-endian.
    pub fn put_u32(b: &mut Vec<u8>, v: u32) {
        b.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a length-prefixed string.
    pub fn put_str(b: &mut Vec<u8>, s: &[u8]) {
        put_u32(b, s.len() as u32);
        b.extend_from_slice(s);
    }

    /// Reads a little-endian u32 at b[i..i+4].
    pub fn get_u32(b: &[u8], i: usize) -> Option<u32> {
        let p = b.get(i..i.checked_add(4)?)?;
        Some(u32::from_le_bytes([p[0], p[1], p[2], p[3]]))
    }

    /// A cursor over encoded bytes; every read is bounds-checked.
    pub struct Cursor<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Cursor<'a> {
        /// A cursor at the start of b.
        pub fn new(b: &'a [u8]) -> Cursor<'a> {
            Cursor { b, i: 0 }
        }
        /// Reads a u32.
        pub fn u32(&mut self) -> Option<u32> {
            let v = get_u32(self.b, self.i)?;
            self.i += 4;
            Some(v)
        }
        /// Reads a u64.
        pub fn u64(&mut self) -> Option<u64> {
            let lo = self.u32()? as u64;
            let hi = self.u32()? as u64;
            Some(lo | hi << 32)
        }
        /// Reads a length-prefixed string.
        pub fn str(&mut self) -> Option<&'a [u8]> {
            let n = self.u32()? as usize;
            let s = self.b.get(self.i..self.i.checked_add(n)?)?;
            self.i += n;
            Some(s)
        }
        /// The bytes not read yet.
        pub fn left(&self) -> usize {
            self.b.len() - self.i
        }
    }

    /// Reads a list header: a count of items of at least min bytes each,
    /// which must fit in what follows.
    pub fn list_header(c: &mut Cursor<'_>, min: usize) -> Option<usize> {
        let n = c.u32()? as usize;
        if n.checked_mul(min)? > c.left() {
            return None;
        }
        Some(n)
    }

    /// Reads a whole KeyList (key_list, kv_list): None when malformed.
    pub fn key_list(b: &[u8]) -> Option<Vec<&[u8]>> {
        let mut c = Cursor::new(b);
        let n = list_header(&mut c, 4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(c.str()?);
        }
        if c.left() != 0 {
            return None;
        }
        Some(out)
    }
}

use codec::Cursor;

/// One V1_3 Document; its strings borrow the input of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Document<'a> {
    /// The document's id.
    pub id: &'a str,
    /// The document's content.
    pub content: &'a str,
    /// Its metadata: "" or a JSON text.
    pub metadata: &'a str,
}

/// The documents `to_isv` receives: a checked compact DocumentList.
pub struct Documents<'a> {
    docs: Vec<Document<'a>>,
}

impl<'a> Documents<'a> {
    /// Checks a whole compact DocumentList (structure and UTF-8); an empty
    /// input is an empty list.
    pub fn parse(b: &'a [u8]) -> Result<Documents<'a>, HostError> {
        if b.is_empty() {
            return Ok(Documents { docs: Vec::new() });
        }
        let bad = HostError::BadAnswer;
        let mut c = Cursor::new(b);
        let n = codec::list_header(&mut c, 12).ok_or(bad)?;
        let mut docs = Vec::with_capacity(n);
        let text = |s: Option<&'a [u8]>| s.and_then(|s| std::str::from_utf8(s).ok()).ok_or(bad);
        for _ in 0..n {
            let id = text(c.str())?;
            let content = text(c.str())?;
            let metadata = text(c.str())?;
            docs.push(Document { id, content, metadata });
        }
        if c.left() != 0 {
            return Err(bad);
        }
        Ok(Documents { docs })
    }

    /// The number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The documents in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Document<'a>> {
        self.docs.iter()
    }

    /// The documents as a slice.
    pub fn as_slice(&self) -> &[Document<'a>] {
        &self.docs
    }
}

/// A DocumentList written in the compact encoding.
#[derive(Default)]
pub struct DocumentList {
    buf: Vec<u8>,
    n: u32,
}

impl DocumentList {
    /// An empty list.
    pub fn new() -> DocumentList {
        DocumentList { buf: vec![0; 4], n: 0 }
    }

    fn with_buffer(mut buf: Vec<u8>) -> DocumentList {
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        DocumentList { buf, n: 0 }
    }

    /// Appends one document; the strings are copied.
    pub fn push(&mut self, id: &str, content: &str, metadata: &str) {
        if self.buf.len() < 4 {
            self.buf.extend_from_slice(&[0; 4]);
        }
        codec::put_str(&mut self.buf, id.as_bytes());
        codec::put_str(&mut self.buf, content.as_bytes());
        codec::put_str(&mut self.buf, metadata.as_bytes());
        self.n += 1;
    }

    /// Appends a copy of d.
    pub fn push_document(&mut self, d: &Document<'_>) {
        self.push(d.id, d.content, d.metadata)
    }

    /// The number of documents.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The compact encoding of the list.
    pub fn bytes(&mut self) -> &[u8] {
        if self.buf.len() < 4 {
            self.buf.extend_from_slice(&[0; 4]);
        }
        self.buf[..4].copy_from_slice(&self.n.to_le_bytes());
        &self.buf
    }

    fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

/// One V1_3 Error item of a [`ComponentStatus`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusError {
    /// The error's code (a string in V1_3).
    pub code: String,
    /// The error's message.
    pub message: String,
}

/// The V1_3 ComponentStatus a plugin reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComponentStatus {
    /// The status_code, also the HTTP status (outside 100..599: 500).
    pub code: i32,
    /// A short text, "OK" when healthy.
    pub status: String,
    /// Problems, at most [`limits::MAX_STATUS_ERRORS`].
    pub errors: Vec<StatusError>,
    /// "" or the text of a JSON object whose members the host writes
    /// after status_code, status and errors (see [`JsonObject`]); its
    /// members must not be named status_code, status or errors.
    pub extra: String,
}

impl ComponentStatus {
    /// The healthy status: 200 "OK".
    pub fn ok() -> ComponentStatus {
        ComponentStatus { code: 200, status: "OK".into(), errors: Vec::new(), extra: String::new() }
    }

    /// Appends the compact ComponentStatus encoding.
    pub fn encode(&self, b: &mut Vec<u8>) {
        codec::put_u32(b, self.code as u32);
        codec::put_str(b, self.status.as_bytes());
        codec::put_u32(b, self.errors.len() as u32);
        for e in &self.errors {
            codec::put_str(b, e.code.as_bytes());
            codec::put_str(b, e.message.as_bytes());
        }
        codec::put_str(b, self.extra.as_bytes());
    }
}

/// The answer of [`Plugin::to_isv`]: a JSON value or a DocumentList. The
/// last of [`Reply::set_json`] and [`Reply::documents`] wins; nothing set
/// answers JSON null.
#[derive(Default)]
pub struct Reply {
    json: Option<Vec<u8>>,
    list: Option<DocumentList>,
    spare: Vec<u8>,
}

impl Reply {
    /// Answers the JSON text; the host checks it is one valid JSON value.
    pub fn set_json(&mut self, text: impl Into<Vec<u8>>) {
        self.list = None;
        self.json = Some(text.into());
    }

    /// Makes the answer a DocumentList and returns it, empty, to append
    /// to; the host writes it as DocumentList JSON.
    pub fn documents(&mut self) -> &mut DocumentList {
        self.json = None;
        let buf = std::mem::take(&mut self.spare);
        self.list.insert(DocumentList::with_buffer(buf))
    }
}

// ---- JSON -------------------------------------------------------------------

/// Appends s as a JSON string literal (quoted, escaped).
pub fn append_json_string(b: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b.push('"');
    for c in s.chars() {
        match c {
            '"' => b.push_str("\\\""),
            '\\' => b.push_str("\\\\"),
            '\n' => b.push_str("\\n"),
            '\r' => b.push_str("\\r"),
            '\t' => b.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                b.push_str("\\u00");
                b.push(HEX[(c as usize) >> 4] as char);
                b.push(HEX[(c as usize) & 0xf] as char);
            }
            c => b.push(c),
        }
    }
    b.push('"');
}

/// A JSON object written member by member:
///
/// ```
/// let mut o = oso::JsonObject::new();
/// o.int("keys", 3);
/// o.string("name", "a\"b");
/// assert_eq!(o.finish(), r#"{"keys":3,"name":"a\"b"}"#);
/// ```
pub struct JsonObject {
    b: String,
    n: usize,
}

impl Default for JsonObject {
    fn default() -> Self {
        JsonObject::new()
    }
}

impl JsonObject {
    /// Starts an object.
    pub fn new() -> JsonObject {
        JsonObject { b: String::from("{"), n: 0 }
    }
    fn key(&mut self, k: &str) {
        if self.n > 0 {
            self.b.push(',');
        }
        self.n += 1;
        append_json_string(&mut self.b, k);
        self.b.push(':');
    }
    /// Adds a string member.
    pub fn string(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        append_json_string(&mut self.b, v);
        self
    }
    /// Adds an integer member.
    pub fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        self.b.push_str(&v.to_string());
        self
    }
    /// Adds a boolean member.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.b.push_str(if v { "true" } else { "false" });
        self
    }
    /// Adds a member whose value is the JSON text v, unchecked.
    pub fn raw(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        self.b.push_str(v);
        self
    }
    /// Closes the object and returns its text.
    pub fn finish(mut self) -> String {
        self.b.push('}');
        self.b
    }
}

// ---- Hex and PEM -------------------------------------------------------------

/// Appends the lowercase hex of b.
pub fn append_hex(s: &mut String, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    s.reserve(2 * b.len());
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 0xf) as usize] as char);
    }
}

/// The lowercase hex of b, as the framework's sign returned signatures.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::new();
    append_hex(&mut s, b);
    s
}

/// The framework's PEM form of a SubjectPublicKeyInfo DER (get_key_pem):
/// "-----BEGIN PUBLIC KEY-----\n", standard base64 in lines of 64
/// characters each ended by "\n", "-----END PUBLIC KEY-----\n".
pub fn public_key_pem(der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::from("-----BEGIN PUBLIC KEY-----\n");
    let mut line = 0;
    for c in der.chunks(3) {
        let v = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        s.push(B64[(v >> 18 & 63) as usize] as char);
        s.push(B64[(v >> 12 & 63) as usize] as char);
        s.push(if c.len() > 1 { B64[(v >> 6 & 63) as usize] as char } else { '=' });
        s.push(if c.len() > 2 { B64[(v & 63) as usize] as char } else { '=' });
        line += 4;
        if line == 64 {
            s.push('\n');
            line = 0;
        }
    }
    if line > 0 {
        s.push('\n');
    }
    s.push_str("-----END PUBLIC KEY-----\n");
    s
}

// ---- Signing ------------------------------------------------------------------

/// A key algorithm of the signing host functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA over secp256k1: sign takes exactly a 32-byte digest and
    /// returns r||s (64 bytes), low-S.
    Secp256k1 = 1,
    /// Pure Ed25519: sign takes the message itself.
    Ed25519 = 2,
}

impl KeyType {
    /// The framework's name: "SECP256K1" or "ED25519".
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Secp256k1 => "SECP256K1",
            KeyType::Ed25519 => "ED25519",
        }
    }
}

/// A key pair the host keeps; only its public half reaches the plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key's id (a UUID in practice).
    pub id: String,
    /// Its type: 1 SECP256K1, 2 ED25519 (another value from a newer host
    /// is kept as is).
    pub key_type: i32,
    /// The SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
}

impl Key {
    /// The public key as PEM text, as the framework's get_key_pem.
    pub fn pem(&self) -> String {
        public_key_pem(&self.public_key)
    }
}

/// The result of a host function writing into a buffer of cap bytes.
fn answer(n: i32, cap: usize) -> Result<usize, HostError> {
    if n < 0 {
        return Err(HostError::from_status(n));
    }
    if n as usize > cap {
        return Err(HostError::BadAnswer);
    }
    Ok(n as usize)
}

fn text(b: &[u8]) -> Result<String, HostError> {
    String::from_utf8(b.to_vec()).map_err(|_| HostError::BadAnswer)
}

/// A zeroed buffer of n bytes, or NoMemory.
fn buffer(n: usize) -> Result<Vec<u8>, HostError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| HostError::NoMemory)?;
    v.resize(n, 0);
    Ok(v)
}

/// Creates a key pair of type t on the host (the framework's
/// generate_key_pair returned `(k.id, k.pem())`).
pub fn generate_key(t: KeyType) -> Result<Key, HostError> {
    let mut out = [0u8; KEY_INFO_MAX_BYTES];
    let n = answer(unsafe { host::key_generate(t as i32, out.as_mut_ptr(), out.len() as i32) }, out.len())?;
    let mut c = Cursor::new(&out[..n]);
    let (id, pub_key) = match (c.str(), c.str()) {
        (Some(id), Some(p)) if c.left() == 0 && !id.is_empty() && id.len() <= MAX_KEY_ID_BYTES => (id, p),
        _ => return Err(HostError::BadAnswer),
    };
    Ok(Key { id: text(id)?, key_type: t as i32, public_key: pub_key.to_vec() })
}

/// Bound of the buffer list_keys grows to.
const MAX_KEY_LIST_BYTES: usize = 16 << 20;

/// The ids of the keys of type t the plugin may use, sorted byte-wise.
pub fn list_keys(t: KeyType) -> Result<Vec<String>, HostError> {
    let mut size = 4096;
    loop {
        let mut out = buffer(size)?;
        let r = unsafe { host::key_list(t as i32, out.as_mut_ptr(), out.len() as i32) };
        if r == -8 && size < MAX_KEY_LIST_BYTES {
            size = (2 * size).min(MAX_KEY_LIST_BYTES);
            continue;
        }
        let n = answer(r, out.len())?;
        let ids = codec::key_list(&out[..n]).ok_or(HostError::BadAnswer)?;
        return ids.into_iter().map(text).collect();
    }
}

/// The key with that id, or NotFound.
pub fn public_key(id: &str) -> Result<Key, HostError> {
    if id.len() > MAX_KEY_ID_BYTES {
        return Err(HostError::TooLarge);
    }
    let mut out = [0u8; KEY_INFO_MAX_BYTES];
    let n = answer(
        unsafe { host::key_public(id.as_ptr(), id.len() as i32, out.as_mut_ptr(), out.len() as i32) },
        out.len(),
    )?;
    let mut c = Cursor::new(&out[..n]);
    match (c.u32(), c.str()) {
        (Some(t), Some(p)) if c.left() == 0 => Ok(Key { id: id.to_string(), key_type: t as i32, public_key: p.to_vec() }),
        _ => Err(HostError::BadAnswer),
    }
}

/// Signs data with the key id: 64 bytes. A SECP256K1 key takes exactly a
/// 32-byte digest; an ED25519 key signs data itself. Every signature is
/// audited by the host. To sign several, use [`sign_many`].
pub fn sign(id: &str, data: &[u8]) -> Result<[u8; SIGNATURE_BYTES], HostError> {
    if id.len() > MAX_KEY_ID_BYTES || data.len() > MAX_SIGN_DATA_BYTES {
        return Err(HostError::TooLarge);
    }
    let mut sig = [0u8; SIGNATURE_BYTES];
    let n = answer(
        unsafe {
            host::sign(id.as_ptr(), id.len() as i32, data.as_ptr(), data.len() as i32, sig.as_mut_ptr(), sig.len() as i32)
        },
        sig.len(),
    )?;
    if n != SIGNATURE_BYTES {
        return Err(HostError::BadAnswer);
    }
    Ok(sig)
}

/// [`sign`] with the signature in lowercase hex, as the framework's sign.
pub fn sign_hex(id: &str, data: &[u8]) -> Result<String, HostError> {
    sign(id, data).map(|s| hex(&s))
}

/// One signature of a [`sign_many`] batch.
#[derive(Clone, Copy, Debug)]
pub struct SignRequest<'a> {
    /// The key to sign with.
    pub key_id: &'a str,
    /// The data, read during the call only.
    pub data: &'a [u8],
}

/// Signs every request in one crossing (batches over
/// [`limits::MAX_SIGN_BATCH`] requests or
/// [`limits::MAX_SIGN_MANY_INPUT_BYTES`] bytes are split); the host signs
/// them concurrently. Each request gets its own result, in order; the
/// error is for the batch as a whole.
pub fn sign_many(reqs: &[SignRequest<'_>]) -> Result<Vec<Result<[u8; SIGNATURE_BYTES], HostError>>, HostError> {
    let mut res: Vec<Result<[u8; SIGNATURE_BYTES], HostError>> = Vec::new();
    res.try_reserve_exact(reqs.len()).map_err(|_| HostError::NoMemory)?;
    res.resize(reqs.len(), Err(HostError::BadAnswer));
    let mut input = Vec::new();
    let mut idx = Vec::new();
    let mut i = 0;
    while i < reqs.len() {
        input.clear();
        idx.clear();
        codec::put_u32(&mut input, 0);
        while i < reqs.len() && idx.len() < MAX_SIGN_BATCH {
            let r = &reqs[i];
            if r.key_id.len() > MAX_KEY_ID_BYTES || r.data.len() > MAX_SIGN_DATA_BYTES {
                res[i] = Err(HostError::TooLarge);
                i += 1;
                continue;
            }
            if !idx.is_empty() && input.len() + 8 + r.key_id.len() + r.data.len() > MAX_SIGN_MANY_INPUT_BYTES {
                break;
            }
            codec::put_str(&mut input, r.key_id.as_bytes());
            codec::put_str(&mut input, r.data);
            idx.push(i);
            i += 1;
        }
        if idx.is_empty() {
            continue;
        }
        input[..4].copy_from_slice(&(idx.len() as u32).to_le_bytes());
        let mut out = buffer(4 + idx.len() * SIGN_RESULT_BYTES)?;
        let n = answer(
            unsafe { host::sign_many(input.as_ptr(), input.len() as i32, out.as_mut_ptr(), out.len() as i32) },
            out.len(),
        )?;
        let mut c = Cursor::new(&out[..n]);
        if c.u32() != Some(idx.len() as u32) {
            return Err(HostError::BadAnswer);
        }
        for &j in &idx {
            let st = c.u32().ok_or(HostError::BadAnswer)? as i32;
            let sig = c.str().ok_or(HostError::BadAnswer)?;
            res[j] = match st {
                0 if sig.len() == SIGNATURE_BYTES => {
                    let mut s = [0u8; SIGNATURE_BYTES];
                    s.copy_from_slice(sig);
                    Ok(s)
                }
                st if st < 0 => Err(HostError::from_status(st)),
                _ => return Err(HostError::BadAnswer),
            };
        }
        if c.left() != 0 {
            return Err(HostError::BadAnswer);
        }
    }
    Ok(res)
}

// ---- Credentials ----------------------------------------------------------------

/// A credential the operator granted to the plugin: a secret such as an
/// API token. Its Debug form hides the secret, and dropping it wipes it.
/// Never log it, put it in an output or an error, or keep it in state.
pub struct Credential {
    /// The secret.
    pub token: String,
    /// How to present it, e.g. "Bearer"; may be empty.
    pub token_type: String,
    /// Expiry in Unix milliseconds; 0 means never. The host refreshes
    /// credentials: resolve one at every use rather than keeping it.
    pub expires_at_ms: u64,
}

impl Credential {
    /// The value of an HTTP Authorization header: "<type> <token>", or the
    /// token alone when it has no type.
    pub fn authorization(&self) -> String {
        if self.token_type.is_empty() {
            self.token.clone()
        } else {
            format!("{} {}", self.token_type, self.token)
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("token", &"REDACTED")
            .field("token_type", &self.token_type)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        // Safety: zero bytes are valid UTF-8.
        unsafe { self.token.as_mut_vec().iter_mut().for_each(|b| *b = 0) }
    }
}

/// Resolves the credential name (1 to
/// [`limits::MAX_CREDENTIAL_NAME_BYTES`] bytes). Errors: NotAllowed (not
/// granted, or no export call running), NotFound, Unavailable (retry
/// later), TooLarge.
pub fn credential(name: &str) -> Result<Credential, HostError> {
    if name.len() > MAX_CREDENTIAL_NAME_BYTES {
        return Err(HostError::TooLarge);
    }
    let mut out = buffer(MAX_CREDENTIAL_BYTES)?;
    let r = answer(
        unsafe { host::credential(name.as_ptr(), name.len() as i32, out.as_mut_ptr(), out.len() as i32) },
        out.len(),
    );
    let result = r.and_then(|n| {
        let mut c = Cursor::new(&out[..n]);
        match (c.str(), c.str(), c.u64()) {
            (Some(tok), Some(typ), Some(exp)) if c.left() == 0 && !tok.is_empty() => {
                Ok(Credential { token: text(tok)?, token_type: text(typ)?, expires_at_ms: exp })
            }
            _ => Err(HostError::BadAnswer),
        }
    });
    out.iter_mut().for_each(|b| *b = 0);
    result
}

// ---- State ------------------------------------------------------------------------

/// Durable state (ABI v1.2): a key/value store the host keeps for the
/// plugin. The state calls of one export call form a transaction,
/// committed to disk only when the call succeeds, before the host answers.
/// Keys are 1 to [`limits::MAX_KV_KEY_BYTES`] bytes, values at most
/// [`limits::MAX_KV_VALUE_BYTES`]. Errors: Limited (the plugin's quota),
/// NotAllowed (no state in this call), TooLarge, BadArgument (an empty
/// key), Unavailable (the host's storage failed).
pub mod kv {
    use super::*;

    /// The value of key, or None when it does not exist.
    pub fn get(key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, HostError> {
        let key = key.as_ref();
        if key.len() > MAX_KV_KEY_BYTES {
            return Err(HostError::TooLarge);
        }
        let mut size = 4096;
        for _ in 0..4 {
            // the value may change size between two tries
            let mut out = buffer(size)?;
            let n = unsafe { host::kv_get(key.as_ptr(), key.len() as i32, out.as_mut_ptr(), out.len() as i32) };
            if n == -7 {
                return Ok(None);
            }
            if n < 0 {
                return Err(HostError::from_status(n));
            }
            let n = n as usize;
            if n <= out.len() {
                out.truncate(n);
                return Ok(Some(out));
            }
            if n > MAX_KV_VALUE_BYTES {
                return Err(HostError::BadAnswer);
            }
            size = n;
        }
        Err(HostError::BadAnswer)
    }

    /// Sets key to value (copied by the host before it returns).
    pub fn put(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), HostError> {
        let (key, value) = (key.as_ref(), value.as_ref());
        if key.len() > MAX_KV_KEY_BYTES || value.len() > MAX_KV_VALUE_BYTES {
            return Err(HostError::TooLarge);
        }
        let n = unsafe { host::kv_put(key.as_ptr(), key.len() as i32, value.as_ptr(), value.len() as i32) };
        if n < 0 {
            return Err(HostError::from_status(n));
        }
        Ok(())
    }

    /// Removes key; whether it existed.
    pub fn delete(key: impl AsRef<[u8]>) -> Result<bool, HostError> {
        let key = key.as_ref();
        if key.len() > MAX_KV_KEY_BYTES {
            return Err(HostError::TooLarge);
        }
        match unsafe { host::kv_delete(key.as_ptr(), key.len() as i32) } {
            -7 => Ok(false),
            n if n < 0 => Err(HostError::from_status(n)),
            _ => Ok(true),
        }
    }

    /// Bound of the page buffer list grows to.
    const MAX_LIST_BYTES: usize = 1 << 20;

    /// Calls f with every key that starts with prefix, in byte order,
    /// until it returns false, paging through the host's answers. f may
    /// call the other state functions, including [`delete`] on the key it
    /// was given; keys written meanwhile are seen when they sort after the
    /// current one.
    pub fn list(prefix: impl AsRef<[u8]>, mut f: impl FnMut(&[u8]) -> bool) -> Result<(), HostError> {
        let prefix = prefix.as_ref();
        if prefix.len() > MAX_KV_KEY_BYTES {
            return Err(HostError::TooLarge);
        }
        let mut after: Vec<u8> = Vec::new();
        let mut size = 4096;
        loop {
            let mut page = buffer(size)?;
            let r = unsafe {
                host::kv_list(
                    prefix.as_ptr(),
                    prefix.len() as i32,
                    after.as_ptr(),
                    after.len() as i32,
                    page.as_mut_ptr(),
                    page.len() as i32,
                )
            };
            if r == -8 && size < MAX_LIST_BYTES {
                size = (2 * size).min(MAX_LIST_BYTES);
                continue;
            }
            let n = answer(r, page.len())?;
            let keys = codec::key_list(&page[..n]).ok_or(HostError::BadAnswer)?;
            if keys.is_empty() {
                return Ok(());
            }
            for k in keys {
                // Each key must sort after the previous one, or the
                // listing could loop forever.
                if k.is_empty() || k.len() > MAX_KV_KEY_BYTES || !k.starts_with(prefix) || k <= after.as_slice() {
                    return Err(HostError::BadAnswer);
                }
                if !f(k) {
                    return Ok(());
                }
                after.clear();
                after.extend_from_slice(k);
            }
        }
    }
}

// ---- Time and randomness -------------------------------------------------------------

/// The realtime clock in Unix nanoseconds (0 if it is before 1970).
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Fills b with bytes from the host's cryptographic generator.
pub fn random_bytes(b: &mut [u8]) -> Result<(), HostError> {
    if b.is_empty() {
        return Ok(());
    }
    match unsafe { host::random_get(b.as_mut_ptr(), b.len() as i32) } {
        0 => Ok(()),
        _ => Err(HostError::Unavailable),
    }
}

// ---- The plugin and its exports --------------------------------------------------------

/// What a plugin implements. The host calls one method at a time per
/// instance.
pub trait Plugin {
    /// Runs once per instance before the first call; an error fails the
    /// instance. Host functions other than logs are not allowed here.
    fn init(&mut self) -> Result<(), Error> {
        Ok(())
    }
    /// Answers GET /api/<mode>/v1alpha1/status; the HTTP status is the
    /// returned code.
    fn status(&mut self) -> Result<ComponentStatus, Error>;
    /// Answers GET /api/<mode>/v1alpha1/documents: append the documents
    /// for the OSO to out.
    fn to_oso(&mut self, out: &mut DocumentList) -> Result<(), Error>;
    /// Serves POST /api/<mode>/v1alpha1/documents: input holds the
    /// documents the host validated; set the answer on out.
    fn to_isv(&mut self, input: &Documents<'_>, out: &mut Reply) -> Result<(), Error>;
}

/// Declares the plugin type served by this module and defines every
/// export the host calls. The type must implement [`Plugin`] and
/// `Default` (the instance is made on first use). Add `stateless` when the
/// plugin keeps no state in memory between calls, so the host may run
/// several instances:
///
/// ```ignore
/// oso::plugin!(Signer, stateless);
/// ```
///
/// Use it once, in the cdylib crate. When the SDK is not a crate but a
/// module of the plugin (`#[path = "…/guest-sdk/rust/src/lib.rs"] mod
/// oso;`), name the module: `crate::plugin!(sdk = [crate::oso], Signer,
/// stateless);`.
#[macro_export]
macro_rules! plugin {
    (sdk = [$($sdk:tt)*], $ty:ty) => {
        $crate::plugin!(@define [$($sdk)*] $ty, 0);
    };
    (sdk = [$($sdk:tt)*], $ty:ty, stateless) => {
        $crate::plugin!(@define [$($sdk)*] $ty, 1);
    };
    ($ty:ty) => {
        $crate::plugin!(@define [$crate] $ty, 0);
    };
    ($ty:ty, stateless) => {
        $crate::plugin!(@define [$crate] $ty, 1);
    };
    (@define [$($sdk:tt)*] $ty:ty, $stateless:expr) => {
        static mut __OSO_PLUGIN: ::core::option::Option<$ty> = ::core::option::Option::None;

        fn __oso_plugin() -> &'static mut $ty {
            // Safety: an instance runs one call at a time, on one thread.
            unsafe { __OSO_PLUGIN.get_or_insert_with(<$ty as ::core::default::Default>::default) }
        }

        #[no_mangle]
        pub extern "C" fn _initialize() {
            $($sdk)*::rt::initialize()
        }

        #[no_mangle]
        pub extern "C" fn oso_abi_v1() -> i32 {
            $($sdk)*::ABI_MINOR
        }

        #[no_mangle]
        pub extern "C" fn oso_alloc(size: i32) -> i32 {
            $($sdk)*::rt::alloc(size)
        }

        #[no_mangle]
        pub extern "C" fn oso_stateless() -> i32 {
            $stateless
        }

        #[no_mangle]
        pub extern "C" fn init() -> i32 {
            $($sdk)*::rt::init(__oso_plugin())
        }

        #[no_mangle]
        pub extern "C" fn to_oso(ptr: i32, len: i32) -> i32 {
            $($sdk)*::rt::to_oso(__oso_plugin(), ptr, len)
        }

        #[no_mangle]
        pub extern "C" fn to_isv(ptr: i32, len: i32) -> i32 {
            $($sdk)*::rt::to_isv(__oso_plugin(), ptr, len)
        }

        #[no_mangle]
        pub extern "C" fn status(ptr: i32, len: i32) -> i32 {
            $($sdk)*::rt::status(__oso_plugin(), ptr, len)
        }
    };
}

/// The runtime behind the exports [`plugin!`] defines; not for direct use.
#[doc(hidden)]
pub mod rt {
    use super::*;

    // An instance runs one call at a time on one thread: these buffers are
    // only touched by the functions below, never while a view into them
    // is held elsewhere.
    static mut INPUT: Vec<u8> = Vec::new();
    static mut OUTPUT: Vec<u8> = Vec::new();

    /// Bound of the buffers kept between calls.
    const KEEP_BYTES: usize = DEFAULT_MAX_OUTPUT_BYTES;

    /// Runs the C library's constructors (the WASI reactor's start-up).
    pub fn initialize() {
        #[cfg(target_arch = "wasm32")]
        unsafe {
            host::__wasm_call_ctors()
        }
    }

    /// The input buffer, grown to at least size bytes; 0 when it cannot be.
    pub fn alloc(size: i32) -> i32 {
        if size <= 0 {
            return 0;
        }
        let size = size as usize;
        let input = unsafe { &mut *std::ptr::addr_of_mut!(INPUT) };
        if input.len() < size {
            let want = size.max(2 * input.len());
            *input = Vec::new(); // the old contents are not needed
            let mut v = Vec::new();
            if v.try_reserve_exact(want).is_err() && v.try_reserve_exact(size).is_err() {
                return 0;
            }
            let cap = v.capacity();
            v.resize(cap, 0);
            *input = v;
        }
        input.as_mut_ptr() as usize as i32
    }

    fn output(kind: i32, b: &[u8]) -> i32 {
        if b.len() > i32::MAX as usize || unsafe { host::output(kind, b.as_ptr(), b.len() as i32) } < 0 {
            return 1;
        }
        0
    }

    fn fail(method: &str, e: Error) -> i32 {
        match e {
            Error::Http { code, message } => {
                let m = cut_utf8(&message, MAX_ERROR_MESSAGE_BYTES);
                unsafe { host::error(code, m.as_ptr(), m.len() as i32) };
            }
            Error::Internal(text) => log::error(&format!("oso: {} failed: {}", method, text)),
        }
        1
    }

    fn take_output() -> Vec<u8> {
        unsafe { std::mem::take(&mut *std::ptr::addr_of_mut!(OUTPUT)) }
    }

    fn keep_output(mut b: Vec<u8>) {
        if b.capacity() <= KEEP_BYTES {
            b.clear();
            unsafe { *std::ptr::addr_of_mut!(OUTPUT) = b };
        }
    }

    /// Runs [`Plugin::init`].
    pub fn init<P: Plugin>(p: &mut P) -> i32 {
        match p.init() {
            Ok(()) => 0,
            Err(e) => fail("init", e),
        }
    }

    /// Runs [`Plugin::to_isv`] on the input the host wrote at (ptr, len).
    pub fn to_isv<P: Plugin>(p: &mut P, ptr: i32, len: i32) -> i32 {
        let input = unsafe { &*std::ptr::addr_of!(INPUT) };
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if len < 0 || len as usize > input.len() || ptr as usize != input.as_ptr() as usize {
            log::error("oso: to_isv: input does not match oso_alloc");
            return 1;
        } else {
            &input[..len as usize]
        };
        let docs = match Documents::parse(bytes) {
            Ok(d) => d,
            Err(_) => {
                log::error("oso: to_isv: malformed document list");
                return 1;
            }
        };
        let mut reply = Reply { json: None, list: None, spare: take_output() };
        if let Err(e) = p.to_isv(&docs, &mut reply) {
            return fail("to_isv", e);
        }
        match (reply.json, reply.list) {
            (Some(json), _) => {
                let r = output(kind::JSON, &json);
                keep_output(reply.spare);
                r
            }
            (None, Some(mut list)) => {
                let r = output(kind::DOCUMENT_LIST, list.bytes());
                keep_output(list.into_buffer());
                r
            }
            (None, None) => {
                keep_output(reply.spare);
                output(kind::JSON, b"null")
            }
        }
    }

    /// Runs [`Plugin::to_oso`].
    pub fn to_oso<P: Plugin>(p: &mut P, _ptr: i32, _len: i32) -> i32 {
        let mut list = DocumentList::with_buffer(take_output());
        if let Err(e) = p.to_oso(&mut list) {
            keep_output(list.into_buffer());
            return fail("to_oso", e);
        }
        let r = output(kind::DOCUMENT_LIST, list.bytes());
        keep_output(list.into_buffer());
        r
    }

    /// Runs [`Plugin::status`].
    pub fn status<P: Plugin>(p: &mut P, _ptr: i32, _len: i32) -> i32 {
        match p.status() {
            Ok(s) => {
                let mut b = take_output();
                s.encode(&mut b);
                let r = output(kind::STATUS, &b);
                keep_output(b);
                r
            }
            Err(e) => fail("status", e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(docs: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut l = DocumentList::new();
        for d in docs {
            l.push(d.0, d.1, d.2);
        }
        l.bytes().to_vec()
    }

    #[test]
    fn documents_round_trip() {
        let b = list(&[("a", "hello", ""), ("", "x\0y", "{\"k\": 1}")]);
        assert_eq!(
            b,
            b"\x02\0\0\0\x01\0\0\0a\x05\0\0\0hello\0\0\0\0\0\0\0\0\x03\0\0\0x\0y\x08\0\0\0{\"k\": 1}".to_vec()
        );
        let d = Documents::parse(&b).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.as_slice()[0], Document { id: "a", content: "hello", metadata: "" });
        assert_eq!(d.as_slice()[1].metadata, "{\"k\": 1}");
        for n in 1..b.len() {
            assert!(Documents::parse(&b[..n]).is_err(), "prefix {}", n);
        }
        let mut more = b.clone();
        more.push(0);
        assert!(Documents::parse(&more).is_err());
        assert!(Documents::parse(b"\xff\xff\xff\xff").is_err());
        assert!(Documents::parse(b"\x01\0\0\0\x01\0\0\0\xff\0\0\0\0\0\0\0\0").is_err()); // invalid UTF-8
        assert!(Documents::parse(b"").unwrap().is_empty());
    }

    #[test]
    fn status_encoding() {
        let s = ComponentStatus {
            code: 503,
            status: "bad".into(),
            errors: vec![StatusError { code: "hsm".into(), message: "down".into() }],
            extra: "{}".into(),
        };
        let mut b = Vec::new();
        s.encode(&mut b);
        assert_eq!(b, b"\xf7\x01\0\0\x03\0\0\0bad\x01\0\0\0\x03\0\0\0hsm\x04\0\0\0down\x02\0\0\0{}".to_vec());
    }

    #[test]
    fn json() {
        let mut s = String::new();
        append_json_string(&mut s, "a\"b\\c\n\r\t\x01 é 😀");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\r\\t\\u0001 é 😀\"");
        let mut o = JsonObject::new();
        o.int("keys", -3).bool("ok", true).raw("x", "[1]");
        assert_eq!(o.finish(), r#"{"keys":-3,"ok":true,"x":[1]}"#);
    }

    #[test]
    fn hex_and_pem() {
        assert_eq!(hex(&[0, 0x1f, 0xa0, 0xff]), "001fa0ff");
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.resize(44, 0);
        assert_eq!(
            public_key_pem(&spki),
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-----END PUBLIC KEY-----\n"
        );
        let der: Vec<u8> = (0..49).collect();
        assert_eq!(
            public_key_pem(&der),
            "-----BEGIN PUBLIC KEY-----\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\nMA==\n-----END PUBLIC KEY-----\n"
        );
    }

    #[test]
    fn key_lists() {
        assert_eq!(codec::key_list(b"\0\0\0\0"), Some(vec![]));
        assert_eq!(codec::key_list(b"\x01\0\0\0\x01\0\0\0a"), Some(vec![&b"a"[..]]));
        assert_eq!(codec::key_list(b"\x02\0\0\0\x01\0\0\0a"), None);
        assert_eq!(codec::key_list(b"\x01\0\0\0\x01\0\0\0ab"), None);
        assert_eq!(codec::key_list(b""), None);
    }

    #[test]
    fn cut() {
        assert_eq!(cut_utf8("ééé", 3), "é");
        assert_eq!(cut_utf8("abc", 5), "abc");
    }

    #[test]
    fn without_a_host() {
        assert_eq!(list_keys(KeyType::Ed25519), Err(HostError::NotAllowed));
        assert_eq!(kv::get("k"), Err(HostError::NotAllowed));
        assert_eq!(kv::get(vec![0u8; MAX_KV_KEY_BYTES + 1]), Err(HostError::TooLarge));
        assert!(matches!(credential("x"), Err(HostError::NotAllowed)));
        let mut r = [0u8; 32];
        random_bytes(&mut r).unwrap();
        assert_ne!(r, [0u8; 32]);
        assert!(unix_nanos() > 1_600_000_000_000_000_000);
        let e: Error = HostError::Unavailable.into();
        assert_eq!(e, Error::Internal("oso: host function failed: unavailable".into()));
    }
}
