// The documents, buffers, JSON and hex helpers of the SDK, and the plugin
// runtime behind the exports (exports.ts).
import * as host from "./host";

/** The ABI minor version the SDK is built for (2: credentials and state). */
export const ABI_MINOR: i32 = 2;

// Host function statuses (negative: failure).
export const STATUS_OK: i32 = 0;
export const STATUS_BAD_POINTER: i32 = -1;
export const STATUS_TOO_LARGE: i32 = -2;
export const STATUS_BAD_ARGUMENT: i32 = -3;
export const STATUS_NOT_ALLOWED: i32 = -4;
export const STATUS_LIMITED: i32 = -5;
export const STATUS_UNAVAILABLE: i32 = -6;
export const STATUS_NOT_FOUND: i32 = -7;
export const STATUS_TOO_SMALL: i32 = -8;
/** Returned by the SDK, never by the host: the host's answer is malformed. */
export const STATUS_BAD_ANSWER: i32 = -100;

// Limits (abi/abi.go).
export const MAX_ERROR_MESSAGE_BYTES: i32 = 1024;
export const MAX_LOG_LINE_BYTES: i32 = 4096;
export const DEFAULT_MAX_OUTPUT_BYTES: i32 = 8 << 20;
export const MAX_STATUS_ERRORS: i32 = 1024;

const OUTPUT_JSON: i32 = 1;
const OUTPUT_DOCUMENT_LIST: i32 = 2;
const OUTPUT_STATUS: i32 = 3;

/** A short English description of a status, for logs. */
export function statusText(st: i32): string {
  switch (st) {
    case STATUS_OK: return "ok";
    case STATUS_BAD_POINTER: return "bad pointer";
    case STATUS_TOO_LARGE: return "too large";
    case STATUS_BAD_ARGUMENT: return "invalid argument";
    case STATUS_NOT_ALLOWED: return "not allowed";
    case STATUS_LIMITED: return "limit reached";
    case STATUS_UNAVAILABLE: return "unavailable";
    case STATUS_NOT_FOUND: return "not found";
    case STATUS_TOO_SMALL: return "buffer too small";
    case STATUS_BAD_ANSWER: return "malformed answer from the host";
  }
  return st >= 0 ? "ok" : "failed with status " + st.toString();
}

// ---- Byte buffers -----------------------------------------------------------

/** A growing byte buffer, the SDK's output and encoding workhorse. */
export class ByteBuffer {
  data: ArrayBuffer;
  length: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.data = new ArrayBuffer(capacity);
  }

  /** The address of the first byte. */
  get ptr(): usize {
    return changetype<usize>(this.data);
  }

  /** Empties the buffer, keeping its memory. */
  reset(): void {
    this.length = 0;
  }

  /** Makes room for n more bytes. */
  reserve(n: i32): void {
    const need = <i64>this.length + <i64>n;
    const cap = this.data.byteLength;
    if (need <= <i64>cap) return;
    let c = <i64>max(cap, 64);
    while (c < need) c *= 2;
    const d = new ArrayBuffer(<i32>min<i64>(c, 0x3fffff00));
    memory.copy(changetype<usize>(d), changetype<usize>(this.data), this.length);
    this.data = d;
  }

  /** Appends n bytes at p. */
  bytes(p: usize, n: i32): void {
    this.reserve(n);
    memory.copy(this.ptr + this.length, p, n);
    this.length += n;
  }

  /** Appends the bytes of a. */
  array(a: Uint8Array): void {
    this.bytes(a.dataStart, a.length);
  }

  /** Appends one byte. */
  u8(v: u8): void {
    this.reserve(1);
    store<u8>(this.ptr + this.length, v);
    this.length += 1;
  }

  /** Appends v little-endian. */
  u32(v: u32): void {
    this.reserve(4);
    store<u32>(this.ptr + this.length, v);
    this.length += 4;
  }

  /** Appends s as UTF-8 (a lone surrogate becomes U+FFFD). */
  string(s: string): void {
    this.reserve(s.length * 3);
    this.length += <i32>String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.ptr + this.length, false, String.UTF8.ErrorMode.REPLACE);
  }

  /** Appends a length-prefixed UTF-8 string (compact encoding). */
  lstring(s: string): void {
    this.reserve(4 + s.length * 3);
    const at = this.length;
    this.length += 4;
    this.string(s);
    store<u32>(this.ptr + at, <u32>(this.length - at - 4));
  }

  /** Appends length-prefixed bytes (compact encoding). */
  lbytes(p: usize, n: i32): void {
    this.u32(<u32>n);
    this.bytes(p, n);
  }

  /** The bytes as a view (valid until the buffer grows or is reset). */
  view(): Uint8Array {
    return Uint8Array.wrap(this.data, 0, this.length);
  }

  /** A copy of the bytes. */
  toUint8Array(): Uint8Array {
    const a = new Uint8Array(this.length);
    memory.copy(a.dataStart, this.ptr, this.length);
    return a;
  }

  /** The bytes decoded as UTF-8. */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, this.length);
  }
}

/** The UTF-8 bytes of s (a lone surrogate becomes U+FFFD). */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
}

// ---- Reading the compact encoding -------------------------------------------

/** A bounds-checked reader over [ptr, end). After a failed read, ok is false
 * and every later read fails too. */
export class Cursor {
  ok: bool = true;
  /** The last string read: its address and length. */
  sPtr: usize = 0;
  sLen: i32 = 0;

  constructor(public ptr: usize, public end: usize) {}

  left(): usize {
    return this.end - this.ptr;
  }

  u32(): u32 {
    if (!this.ok || this.left() < 4) {
      this.ok = false;
      return 0;
    }
    const v = load<u32>(this.ptr);
    this.ptr += 4;
    return v;
  }

  u64(): u64 {
    const lo = <u64>this.u32();
    const hi = <u64>this.u32();
    return lo | (hi << 32);
  }

  /** Reads a length-prefixed string into sPtr/sLen; false when truncated. */
  str(): bool {
    const n = this.u32();
    if (!this.ok || <usize>n > this.left()) {
      this.ok = false;
      return false;
    }
    this.sPtr = this.ptr;
    this.sLen = <i32>n;
    this.ptr += <usize>n;
    return true;
  }

  /** Reads a list header: a count of items of at least min bytes each,
   * which must fit in what follows; -1 when it cannot. */
  count(min: u32): i32 {
    const n = this.u32();
    if (!this.ok || <u64>n * <u64>min > <u64>this.left() || n > 0x7fffffff) {
      this.ok = false;
      return -1;
    }
    return <i32>n;
  }

  /** The last string read, decoded. */
  text(): string {
    return String.UTF8.decodeUnsafe(this.sPtr, this.sLen);
  }
}

// ---- Documents ----------------------------------------------------------------

/** One V1_3 Document of the to_isv input. Its bytes live in the input
 * buffer: valid until the export returns (copy what you keep). */
export class Document {
  constructor(
    public buffer: ArrayBuffer,
    public idOffset: i32, public idLength: i32,
    public contentOffset: i32, public contentLength: i32,
    public metadataOffset: i32, public metadataLength: i32,
  ) {}

  get id(): string {
    return String.UTF8.decodeUnsafe(changetype<usize>(this.buffer) + this.idOffset, this.idLength);
  }

  get content(): string {
    return String.UTF8.decodeUnsafe(changetype<usize>(this.buffer) + this.contentOffset, this.contentLength);
  }

  get metadata(): string {
    return String.UTF8.decodeUnsafe(changetype<usize>(this.buffer) + this.metadataOffset, this.metadataLength);
  }

  /** The content's UTF-8 bytes, a view into the input (no copy): what a
   * signature covers. */
  contentBytes(): Uint8Array {
    return Uint8Array.wrap(this.buffer, this.contentOffset, this.contentLength);
  }

  idBytes(): Uint8Array {
    return Uint8Array.wrap(this.buffer, this.idOffset, this.idLength);
  }

  metadataBytes(): Uint8Array {
    return Uint8Array.wrap(this.buffer, this.metadataOffset, this.metadataLength);
  }
}

/** The documents to_isv receives: a checked compact DocumentList. */
export class Documents {
  items: Document[] = [];

  get length(): i32 {
    return this.items.length;
  }

  at(i: i32): Document {
    return this.items[i];
  }

  /** Checks the compact DocumentList in buffer[0..len) and returns its
   * documents, or null when it is malformed. An empty input is an empty
   * list. */
  static parse(buffer: ArrayBuffer, len: i32): Documents | null {
    const docs = new Documents();
    if (len == 0) return docs;
    if (len < 0 || len > buffer.byteLength) return null;
    const base = changetype<usize>(buffer);
    const c = new Cursor(base, base + <usize>len);
    const n = c.count(12);
    if (n < 0) return null;
    for (let i = 0; i < n; i++) {
      if (!c.str()) return null;
      const id = <i32>(c.sPtr - base), idLen = c.sLen;
      if (!c.str()) return null;
      const content = <i32>(c.sPtr - base), contentLen = c.sLen;
      if (!c.str()) return null;
      docs.items.push(new Document(buffer, id, idLen, content, contentLen, <i32>(c.sPtr - base), c.sLen));
    }
    if (c.left() != 0) return null;
    return docs;
  }
}

/** A DocumentList written in the compact encoding. */
export class DocumentList {
  buf: ByteBuffer;
  count: i32 = 0;

  constructor(buf: ByteBuffer | null = null) {
    this.buf = buf !== null ? buf : new ByteBuffer();
    this.buf.reset();
    this.buf.u32(0);
  }

  get length(): i32 {
    return this.count;
  }

  /** Appends one document; the strings are copied as UTF-8. */
  add(id: string, content: string, metadata: string): void {
    this.buf.lstring(id);
    this.buf.lstring(content);
    this.buf.lstring(metadata);
    this.count++;
  }

  /** Appends a copy of d, byte for byte. */
  addDocument(d: Document): void {
    const base = changetype<usize>(d.buffer);
    this.buf.lbytes(base + d.idOffset, d.idLength);
    this.buf.lbytes(base + d.contentOffset, d.contentLength);
    this.buf.lbytes(base + d.metadataOffset, d.metadataLength);
    this.count++;
  }

  /** Appends d with another metadata. */
  addWithMetadata(d: Document, metadata: string): void {
    const base = changetype<usize>(d.buffer);
    this.buf.lbytes(base + d.idOffset, d.idLength);
    this.buf.lbytes(base + d.contentOffset, d.contentLength);
    this.buf.lstring(metadata);
    this.count++;
  }

  /** Writes the count; the buffer then holds the whole list. */
  finish(): ByteBuffer {
    store<u32>(this.buf.ptr, <u32>this.count);
    return this.buf;
  }
}

/** One V1_3 Error item of a ComponentStatus. */
export class StatusError {
  constructor(public code: string, public message: string) {}
}

/** The V1_3 ComponentStatus a plugin reports. */
export class ComponentStatus {
  /** status_code, also the HTTP status (outside 100..599: 500). */
  code: i32 = 200;
  status: string = "OK";
  errors: StatusError[] = [];
  /** "" or the text of a JSON object whose members the host writes after
   * status_code, status and errors (see JSONObject). */
  extra: string = "";

  encode(b: ByteBuffer): void {
    b.u32(<u32>this.code);
    b.lstring(this.status);
    b.u32(<u32>this.errors.length);
    for (let i = 0; i < this.errors.length; i++) {
      b.lstring(this.errors[i].code);
      b.lstring(this.errors[i].message);
    }
    b.lstring(this.extra);
  }
}

/** The answer of to_isv: a JSON value or a DocumentList. The last of
 * setJSON and documents wins; nothing set answers JSON null. */
export class Reply {
  json: string | null = null;
  list: DocumentList | null = null;

  constructor(public buf: ByteBuffer) {}

  setJSON(text: string): void {
    this.list = null;
    this.json = text;
  }

  /** Makes the answer a DocumentList and returns it, empty. */
  documents(): DocumentList {
    this.json = null;
    const l = new DocumentList(this.buf);
    this.list = l;
    return l;
  }
}

// ---- JSON, hex, PEM -----------------------------------------------------------

const HEX = "0123456789abcdef";

/** s as a JSON string literal, quoted and escaped. */
export function jsonString(s: string): string {
  let out = "\"";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc = "";
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x0d) esc = "\\r";
    else if (c == 0x09) esc = "\\t";
    else if (c < 0x20) esc = "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 0xf);
    else if (c >= 0xd800 && c <= 0xdfff) {
      // a surrogate: kept when paired, else U+FFFD
      const paired = c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) == 0xdc00;
      if (paired) {
        i++;
        continue;
      }
      esc = "\\ufffd";
    } else continue;
    out += s.substring(start, i) + esc;
    start = i + 1;
  }
  return out + s.substring(start) + "\"";
}

/** A JSON object written member by member:
 *
 *     const o = new JSONObject();
 *     o.int("keys", 3);
 *     o.finish(); // {"keys":3}
 */
export class JSONObject {
  private text: string = "{";
  private n: i32 = 0;

  private key(k: string): void {
    if (this.n++ > 0) this.text += ",";
    this.text += jsonString(k) + ":";
  }

  string(k: string, v: string): JSONObject {
    this.key(k);
    this.text += jsonString(v);
    return this;
  }

  int(k: string, v: i64): JSONObject {
    this.key(k);
    this.text += v.toString();
    return this;
  }

  bool(k: string, v: bool): JSONObject {
    this.key(k);
    this.text += v ? "true" : "false";
    return this;
  }

  /** Adds a member whose value is the JSON text v, unchecked. */
  raw(k: string, v: string): JSONObject {
    this.key(k);
    this.text += v;
    return this;
  }

  finish(): string {
    return this.text + "}";
  }
}

/** The lowercase hex of the n bytes at p. */
export function hexOf(p: usize, n: i32): string {
  const out = new ByteBuffer(2 * n + 1);
  for (let i = 0; i < n; i++) {
    const b = load<u8>(p + i);
    out.u8(<u8>HEX.charCodeAt(b >> 4));
    out.u8(<u8>HEX.charCodeAt(b & 0xf));
  }
  return out.toString();
}

/** The lowercase hex of b, as the framework's sign returned signatures. */
export function hex(b: Uint8Array): string {
  return hexOf(b.dataStart, b.length);
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The framework's PEM form of a SubjectPublicKeyInfo DER (get_key_pem):
 * "-----BEGIN PUBLIC KEY-----\n", base64 in lines of 64 characters each
 * ended by "\n", "-----END PUBLIC KEY-----\n". */
export function publicKeyPEM(der: Uint8Array): string {
  const out = new ByteBuffer();
  out.string("-----BEGIN PUBLIC KEY-----\n");
  let line = 0;
  for (let i = 0; i < der.length; i += 3) {
    let v = <u32>der[i] << 16;
    if (i + 1 < der.length) v |= <u32>der[i + 1] << 8;
    if (i + 2 < der.length) v |= <u32>der[i + 2];
    out.u8(<u8>B64.charCodeAt(v >> 18 & 63));
    out.u8(<u8>B64.charCodeAt(v >> 12 & 63));
    out.u8(i + 1 < der.length ? <u8>B64.charCodeAt(v >> 6 & 63) : 0x3d);
    out.u8(i + 2 < der.length ? <u8>B64.charCodeAt(v & 63) : 0x3d);
    line += 4;
    if (line == 64) {
      out.u8(0x0a);
      line = 0;
    }
  }
  if (line > 0) out.u8(0x0a);
  out.string("-----END PUBLIC KEY-----\n");
  return out.toString();
}

// ---- Logs -----------------------------------------------------------------------

/** The longest prefix of at most n bytes of the UTF-8 text at [p, p+len)
 * that does not split a sequence. */
export function cutUTF8(p: usize, len: i32, n: i32): i32 {
  if (len <= n) return len;
  let i = n;
  while (i > 0 && i > n - 4 && (load<u8>(p + i) & 0xc0) == 0x80) i--;
  return i;
}

/** Writes one log line at level (0 debug, 1 info, 2 warn, 3 error); the
 * host adds the plugin's name and bounds the size and rate. Never log
 * secrets. */
export function writeLog(level: i32, msg: string): void {
  const b = utf8(msg);
  const p = changetype<usize>(b);
  host.log(level, p, cutUTF8(p, b.byteLength, MAX_LOG_LINE_BYTES));
}

// ---- The plugin ------------------------------------------------------------------

/** The failure of a plugin method: an HTTP error whose message the client
 * sees, or an internal one that is only logged (a generic 500). */
export class Failure {
  constructor(public code: i32, public message: string, public internal: bool) {}
}

/** The request fails with this HTTP status (400..599; others become 500)
 * and message, sent to the client: put no internal detail in it. */
export function httpError(code: i32, message: string): Failure {
  return new Failure(code, message, false);
}

/** The request fails with a generic 500; text is only logged. */
export function internalError(text: string): Failure {
  return new Failure(500, text, true);
}

/** What a plugin implements. The host calls one method at a time per
 * instance. Each returns null on success, or a Failure. */
export abstract class Plugin {
  /** Runs once per instance before the first call; a Failure fails the
   * instance. Only logs are allowed here. */
  init(): Failure | null {
    return null;
  }
  /** GET status: fill out (200 OK by default). */
  abstract status(out: ComponentStatus): Failure | null;
  /** GET documents: append the documents for the OSO to out. */
  abstract toOSO(out: DocumentList): Failure | null;
  /** POST documents: input holds the documents the host validated; set
   * the answer on out. */
  abstract toISV(input: Documents, out: Reply): Failure | null;
}

let plugin: Plugin | null = null;
let statelessPlugin: bool = false;

/** Makes p the plugin this module serves; call it once, at the top level
 * of the entry file. stateless: the plugin keeps no state in memory
 * between calls, so the host may run several instances. */
export function register(p: Plugin, stateless: bool = false): void {
  plugin = p;
  statelessPlugin = stateless;
}

// ---- The runtime behind the exports ----------------------------------------------

let input: ArrayBuffer = new ArrayBuffer(0);
let outBuf: ByteBuffer = new ByteBuffer(4096);

export function rtAlloc(size: i32): usize {
  if (size <= 0) return 0;
  if (size > input.byteLength) {
    const want = max(size, min(2 * input.byteLength, 0x3fffff00));
    input = new ArrayBuffer(0); // the old contents are not needed
    input = new ArrayBuffer(want);
  }
  return changetype<usize>(input);
}

export function rtStateless(): i32 {
  return statelessPlugin ? 1 : 0;
}

function notRegistered(): i32 {
  writeLog(3, "oso: no plugin registered: call register() at the top level of the entry file");
  return 1;
}

function fail(method: string, f: Failure): i32 {
  if (f.internal) {
    writeLog(3, "oso: " + method + " failed: " + f.message);
    return 1;
  }
  const b = utf8(f.message);
  const p = changetype<usize>(b);
  host.error(f.code, p, cutUTF8(p, b.byteLength, MAX_ERROR_MESSAGE_BYTES));
  return 1;
}

function emit(kind: i32, b: ByteBuffer): i32 {
  return host.output(kind, b.ptr, b.length) < 0 ? 1 : 0;
}

/** Keeps the output buffer for the next call unless it grew too large. */
function keep(b: ByteBuffer): void {
  outBuf = b.data.byteLength <= DEFAULT_MAX_OUTPUT_BYTES ? b : new ByteBuffer(4096);
}

export function rtInit(): i32 {
  if (plugin === null) return notRegistered();
  const f = plugin!.init();
  if (f !== null) return fail("init", f);
  return 0;
}

export function rtToISV(ptr: usize, len: i32): i32 {
  if (plugin === null) return notRegistered();
  if (len != 0 && (ptr != changetype<usize>(input) || len < 0 || len > input.byteLength)) {
    writeLog(3, "oso: to_isv: input does not match oso_alloc");
    return 1;
  }
  const docs = Documents.parse(input, len);
  if (docs === null) {
    writeLog(3, "oso: to_isv: malformed document list");
    return 1;
  }
  const reply = new Reply(outBuf);
  const f = plugin!.toISV(docs, reply);
  if (f !== null) return fail("to_isv", f);
  const json = reply.json;
  const list = reply.list;
  let r: i32;
  if (json !== null) {
    const b = utf8(json);
    r = host.output(OUTPUT_JSON, changetype<usize>(b), b.byteLength) < 0 ? 1 : 0;
  } else if (list !== null) {
    const b = list.finish();
    r = emit(OUTPUT_DOCUMENT_LIST, b);
    keep(b);
  } else {
    const b = utf8("null");
    r = host.output(OUTPUT_JSON, changetype<usize>(b), b.byteLength) < 0 ? 1 : 0;
  }
  return r;
}

export function rtToOSO(): i32 {
  if (plugin === null) return notRegistered();
  const l = new DocumentList(outBuf);
  const f = plugin!.toOSO(l);
  if (f !== null) return fail("to_oso", f);
  const b = l.finish();
  const r = emit(OUTPUT_DOCUMENT_LIST, b);
  keep(b);
  return r;
}

export function rtStatus(): i32 {
  if (plugin === null) return notRegistered();
  const s = new ComponentStatus();
  const f = plugin!.status(s);
  if (f !== null) return fail("status", f);
  const b = outBuf;
  b.reset();
  s.encode(b);
  const r = emit(OUTPUT_STATUS, b);
  keep(b);
  return r;
}
