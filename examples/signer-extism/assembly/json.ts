// Bytes, JSON, base64 and hex for the signer: a growing byte buffer, a
// strict and bounded JSON parser (for the to_isv input and the host
// functions' answers), a JSON string writer that escapes as osohost writes
// documents, and the encodings the host functions use. Everything works on
// UTF-8 bytes: the content a signature covers is never re-encoded.

const HEX = "0123456789abcdef";
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The deepest nesting Parser accepts; the signer's JSON needs 4. */
export const MAX_DEPTH: i32 = 8;

// ---- Bytes ------------------------------------------------------------------

/** A growing byte buffer. */
export class Bytes {
  data: Uint8Array;
  length: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.data = new Uint8Array(max(capacity, 16));
  }

  /** Makes room for n more bytes. */
  reserve(n: i32): void {
    const need = <i64>this.length + <i64>n;
    if (need <= <i64>this.data.length) return;
    let c = <i64>this.data.length * 2;
    while (c < need) c *= 2;
    const d = new Uint8Array(<i32>min<i64>(c, 0x3fffff00));
    memory.copy(d.dataStart, this.data.dataStart, this.length);
    this.data = d;
  }

  byte(c: u8): void {
    this.reserve(1);
    store<u8>(this.data.dataStart + this.length, c);
    this.length++;
  }

  /** Appends s, which must be ASCII (the signer's constant texts). */
  ascii(s: string): void {
    this.reserve(s.length);
    const p = this.data.dataStart + this.length;
    for (let i = 0; i < s.length; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
    this.length += s.length;
  }

  append(b: Uint8Array): void {
    this.reserve(b.length);
    memory.copy(this.data.dataStart + this.length, b.dataStart, b.length);
    this.length += b.length;
  }

  /** Appends v little-endian, as the compact encoding writes lengths. */
  u32(v: u32): void {
    this.reserve(4);
    store<u32>(this.data.dataStart + this.length, v);
    this.length += 4;
  }

  /** The bytes, a view starting at offset 0 of the buffer (valid until
   * the buffer grows). */
  view(): Uint8Array {
    return Uint8Array.wrap(this.data.buffer, 0, this.length);
  }
}

/** The UTF-8 bytes of s. */
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

/** b decoded as UTF-8, for logs. */
export function text(b: Uint8Array): string {
  return String.UTF8.decodeUnsafe(b.dataStart, b.length);
}

/** Byte-wise comparison: negative, 0 or positive. */
export function compare(a: Uint8Array, b: Uint8Array): i32 {
  const c = memory.compare(a.dataStart, b.dataStart, min(a.length, b.length));
  return c != 0 ? c : a.length - b.length;
}

export function hasPrefix(b: Uint8Array, prefix: Uint8Array): bool {
  return b.length >= prefix.length && memory.compare(b.dataStart, prefix.dataStart, prefix.length) == 0;
}

// ---- UTF-8 -------------------------------------------------------------------

/** The length of the valid UTF-8 sequence at b[i..], or 0 when the bytes
 * there are not one (overlong forms and surrogates are invalid, as Go's
 * unicode/utf8 decides). b[i] must be 0x80 or above. */
function utf8Sequence(b: Uint8Array, i: i32): i32 {
  const n = b.length;
  const c = <u32>b[i];
  let size = 0;
  let lo: u32 = 0x80, hi: u32 = 0xbf; // bounds of the second byte
  if (c >= 0xc2 && c <= 0xdf) size = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    size = 3;
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    size = 4;
    if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
  } else return 0;
  if (i + size > n) return 0;
  const c1 = <u32>b[i + 1];
  if (c1 < lo || c1 > hi) return 0;
  for (let k = 2; k < size; k++) {
    if ((<u32>b[i + k] & 0xc0) != 0x80) return 0;
  }
  return size;
}

/** Appends code point r as UTF-8. */
function appendRune(out: Bytes, r: u32): void {
  if (r < 0x80) {
    out.byte(<u8>r);
  } else if (r < 0x800) {
    out.byte(<u8>(0xc0 | (r >> 6)));
    out.byte(<u8>(0x80 | (r & 0x3f)));
  } else if (r < 0x10000) {
    out.byte(<u8>(0xe0 | (r >> 12)));
    out.byte(<u8>(0x80 | ((r >> 6) & 0x3f)));
    out.byte(<u8>(0x80 | (r & 0x3f)));
  } else {
    out.byte(<u8>(0xf0 | (r >> 18)));
    out.byte(<u8>(0x80 | ((r >> 12) & 0x3f)));
    out.byte(<u8>(0x80 | ((r >> 6) & 0x3f)));
    out.byte(<u8>(0x80 | (r & 0x3f)));
  }
}

// ---- Writing JSON ---------------------------------------------------------------

/** Appends s as a JSON string, escaped exactly as osohost writes the
 * strings of a DocumentList: UTF-8 kept as it is; '"', '\\' and control
 * characters escaped (\b \f \n \r \t, else \u00XX); U+2028 and U+2029
 * escaped; each byte of invalid UTF-8 written as \ufffd. */
export function jsonString(out: Bytes, s: Uint8Array): void {
  out.reserve(s.length + 2);
  out.byte(0x22);
  const n = s.length;
  let start = 0;
  let i = 0;
  while (i < n) {
    const c = s[i];
    if (c >= 0x20 && c < 0x80 && c != 0x22 && c != 0x5c) {
      i++;
      continue;
    }
    let esc = "";
    let size = 1;
    if (c < 0x80) {
      if (c == 0x22) esc = "\\\"";
      else if (c == 0x5c) esc = "\\\\";
      else if (c == 0x0a) esc = "\\n";
      else if (c == 0x0d) esc = "\\r";
      else if (c == 0x09) esc = "\\t";
      else if (c == 0x08) esc = "\\b";
      else if (c == 0x0c) esc = "\\f";
      else esc = "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 0xf);
    } else {
      size = utf8Sequence(s, i);
      if (size == 0) {
        esc = "\\ufffd";
        size = 1;
      } else if (size == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
        esc = s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
      } else {
        i += size;
        continue;
      }
    }
    out.append(s.subarray(start, i));
    out.ascii(esc);
    i += size;
    start = i;
  }
  out.append(s.subarray(start, n));
  out.byte(0x22);
}

// ---- Reading JSON ---------------------------------------------------------------

export const JSON_NULL: i32 = 0;
export const JSON_BOOL: i32 = 1;
export const JSON_NUMBER: i32 = 2;
export const JSON_STRING: i32 = 3;
export const JSON_ARRAY: i32 = 4;
export const JSON_OBJECT: i32 = 5;

/** One JSON value. Strings keep their UTF-8 bytes, unescaped; a number
 * keeps its value only when it is an integer that fits in an i64. */
export class Value {
  /** The string's bytes (JSON_STRING). */
  bytes: Uint8Array = EMPTY;
  /** true, or the number is an integer in int (JSON_BOOL, JSON_NUMBER). */
  flag: bool = false;
  int: i64 = 0;
  /** Array elements, or object member values (JSON_ARRAY, JSON_OBJECT). */
  items: Value[] = NO_ITEMS;
  /** Object member names, in the order of items (JSON_OBJECT). */
  names: string[] = NO_NAMES;

  constructor(public kind: i32) {}

  /** The value of member name of an object, or null. */
  get(name: string): Value | null {
    for (let i = 0; i < this.names.length; i++) {
      if (this.names[i] == name) return this.items[i];
    }
    return null;
  }

  /** Whether this is an object whose member names all are in allowed. */
  only(allowed: string[]): bool {
    if (this.kind != JSON_OBJECT) return false;
    for (let i = 0; i < this.names.length; i++) {
      if (!allowed.includes(this.names[i])) return false;
    }
    return true;
  }

  isString(): bool {
    return this.kind == JSON_STRING;
  }

  /** Whether this is an integer number. */
  isInt(): bool {
    return this.kind == JSON_NUMBER && this.flag;
  }
}

const EMPTY = new Uint8Array(0);
// Shared empty lists of the values that have none: never appended to.
const NO_ITEMS = new Array<Value>(0);
const NO_NAMES = new Array<string>(0);

/** Parses b as one JSON value (RFC 8259; whitespace around it), or
 * returns null when it is not JSON, nests deeper than MAX_DEPTH, repeats
 * a member name in an object, holds invalid UTF-8 or an unpaired
 * surrogate escape. */
export function parseJSON(b: Uint8Array): Value | null {
  const p = new Parser(b);
  p.space();
  const v = p.value(1);
  p.space();
  return v !== null && p.pos == b.length ? v : null;
}

class Parser {
  pos: i32 = 0;
  scratch: Bytes = new Bytes();

  constructor(public b: Uint8Array) {}

  space(): void {
    const b = this.b;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return;
      this.pos++;
    }
  }

  /** Consumes the literal word when it comes next. */
  word(w: string): bool {
    if (this.pos + w.length > this.b.length) return false;
    for (let i = 0; i < w.length; i++) {
      if (this.b[this.pos + i] != <u8>w.charCodeAt(i)) return false;
    }
    this.pos += w.length;
    return true;
  }

  value(depth: i32): Value | null {
    if (depth > MAX_DEPTH || this.pos >= this.b.length) return null;
    const c = this.b[this.pos];
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.string();
      if (s === null) return null;
      const v = new Value(JSON_STRING);
      v.bytes = s;
      return v;
    }
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.word("true")) {
      const v = new Value(JSON_BOOL);
      v.flag = true;
      return v;
    }
    if (this.word("false")) return new Value(JSON_BOOL);
    if (this.word("null")) return new Value(JSON_NULL);
    return null;
  }

  object(depth: i32): Value | null {
    this.pos++; // {
    const v = new Value(JSON_OBJECT);
    v.items = [];
    v.names = [];
    this.space();
    if (this.pos < this.b.length && this.b[this.pos] == 0x7d) {
      this.pos++;
      return v;
    }
    for (;;) {
      this.space();
      if (this.pos >= this.b.length || this.b[this.pos] != 0x22) return null;
      const k = this.string();
      if (k === null) return null;
      const name = text(k);
      if (v.names.includes(name)) return null;
      this.space();
      if (this.pos >= this.b.length || this.b[this.pos] != 0x3a) return null;
      this.pos++;
      this.space();
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.names.push(name);
      v.items.push(item);
      this.space();
      if (this.pos >= this.b.length) return null;
      const c = this.b[this.pos++];
      if (c == 0x7d) return v;
      if (c != 0x2c) return null;
    }
    return null; // not reached
  }

  array(depth: i32): Value | null {
    this.pos++; // [
    const v = new Value(JSON_ARRAY);
    v.items = [];
    this.space();
    if (this.pos < this.b.length && this.b[this.pos] == 0x5d) {
      this.pos++;
      return v;
    }
    for (;;) {
      this.space();
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.items.push(item);
      this.space();
      if (this.pos >= this.b.length) return null;
      const c = this.b[this.pos++];
      if (c == 0x5d) return v;
      if (c != 0x2c) return null;
    }
    return null; // not reached
  }

  /** Reads a string at pos (a '"') and returns its bytes, unescaped. */
  string(): Uint8Array | null {
    const b = this.b;
    const n = b.length;
    let i = this.pos + 1;
    const start = i;
    // Fast path: no escapes.
    while (i < n) {
      const c = b[i];
      if (c == 0x22 || c == 0x5c || c < 0x20) break;
      if (c < 0x80) {
        i++;
        continue;
      }
      const size = utf8Sequence(b, i);
      if (size == 0) return null;
      i += size;
    }
    if (i >= n || b[i] < 0x20) return null;
    if (b[i] == 0x22) {
      this.pos = i + 1;
      return b.slice(start, i);
    }
    const out = this.scratch;
    out.length = 0;
    out.append(b.subarray(start, i));
    while (i < n) {
      const c = b[i];
      if (c == 0x22) {
        this.pos = i + 1;
        return out.view().slice();
      }
      if (c < 0x20) return null;
      if (c >= 0x80) {
        const size = utf8Sequence(b, i);
        if (size == 0) return null;
        out.append(b.subarray(i, i + size));
        i += size;
        continue;
      }
      if (c != 0x5c) {
        out.byte(c);
        i++;
        continue;
      }
      if (i + 1 >= n) return null;
      const e = b[i + 1];
      i += 2;
      if (e == 0x22 || e == 0x5c || e == 0x2f) out.byte(e);
      else if (e == 0x62) out.byte(0x08);
      else if (e == 0x66) out.byte(0x0c);
      else if (e == 0x6e) out.byte(0x0a);
      else if (e == 0x72) out.byte(0x0d);
      else if (e == 0x74) out.byte(0x09);
      else if (e == 0x75) {
        let r = hex4(b, i);
        if (r < 0) return null;
        i += 4;
        if (r >= 0xdc00 && r <= 0xdfff) return null; // unpaired low surrogate
        if (r >= 0xd800 && r <= 0xdbff) {
          if (i + 6 > n || b[i] != 0x5c || b[i + 1] != 0x75) return null;
          const lo = hex4(b, i + 2);
          if (lo < 0xdc00 || lo > 0xdfff) return null;
          i += 6;
          r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
        }
        appendRune(out, <u32>r);
      } else return null;
    }
    return null;
  }

  /** Reads a number; its value is kept when it is an integer of at most
   * 18 digits. */
  number(): Value | null {
    const b = this.b;
    const n = b.length;
    let i = this.pos;
    const neg = b[i] == 0x2d;
    if (neg) i++;
    if (i >= n || b[i] < 0x30 || b[i] > 0x39) return null;
    let digits = 0;
    let int: i64 = 0;
    if (b[i] == 0x30) {
      i++;
    } else {
      while (i < n && b[i] >= 0x30 && b[i] <= 0x39) {
        if (digits < 18) int = int * 10 + <i64>(b[i] - 0x30);
        digits++;
        i++;
      }
    }
    let integer = digits <= 18;
    if (i < n && b[i] == 0x2e) { // fraction
      i++;
      if (i >= n || b[i] < 0x30 || b[i] > 0x39) return null;
      while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++;
      integer = false;
    }
    if (i < n && (b[i] == 0x65 || b[i] == 0x45)) { // exponent
      i++;
      if (i < n && (b[i] == 0x2b || b[i] == 0x2d)) i++;
      if (i >= n || b[i] < 0x30 || b[i] > 0x39) return null;
      while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++;
      integer = false;
    }
    this.pos = i;
    const v = new Value(JSON_NUMBER);
    v.flag = integer;
    v.int = neg ? -int : int;
    return v;
  }
}

/** The value of the 4 hex digits at b[i..], or -1. */
function hex4(b: Uint8Array, i: i32): i32 {
  if (i + 4 > b.length) return -1;
  let r = 0;
  for (let k = 0; k < 4; k++) {
    const c = <i32>b[i + k];
    let d = -1;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
    if (d < 0) return -1;
    r = (r << 4) | d;
  }
  return r;
}

// ---- Base64 and hex ------------------------------------------------------------

/** The length of the standard base64 (with padding) of n bytes. */
export function base64Length(n: i32): i32 {
  return (n + 2) / 3 * 4;
}

/** Appends b in standard base64 with padding. */
export function base64(out: Bytes, b: Uint8Array): void {
  const n = b.length;
  out.reserve(base64Length(n));
  for (let i = 0; i < n; i += 3) {
    let v = <u32>b[i] << 16;
    if (i + 1 < n) v |= <u32>b[i + 1] << 8;
    if (i + 2 < n) v |= <u32>b[i + 2];
    out.byte(<u8>B64.charCodeAt(v >> 18 & 63));
    out.byte(<u8>B64.charCodeAt(v >> 12 & 63));
    out.byte(i + 1 < n ? <u8>B64.charCodeAt(v >> 6 & 63) : 0x3d);
    out.byte(i + 2 < n ? <u8>B64.charCodeAt(v & 63) : 0x3d);
  }
}

function base64Digit(c: u8): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == 0x2b) return 62;
  if (c == 0x2f) return 63;
  return -1;
}

/** Decodes standard base64 with padding, or returns null when s is not
 * that. */
export function unbase64(s: Uint8Array): Uint8Array | null {
  const n = s.length;
  if (n % 4 != 0) return null;
  let pad = 0;
  if (n > 0 && s[n - 1] == 0x3d) pad++;
  if (n > 1 && s[n - 2] == 0x3d) pad++;
  const out = new Uint8Array(n / 4 * 3 - pad);
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    const last = i + 4 == n;
    let v: u32 = 0;
    for (let k = 0; k < 4; k++) {
      let d = base64Digit(s[i + k]);
      if (d < 0) {
        if (!last || k < 4 - pad) return null; // '=' only as the padding
        d = 0;
      }
      v = (v << 6) | <u32>d;
    }
    out[o++] = <u8>(v >> 16);
    if (o < out.length) out[o++] = <u8>(v >> 8);
    if (o < out.length) out[o++] = <u8>v;
  }
  return out;
}

/** Appends the lowercase hex of b. */
export function hex(out: Bytes, b: Uint8Array): void {
  out.reserve(2 * b.length);
  for (let i = 0; i < b.length; i++) {
    out.byte(<u8>HEX.charCodeAt(b[i] >> 4));
    out.byte(<u8>HEX.charCodeAt(b[i] & 0xf));
  }
}

/** The lowercase hex of b, as a string. */
export function hexString(b: Uint8Array): string {
  const out = new Bytes(2 * b.length);
  hex(out, b);
  return text(out.view());
}
