// The osohost host functions the signer calls, as osohost offers them to
// Extism-ABI modules, with typed wrappers that check every answer; and the
// two WASI functions it uses for time and randomness, which the native
// AssemblyScript SDK imports the same way.
//
// Each host function is "extism:host/user" "oso_<name>", (i64) -> i64: it
// takes the offset of an Extism memory block holding a JSON request and
// returns the offset of a block holding the JSON answer. A failure is an
// answer too, {"error":{"status":-6,"name":"unavailable","message":"..."}},
// with the status numbers of the native ABI. Binary data is standard
// base64 with padding.
import { Memory } from "@extism/as-pdk";
import { length } from "@extism/as-pdk/lib/env";
import {
  Bytes, JSON_ARRAY, JSON_BOOL, JSON_OBJECT, Value, base64, base64Length,
  compare, hasPrefix, jsonString, parseJSON, unbase64,
} from "./json";

// @ts-ignore: decorator
@external("extism:host/user", "oso_key_generate")
declare function oso_key_generate(req: u64): u64;
// @ts-ignore: decorator
@external("extism:host/user", "oso_key_list")
declare function oso_key_list(req: u64): u64;
// @ts-ignore: decorator
@external("extism:host/user", "oso_key_public")
declare function oso_key_public(req: u64): u64;
// @ts-ignore: decorator
@external("extism:host/user", "oso_sign_many")
declare function oso_sign_many(req: u64): u64;
// @ts-ignore: decorator
@external("extism:host/user", "oso_kv_get")
declare function oso_kv_get(req: u64): u64;
// @ts-ignore: decorator
@external("extism:host/user", "oso_kv_put")
declare function oso_kv_put(req: u64): u64;
// @ts-ignore: decorator
@external("extism:host/user", "oso_kv_delete")
declare function oso_kv_delete(req: u64): u64;
// @ts-ignore: decorator
@external("extism:host/user", "oso_kv_list")
declare function oso_kv_list(req: u64): u64;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clock_time_get(id: u32, precision: u64, out: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): u16;

// Statuses of the native ABI (negative: failure), as the error answers
// carry them.
export const STATUS_BAD_POINTER: i32 = -1;
export const STATUS_TOO_LARGE: i32 = -2;
export const STATUS_BAD_ARGUMENT: i32 = -3;
export const STATUS_NOT_ALLOWED: i32 = -4;
export const STATUS_LIMITED: i32 = -5;
export const STATUS_UNAVAILABLE: i32 = -6;
export const STATUS_NOT_FOUND: i32 = -7;
export const STATUS_TOO_SMALL: i32 = -8;
/** Never sent by the host: its answer is malformed. */
export const STATUS_BAD_ANSWER: i32 = -100;

/** A short English description of a status, for logs. */
export function statusText(st: i32): string {
  switch (st) {
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

// Limits of the native ABI (abi/abi.go), kept on this path too.
const MAX_KEY_ID_BYTES: i32 = 64;
const MAX_SIGN_DATA_BYTES: i32 = 1 << 20;
const MAX_SIGN_BATCH: i32 = 10000;
const SIGNATURE_BYTES: i32 = 64;
const MAX_KV_KEY_BYTES: i32 = 512;
const MAX_KV_VALUE_BYTES: i32 = 1 << 20;

/** One oso_sign_many request holds documents up to this many bytes of
 * JSON, well below the host's bound on it (the native batch limit in
 * base64, docs/abi-extism.md); a larger batch takes several crossings.
 * One document (at most MAX_SIGN_DATA_BYTES) always fits. */
const SIGN_MANY_REQUEST_BYTES: i32 = 4 << 20;

/** Answers over this many bytes are refused as malformed (the largest the
 * signer expects, a state value of 1 MiB in base64, is far below). */
const MAX_ANSWER_BYTES: u64 = 16 << 20;

// ---- Calling the host --------------------------------------------------------

type HostFunction = (req: u64) => u64;

/** What a host function answered: status 0 and the JSON object, or a
 * negative status. */
class Answer {
  constructor(public status: i32, public value: Value) {}
}

const NO_VALUE = new Value(JSON_OBJECT);

function failed(st: i32): Answer {
  return new Answer(st, NO_VALUE);
}

/** Calls fn with the request JSON in req and reads its answer. */
function call(fn: HostFunction, req: Bytes): Answer {
  const m = Memory.allocate(req.length);
  m.store(req.view());
  const off = fn(m.offset);
  m.free();
  if (off == 0) return failed(STATUS_BAD_ANSWER);
  const n = length(off);
  const res = new Memory(off, n);
  if (n > MAX_ANSWER_BYTES) {
    res.free();
    return failed(STATUS_BAD_ANSWER);
  }
  const b = res.toUint8Array();
  res.free();
  const v = parseJSON(b);
  if (v === null || v.kind != JSON_OBJECT) return failed(STATUS_BAD_ANSWER);
  const e = v.get("error");
  if (e !== null) return failed(errorStatus(e));
  return new Answer(0, v);
}

/** The status of an error object, {"status":-6,"name":...,"message":...}. */
function errorStatus(e: Value): i32 {
  const st = e.kind == JSON_OBJECT ? e.get("status") : null;
  if (st === null || !st.isInt() || st.int >= 0 || st.int <= STATUS_BAD_ANSWER) return STATUS_BAD_ANSWER;
  return <i32>st.int;
}

/** A request {"<name>":"<value>"}. */
function request(name: string, value: Uint8Array): Bytes {
  const b = new Bytes(value.length + 32);
  b.ascii("{\"" + name + "\":");
  jsonString(b, value);
  b.byte(0x7d);
  return b;
}

/** The string member name of v, or null when it is not a string. */
function str(v: Value, name: string): Uint8Array | null {
  const s = v.get(name);
  return s !== null && s.isString() ? s.bytes : null;
}

/** Whether id can be a key id. */
function validKeyID(id: Uint8Array | null): bool {
  return id !== null && id.length > 0 && id.length <= MAX_KEY_ID_BYTES;
}

// ---- Keys and signatures -----------------------------------------------------

const ED25519_REQUEST = "{\"type\":\"ed25519\"}";

/** The outcome of listKeys: status 0 and the ids, sorted, or a negative
 * status. */
export class KeyList {
  constructor(public status: i32, public ids: Uint8Array[]) {}
}

/** The ids of the host's ED25519 keys, sorted byte-wise. */
export function listKeys(): KeyList {
  const req = new Bytes();
  req.ascii(ED25519_REQUEST);
  const a = call(oso_key_list, req);
  if (a.status < 0) return new KeyList(a.status, []);
  const list = a.value.get("key_ids");
  if (list === null || list.kind != JSON_ARRAY) return new KeyList(STATUS_BAD_ANSWER, []);
  const ids = new Array<Uint8Array>(list.items.length);
  for (let i = 0; i < list.items.length; i++) {
    const v = list.items[i];
    if (!v.isString() || !validKeyID(v.bytes)) return new KeyList(STATUS_BAD_ANSWER, []);
    ids[i] = v.bytes;
  }
  return new KeyList(0, ids);
}

/** The outcome of generateKey: status 0 and the new key's id, or a
 * negative status. */
export class NewKey {
  constructor(public status: i32, public id: Uint8Array) {}
}

/** Asks the host to generate an ED25519 key. */
export function generateKey(): NewKey {
  const req = new Bytes();
  req.ascii(ED25519_REQUEST);
  const a = call(oso_key_generate, req);
  if (a.status < 0) return new NewKey(a.status, new Uint8Array(0));
  const id = str(a.value, "key_id");
  if (!validKeyID(id)) return new NewKey(STATUS_BAD_ANSWER, new Uint8Array(0));
  return new NewKey(0, id!);
}

/** Whether the key id exists: 0, or a negative status (NOT_FOUND). */
export function publicKey(id: Uint8Array): i32 {
  if (id.length > MAX_KEY_ID_BYTES) return STATUS_TOO_LARGE;
  const a = call(oso_key_public, request("key_id", id));
  if (a.status < 0) return a.status;
  return validKeyID(str(a.value, "key_id")) && str(a.value, "public_key") !== null ? 0 : STATUS_BAD_ANSWER;
}

/** One signature: status 0 and 64 bytes, or a negative status. */
export class Signature {
  constructor(public status: i32, public bytes: Uint8Array) {}
}

/** The outcome of signMany: status 0 and one Signature per request, in
 * order, or the negative status that failed the whole call. */
export class Signatures {
  constructor(public status: i32, public results: Signature[]) {}
}

const NO_SIGNATURE = new Uint8Array(0);

/** Signs each of data with the key id, in as few oso_sign_many calls as
 * SIGN_MANY_REQUEST_BYTES and the host's MAX_SIGN_BATCH allow; the host
 * signs the requests of one call concurrently. */
export function signMany(id: Uint8Array, data: Uint8Array[]): Signatures {
  const res = new Array<Signature>(data.length);
  const idJSON = new Bytes(id.length + 8);
  jsonString(idJSON, id);
  const req = new Bytes(4096);
  const sent = new Array<i32>(0); // the indexes in this call
  let i = 0;
  while (i < data.length) {
    req.length = 0;
    req.ascii("{\"requests\":[");
    sent.length = 0;
    while (i < data.length && sent.length < MAX_SIGN_BATCH) {
      const d = data[i];
      if (id.length > MAX_KEY_ID_BYTES || d.length > MAX_SIGN_DATA_BYTES) {
        res[i++] = new Signature(STATUS_TOO_LARGE, NO_SIGNATURE);
        continue;
      }
      // {"key_id":<id>,"data":"<base64>"}, a comma before, "]}" after.
      const size = 1 + 21 + idJSON.length + base64Length(d.length) + 2;
      if (sent.length > 0 && req.length + size > SIGN_MANY_REQUEST_BYTES) break;
      if (sent.length > 0) req.byte(0x2c);
      req.ascii("{\"key_id\":");
      req.append(idJSON.view());
      req.ascii(",\"data\":\"");
      base64(req, d);
      req.ascii("\"}");
      sent.push(i++);
    }
    if (sent.length == 0) continue;
    req.ascii("]}");
    const a = call(oso_sign_many, req);
    if (a.status < 0) return new Signatures(a.status, []);
    const list = a.value.get("results");
    if (list === null || list.kind != JSON_ARRAY || list.items.length != sent.length) {
      return new Signatures(STATUS_BAD_ANSWER, []);
    }
    for (let j = 0; j < sent.length; j++) {
      const r = list.items[j];
      if (r.kind != JSON_OBJECT) return new Signatures(STATUS_BAD_ANSWER, []);
      const e = r.get("error");
      if (e !== null) {
        res[sent[j]] = new Signature(errorStatus(e), NO_SIGNATURE);
        continue;
      }
      const b64 = str(r, "signature");
      const sig = b64 !== null ? unbase64(b64) : null;
      if (sig === null || sig.length != SIGNATURE_BYTES) return new Signatures(STATUS_BAD_ANSWER, []);
      res[sent[j]] = new Signature(0, sig);
    }
  }
  return new Signatures(0, res);
}

// ---- State --------------------------------------------------------------------

/** The outcome of kvGet: status 1 and the value, 0 when the key does not
 * exist, or a negative status. */
export class KVValue {
  constructor(public status: i32, public value: Uint8Array) {}
}

/** The value of key. The state calls of one export call form a
 * transaction, committed only when the call succeeds. */
export function kvGet(key: Uint8Array): KVValue {
  const none = new Uint8Array(0);
  if (key.length > MAX_KV_KEY_BYTES) return new KVValue(STATUS_TOO_LARGE, none);
  const a = call(oso_kv_get, request("key", key));
  if (a.status == STATUS_NOT_FOUND) return new KVValue(0, none);
  if (a.status < 0) return new KVValue(a.status, none);
  const b64 = str(a.value, "value");
  const v = b64 !== null ? unbase64(b64) : null;
  if (v === null || v.length > MAX_KV_VALUE_BYTES) return new KVValue(STATUS_BAD_ANSWER, none);
  return new KVValue(1, v);
}

/** Sets key to value: 0 or a negative status (LIMITED: the plugin's
 * quota; NOT_ALLOWED: no state in this call; UNAVAILABLE: the host's
 * storage failed). */
export function kvPut(key: Uint8Array, value: Uint8Array): i32 {
  if (key.length > MAX_KV_KEY_BYTES || value.length > MAX_KV_VALUE_BYTES) return STATUS_TOO_LARGE;
  const req = new Bytes(key.length + base64Length(value.length) + 32);
  req.ascii("{\"key\":");
  jsonString(req, key);
  req.ascii(",\"value\":\"");
  base64(req, value);
  req.ascii("\"}");
  const a = call(oso_kv_put, req);
  return a.status < 0 ? a.status : 0;
}

/** Removes key: 1 when it existed, 0 when it did not, or a negative
 * status. */
export function kvDelete(key: Uint8Array): i32 {
  if (key.length > MAX_KV_KEY_BYTES) return STATUS_TOO_LARGE;
  const a = call(oso_kv_delete, request("key", key));
  if (a.status == STATUS_NOT_FOUND) return 0;
  return a.status < 0 ? a.status : 1;
}

/** One page of kvList: status 0, the keys and whether more follow, or a
 * negative status. */
export class KVPage {
  constructor(public status: i32, public keys: Uint8Array[], public more: bool) {}
}

/** The first keys (at most limit) that start with prefix and sort after
 * after ("" for the first page), in byte order. */
export function kvList(prefix: Uint8Array, after: Uint8Array, limit: i32): KVPage {
  if (prefix.length > MAX_KV_KEY_BYTES || after.length > MAX_KV_KEY_BYTES) return new KVPage(STATUS_TOO_LARGE, [], false);
  const req = new Bytes(prefix.length + after.length + 48);
  req.ascii("{\"prefix\":");
  jsonString(req, prefix);
  req.ascii(",\"after\":");
  jsonString(req, after);
  req.ascii(",\"limit\":" + limit.toString() + "}");
  const a = call(oso_kv_list, req);
  if (a.status < 0) return new KVPage(a.status, [], false);
  const list = a.value.get("keys");
  const more = a.value.get("more");
  if (list === null || list.kind != JSON_ARRAY || more === null || more.kind != JSON_BOOL) {
    return new KVPage(STATUS_BAD_ANSWER, [], false);
  }
  const keys = new Array<Uint8Array>(list.items.length);
  let prev = after;
  for (let i = 0; i < list.items.length; i++) {
    const v = list.items[i];
    // Each key must start with the prefix and sort after the previous
    // one, or a walk over the pages could loop forever.
    if (!v.isString() || v.bytes.length == 0 || v.bytes.length > MAX_KV_KEY_BYTES ||
        !hasPrefix(v.bytes, prefix) || (prev.length > 0 && compare(v.bytes, prev) <= 0)) {
      return new KVPage(STATUS_BAD_ANSWER, [], false);
    }
    keys[i] = v.bytes;
    prev = v.bytes;
  }
  return new KVPage(0, keys, more.flag);
}

// ---- Time and randomness (WASI) ---------------------------------------------

/** The realtime clock in Unix nanoseconds (0 if unavailable). */
export function unixNanos(): u64 {
  const out = new ArrayBuffer(8);
  if (clock_time_get(0, 1000, changetype<usize>(out)) != 0) return 0;
  return load<u64>(changetype<usize>(out));
}

/** Fills b from the host's cryptographic generator: 0, or -1. */
export function randomBytes(b: Uint8Array): i32 {
  if (b.length == 0) return 0;
  return random_get(b.dataStart, b.length) == 0 ? 0 : -1;
}
