// Signing, credentials, state, time and randomness: wrappers of the host
// functions that check every answer of the host before using it. None
// throws: each result carries a status, 0 (or positive) on success, else a
// negative STATUS_* value.
import * as host from "./host";
import { ByteBuffer, Cursor, STATUS_BAD_ANSWER, STATUS_NOT_FOUND, STATUS_TOO_LARGE, STATUS_TOO_SMALL, hex, publicKeyPEM, utf8 } from "./core";

// Limits (abi/abi.go).
export const MAX_KEY_ID_BYTES: i32 = 64;
export const MAX_SIGN_DATA_BYTES: i32 = 1 << 20;
export const MAX_SIGN_BATCH: i32 = 10000;
export const MAX_SIGN_MANY_INPUT_BYTES: i32 = 16 << 20;
export const SIGNATURE_BYTES: i32 = 64;
export const KEY_INFO_MAX_BYTES: i32 = 512;
export const SIGN_RESULT_BYTES: i32 = 8 + SIGNATURE_BYTES;
export const MAX_CREDENTIAL_NAME_BYTES: i32 = 128;
export const MAX_CREDENTIAL_BYTES: i32 = 16 << 10;
export const MAX_KV_KEY_BYTES: i32 = 512;
export const MAX_KV_VALUE_BYTES: i32 = 1 << 20;

// ---- Signing ------------------------------------------------------------------

/** Key types: ECDSA over secp256k1 (sign takes exactly a 32-byte digest and
 * returns r||s, low-S) and pure Ed25519 (sign takes the message). */
export const KEY_SECP256K1: i32 = 1;
export const KEY_ED25519: i32 = 2;

/** The framework's name of a key type: "SECP256K1", "ED25519" or "". */
export function keyTypeName(t: i32): string {
  if (t == KEY_SECP256K1) return "SECP256K1";
  if (t == KEY_ED25519) return "ED25519";
  return "";
}

/** A key pair the host keeps; only its public half reaches the plugin. */
export class Key {
  constructor(public id: string, public type: i32, public publicKey: Uint8Array) {}

  /** The public key (SubjectPublicKeyInfo DER) as PEM, as get_key_pem. */
  pem(): string {
    return publicKeyPEM(this.publicKey);
  }
}

/** The outcome of generateKey or publicKey: status 0 and key, or a
 * negative status and null. */
export class KeyResult {
  constructor(public status: i32, public key: Key | null) {}
}

/** The outcome of listKeys: status (the number of ids, or negative) and
 * the ids, sorted byte-wise. */
export class KeyListResult {
  constructor(public status: i32, public ids: string[]) {}
}

/** One signature: status 0 and 64 bytes, or a negative status and null. */
export class Signature {
  constructor(public status: i32, public bytes: Uint8Array | null) {}

  /** The signature in lowercase hex, as the framework's sign ("" when it
   * failed). */
  hex(): string {
    const b = this.bytes;
    return b !== null ? hex(b) : "";
  }
}

/** One request of signMany; data is read during the call only. */
export class SignRequest {
  constructor(public keyID: string, public data: Uint8Array) {}
}

/** The outcome of signMany: status 0 and one Signature per request, or a
 * negative status for the batch as a whole. */
export class SignManyResult {
  constructor(public status: i32, public results: Signature[]) {}
}

function copyOut(p: usize, n: i32): Uint8Array {
  const a = new Uint8Array(n);
  memory.copy(a.dataStart, p, n);
  return a;
}

/** A host function's result for a buffer of cap bytes: negative statuses
 * pass; a count larger than the buffer is a malformed answer. */
function answer(n: i32, cap: i32): i32 {
  if (n < 0) return n;
  return n > cap ? STATUS_BAD_ANSWER : n;
}

/** Creates a key pair of type t on the host (the framework's
 * generate_key_pair returned key.id and key.pem()). */
export function generateKey(t: i32): KeyResult {
  const out = new ArrayBuffer(KEY_INFO_MAX_BYTES);
  const p = changetype<usize>(out);
  const n = answer(host.key_generate(t, p, KEY_INFO_MAX_BYTES), KEY_INFO_MAX_BYTES);
  if (n < 0) return new KeyResult(n, null);
  const c = new Cursor(p, p + n);
  if (!c.str() || c.sLen == 0 || c.sLen > MAX_KEY_ID_BYTES) return new KeyResult(STATUS_BAD_ANSWER, null);
  const id = c.text();
  if (!c.str() || c.left() != 0) return new KeyResult(STATUS_BAD_ANSWER, null);
  return new KeyResult(0, new Key(id, t, copyOut(c.sPtr, c.sLen)));
}

const MAX_KEY_LIST_BYTES: i32 = 16 << 20;

/** Reads a KeyList at [p, p+n): its items decoded, or null. */
function keyList(p: usize, n: i32): string[] | null {
  const c = new Cursor(p, p + n);
  const count = c.count(4);
  if (count < 0) return null;
  const ids = new Array<string>(0);
  for (let i = 0; i < count; i++) {
    if (!c.str()) return null;
    ids.push(c.text());
  }
  return c.left() == 0 ? ids : null;
}

/** The ids of the keys of type t the plugin may use, sorted byte-wise. */
export function listKeys(t: i32): KeyListResult {
  let size = 4096;
  for (;;) {
    const out = new ArrayBuffer(size);
    const p = changetype<usize>(out);
    const r = host.key_list(t, p, size);
    if (r == STATUS_TOO_SMALL && size < MAX_KEY_LIST_BYTES) {
      size = min(2 * size, MAX_KEY_LIST_BYTES);
      continue;
    }
    const n = answer(r, size);
    if (n < 0) return new KeyListResult(n, []);
    const ids = keyList(p, n);
    if (ids === null) return new KeyListResult(STATUS_BAD_ANSWER, []);
    return new KeyListResult(ids.length, ids);
  }
}

/** The key with that id (its type and public key), or STATUS_NOT_FOUND. */
export function publicKey(id: string): KeyResult {
  const idb = utf8(id);
  if (idb.byteLength > MAX_KEY_ID_BYTES) return new KeyResult(STATUS_TOO_LARGE, null);
  const out = new ArrayBuffer(KEY_INFO_MAX_BYTES);
  const p = changetype<usize>(out);
  const n = answer(host.key_public(changetype<usize>(idb), idb.byteLength, p, KEY_INFO_MAX_BYTES), KEY_INFO_MAX_BYTES);
  if (n < 0) return new KeyResult(n, null);
  const c = new Cursor(p, p + n);
  const t = <i32>c.u32();
  if (!c.str() || c.left() != 0) return new KeyResult(STATUS_BAD_ANSWER, null);
  return new KeyResult(0, new Key(id, t, copyOut(c.sPtr, c.sLen)));
}

/** Signs data with the key id: 64 bytes. SECP256K1 keys take exactly a
 * 32-byte digest; ED25519 keys sign data itself. Every signature is
 * audited by the host. To sign several, use signMany. */
export function sign(id: string, data: Uint8Array): Signature {
  const idb = utf8(id);
  if (idb.byteLength > MAX_KEY_ID_BYTES || data.length > MAX_SIGN_DATA_BYTES) return new Signature(STATUS_TOO_LARGE, null);
  const sig = new Uint8Array(SIGNATURE_BYTES);
  const n = answer(host.sign(changetype<usize>(idb), idb.byteLength, data.dataStart, data.length, sig.dataStart, SIGNATURE_BYTES), SIGNATURE_BYTES);
  if (n < 0) return new Signature(n, null);
  if (n != SIGNATURE_BYTES) return new Signature(STATUS_BAD_ANSWER, null);
  return new Signature(0, sig);
}

/** Signs every request in one crossing (batches over MAX_SIGN_BATCH
 * requests or MAX_SIGN_MANY_INPUT_BYTES bytes are split); the host signs
 * them concurrently. Each request gets its own Signature, in order. */
export function signMany(reqs: SignRequest[]): SignManyResult {
  const res = new Array<Signature>(reqs.length);
  const input = new ByteBuffer();
  const idx = new Array<i32>(0);
  let i = 0;
  while (i < reqs.length) {
    input.reset();
    input.u32(0);
    idx.length = 0;
    while (i < reqs.length && idx.length < MAX_SIGN_BATCH) {
      const r = reqs[i];
      const idb = utf8(r.keyID);
      if (idb.byteLength > MAX_KEY_ID_BYTES || r.data.length > MAX_SIGN_DATA_BYTES) {
        res[i] = new Signature(STATUS_TOO_LARGE, null);
        i++;
        continue;
      }
      if (idx.length > 0 && <i64>input.length + 8 + idb.byteLength + r.data.length > <i64>MAX_SIGN_MANY_INPUT_BYTES) break;
      input.lbytes(changetype<usize>(idb), idb.byteLength);
      input.lbytes(r.data.dataStart, r.data.length);
      idx.push(i);
      i++;
    }
    if (idx.length == 0) continue;
    store<u32>(input.ptr, <u32>idx.length);
    const cap = 4 + idx.length * SIGN_RESULT_BYTES;
    const out = new ArrayBuffer(cap);
    const p = changetype<usize>(out);
    const n = answer(host.sign_many(input.ptr, input.length, p, cap), cap);
    if (n < 0) return new SignManyResult(n, []);
    const c = new Cursor(p, p + n);
    if (c.u32() != <u32>idx.length) return new SignManyResult(STATUS_BAD_ANSWER, []);
    for (let j = 0; j < idx.length; j++) {
      const st = <i32>c.u32();
      if (!c.str()) return new SignManyResult(STATUS_BAD_ANSWER, []);
      if (st == 0 && c.sLen == SIGNATURE_BYTES) {
        res[idx[j]] = new Signature(0, copyOut(c.sPtr, c.sLen));
      } else if (st < 0) {
        res[idx[j]] = new Signature(st, null);
      } else {
        return new SignManyResult(STATUS_BAD_ANSWER, []);
      }
    }
    if (c.left() != 0) return new SignManyResult(STATUS_BAD_ANSWER, []);
  }
  return new SignManyResult(0, res);
}

// ---- Credentials ------------------------------------------------------------------

/** A credential the operator granted to the plugin. Never log the token,
 * put it in an output or an error, or keep it in state; toString hides
 * it. */
export class Credential {
  constructor(public token: string, public tokenType: string, public expiresAtMs: u64) {}

  /** "<type> <token>", or the token alone when it has no type. */
  authorization(): string {
    return this.tokenType.length > 0 ? this.tokenType + " " + this.token : this.token;
  }

  toString(): string {
    return "Credential{token: REDACTED, tokenType: " + this.tokenType + ", expiresAtMs: " + this.expiresAtMs.toString() + "}";
  }
}

/** The outcome of credential: status 0 and the credential, or a negative
 * status (NOT_ALLOWED: not granted or no export call running; NOT_FOUND;
 * UNAVAILABLE: retry later; TOO_LARGE) and null. */
export class CredentialResult {
  constructor(public status: i32, public credential: Credential | null) {}
}

/** Resolves the credential name. The host caches and refreshes
 * credentials: resolve one at every use rather than keeping it. */
export function credential(name: string): CredentialResult {
  const nb = utf8(name);
  if (nb.byteLength > MAX_CREDENTIAL_NAME_BYTES) return new CredentialResult(STATUS_TOO_LARGE, null);
  const out = new ArrayBuffer(MAX_CREDENTIAL_BYTES);
  const p = changetype<usize>(out);
  const n = answer(host.credential(changetype<usize>(nb), nb.byteLength, p, MAX_CREDENTIAL_BYTES), MAX_CREDENTIAL_BYTES);
  let res = new CredentialResult(n < 0 ? n : STATUS_BAD_ANSWER, null);
  if (n >= 0) {
    const c = new Cursor(p, p + n);
    if (c.str() && c.sLen > 0) {
      const token = c.text();
      if (c.str()) {
        const type = c.text();
        const exp = c.u64();
        if (c.ok && c.left() == 0) res = new CredentialResult(0, new Credential(token, type, exp));
      }
    }
  }
  memory.fill(p, 0, MAX_CREDENTIAL_BYTES); // no copy of the secret stays behind
  return res;
}

// ---- State ------------------------------------------------------------------------

/** The outcome of kvGet: status 1 and the value, 0 when the key does not
 * exist, or a negative status. */
export class KVValue {
  constructor(public status: i32, public value: Uint8Array | null) {}

  get found(): bool {
    return this.status == 1;
  }
}

/** The value of a key given as bytes; see kvGet. */
export function kvGetBytes(key: Uint8Array): KVValue {
  if (key.length > MAX_KV_KEY_BYTES) return new KVValue(STATUS_TOO_LARGE, null);
  let size = 4096;
  for (let attempt = 0; attempt < 4; attempt++) { // the value may change size between two tries
    const out = new Uint8Array(size);
    const n = host.kv_get(key.dataStart, key.length, out.dataStart, size);
    if (n == STATUS_NOT_FOUND) return new KVValue(0, null);
    if (n < 0) return new KVValue(n, null);
    if (n <= size) return new KVValue(1, out.slice(0, n));
    if (n > MAX_KV_VALUE_BYTES) break;
    size = n;
  }
  return new KVValue(STATUS_BAD_ANSWER, null);
}

/** Durable state (ABI v1.2): the value of key (UTF-8). The state calls of
 * one export call form a transaction, committed to disk only when the call
 * succeeds. Failures: STATUS_LIMITED (the plugin's quota), NOT_ALLOWED (no
 * state in this call), TOO_LARGE, BAD_ARGUMENT (an empty key),
 * UNAVAILABLE (the host's storage failed). */
export function kvGet(key: string): KVValue {
  return kvGetBytes(Uint8Array.wrap(utf8(key)));
}

/** Sets a key given as bytes; see kvPut. */
export function kvPutBytes(key: Uint8Array, value: Uint8Array): i32 {
  if (key.length > MAX_KV_KEY_BYTES || value.length > MAX_KV_VALUE_BYTES) return STATUS_TOO_LARGE;
  const n = host.kv_put(key.dataStart, key.length, value.dataStart, value.length);
  return n < 0 ? n : 0;
}

/** Sets key to value (copied before it returns): 0 or a negative status. */
export function kvPut(key: string, value: Uint8Array): i32 {
  return kvPutBytes(Uint8Array.wrap(utf8(key)), value);
}

/** Removes a key given as bytes; see kvDelete. */
export function kvDeleteBytes(key: Uint8Array): i32 {
  if (key.length > MAX_KV_KEY_BYTES) return STATUS_TOO_LARGE;
  const n = host.kv_delete(key.dataStart, key.length);
  if (n == STATUS_NOT_FOUND) return 0;
  return n < 0 ? n : 1;
}

/** Removes key: 1 when it existed, 0 when it did not, or a negative
 * status. */
export function kvDelete(key: string): i32 {
  return kvDeleteBytes(Uint8Array.wrap(utf8(key)));
}

const MAX_LIST_BYTES: i32 = 1 << 20;

/** Walks the keys that start with a prefix, in byte order, paging through
 * the host's answers:
 *
 *     const it = new KVList("signed/");
 *     while (it.next()) { ... it.key ... }
 *     if (it.status < 0) { ... }
 *
 * Other state calls may run between next() calls (kvDelete(it.key) too);
 * keys written meanwhile are seen when they sort after the current one. */
export class KVList {
  /** 0, or the negative status that ended the walk. */
  status: i32 = 0;
  /** The current key, as bytes and decoded as UTF-8. */
  keyBytes: Uint8Array = new Uint8Array(0);
  key: string = "";

  private prefix: Uint8Array;
  private page: string[] = [];
  private pageBytes: Uint8Array[] = [];
  private pos: i32 = 0;
  private done: bool = false;

  constructor(prefix: string) {
    this.prefix = Uint8Array.wrap(utf8(prefix));
    if (this.prefix.length > MAX_KV_KEY_BYTES) {
      this.status = STATUS_TOO_LARGE;
      this.done = true;
    }
  }

  /** Moves to the next key: false at the end or on a failure (status). */
  next(): bool {
    if (this.pos >= this.page.length && !this.done) this.fetch();
    if (this.pos >= this.page.length) return false;
    this.key = this.page[this.pos];
    this.keyBytes = this.pageBytes[this.pos];
    this.pos++;
    return true;
  }

  private fail(st: i32): void {
    this.status = st;
    this.done = true;
    this.page = [];
    this.pageBytes = [];
    this.pos = 0;
  }

  private fetch(): void {
    let size = 4096;
    const after = this.keyBytes;
    for (;;) {
      const out = new ArrayBuffer(size);
      const p = changetype<usize>(out);
      const r = host.kv_list(this.prefix.dataStart, this.prefix.length, after.dataStart, after.length, p, size);
      if (r == STATUS_TOO_SMALL && size < MAX_LIST_BYTES) {
        size = min(2 * size, MAX_LIST_BYTES);
        continue;
      }
      const n = answer(r, size);
      if (n < 0) return this.fail(n);
      const c = new Cursor(p, p + n);
      const count = c.count(4);
      if (count < 0) return this.fail(STATUS_BAD_ANSWER);
      const keys = new Array<string>(0);
      const raw = new Array<Uint8Array>(0);
      let prev = after;
      for (let i = 0; i < count; i++) {
        if (!c.str()) return this.fail(STATUS_BAD_ANSWER);
        const k = copyOut(c.sPtr, c.sLen);
        // Each key must start with the prefix and sort after the previous
        // one, or the walk could loop forever.
        if (k.length == 0 || k.length > MAX_KV_KEY_BYTES || !hasPrefix(k, this.prefix) || (prev.length > 0 && compare(k, prev) <= 0)) {
          return this.fail(STATUS_BAD_ANSWER);
        }
        raw.push(k);
        keys.push(c.text());
        prev = k;
      }
      if (c.left() != 0) return this.fail(STATUS_BAD_ANSWER);
      this.page = keys;
      this.pageBytes = raw;
      this.pos = 0;
      if (count == 0) this.done = true;
      return;
    }
  }
}

function hasPrefix(k: Uint8Array, prefix: Uint8Array): bool {
  if (k.length < prefix.length) return false;
  return memory.compare(k.dataStart, prefix.dataStart, prefix.length) == 0;
}

/** Byte-wise comparison: negative, 0 or positive. */
function compare(a: Uint8Array, b: Uint8Array): i32 {
  const c = memory.compare(a.dataStart, b.dataStart, min(a.length, b.length));
  return c != 0 ? c : a.length - b.length;
}

// ---- Time and randomness (WASI) -------------------------------------------------------

/** The realtime clock in Unix nanoseconds (0 if unavailable). */
export function unixNanos(): u64 {
  const out = new ArrayBuffer(8);
  if (host.clock_time_get(0, 1000, changetype<usize>(out)) != 0) return 0;
  return load<u64>(changetype<usize>(out));
}

/** Fills b from the host's cryptographic generator: 0, or -1. */
export function randomBytes(b: Uint8Array): i32 {
  if (b.length == 0) return 0;
  return host.random_get(b.dataStart, b.length) == 0 ? 0 : -1;
}
