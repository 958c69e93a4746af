// signer-extism: the signing backend of examples/signer, built with
// Extism's AssemblyScript PDK (@extism/as-pdk) instead of an osohost SDK,
// and served by osohost's Extism compatibility path. It signs the content
// of every document the OSO posts with an Ed25519 key the host keeps (the
// key never enters the plugin), answers the documents with the signature
// in their metadata, and keeps them in the host's durable state until the
// OSO collects them with GET documents. Its observable behaviour is that
// of examples/signer (see its README).
//
// Exports, Extism-style () -> i32, JSON text in and out:
//
//   to_isv  the DocumentList the host validated; answers it signed
//   to_oso  no input; answers the signed documents not collected yet
//   status  no input; answers the ComponentStatus, {"keys": N} added
//
// A failed call returns 1. When the client must see why, it sets the
// Extism error "<HTTP status> <message>", answered with that status and
// message: "503 signing backend unavailable, retry later" and the other
// 503s of the Go signer. Otherwise it sets none, and logs the cause through
// the host: the host then answers its generic 500, as for the Go signer's
// internal errors.
//
// Build from the repository root with `make examples-signer-extism`.
import { Host, LogLevel, Memory } from "@extism/as-pdk";
import { error_set } from "@extism/as-pdk/lib/env";
import * as oso from "./oso";
import { Bytes, JSON_ARRAY, JSON_NULL, hex, hexString, jsonString, parseJSON, text, utf8 } from "./json";

// The key to sign with. When empty, the plugin signs with the first ED25519
// key the host lists (ids are sorted, so every instance picks the same
// one), and generates one when there is none. Set it here to pin a key.
const PINNED_KEY = "";

// Signed documents wait in state under this prefix, then the time of the
// request (16 hex digits of Unix nanoseconds), 16 random hex digits, "/" and
// the document's place in its request (6 digits): keys sort in the order
// the documents were signed, and concurrent requests never write the same
// key. A value is the signed document as a one-document compact
// DocumentList (abi/SPEC.md), as the Go signer keeps it, so either build
// can collect what the other signed.
const SIGNED_PREFIX = "signed/";

// Bounds one to_oso answer, measured as the Go signer measures it (the
// compact encoding); what does not fit waits for the next GET.
const MAX_BATCH_BYTES: i32 = 4 << 20;

// Bounds the JSON of one to_oso answer, the host's default bound on an
// export's output: documents whose escaping makes their JSON much larger
// than their compact form wait for the next GET rather than making the
// answer too large for the host. The first document is always answered.
const MAX_OUTPUT_BYTES: i32 = 8 << 20;

// The keys to_oso asks for per oso_kv_list call.
const LIST_PAGE: i32 = 256;

// ---- Failures -------------------------------------------------------------------

/** The failure of a call: an HTTP status and a message the client sees,
 * or (message "") a generic 500 whose cause is only logged. */
class Failure {
  constructor(public code: i32, public message: string, public cause: string) {}
}

function httpError(code: i32, message: string): Failure {
  return new Failure(code, message, "");
}

function internalError(cause: string): Failure {
  return new Failure(500, "", cause);
}

// A signing failure: 503 when the backend is unavailable (the OSO may
// retry), else a generic 500.
function failure(what: string, st: i32): Failure {
  if (st == oso.STATUS_UNAVAILABLE) {
    Host.log(LogLevel.Warn, "signer: " + what + ": " + oso.statusText(st));
    return httpError(503, "signing backend unavailable, retry later");
  }
  return internalError(what + ": " + oso.statusText(st));
}

// A state failure: 503 when too many signed documents wait for collection
// or the host's storage failed, else a generic 500.
function stateFailure(st: i32): Failure {
  if (st == oso.STATUS_LIMITED) {
    Host.log(LogLevel.Warn, "signer: state: " + oso.statusText(st));
    return httpError(503, "too many signed documents waiting for collection, retry later");
  }
  if (st == oso.STATUS_UNAVAILABLE) {
    Host.log(LogLevel.Warn, "signer: state: " + oso.statusText(st));
    return httpError(503, "storage unavailable, retry later");
  }
  return internalError("state: " + oso.statusText(st));
}

/** Ends an export call with f: an Extism error "<status> <message>", or
 * for a generic 500 no error and the cause in the log. */
function fail(method: string, f: Failure): i32 {
  if (f.message.length == 0) {
    Host.log(LogLevel.Error, "signer: " + method + " failed: " + f.cause);
    return 1;
  }
  error_set(Memory.allocateString(f.code.toString() + " " + f.message).offset);
  return 1;
}

/** Ends an export call with out as its output. */
function output(out: Bytes): i32 {
  Host.output(out.view()); // Host.outputString would count UTF-16 units
  return 0;
}

// Called by AssemblyScript on a failed assertion, an out-of-bounds access
// or an allocation failure (selected by --use abort=...): logs through the
// host and traps; the host answers 500 and discards the instance.
function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  // A byte of static memory flags a first abort (a global cannot: abort
  // may run before globals are initialised). Logging allocates: when that
  // aborts too, trap at once rather than recurse.
  const first = memory.data(1);
  if (load<u8>(first) == 0) {
    store<u8>(first, 1);
    let m = "signer: abort";
    if (message !== null) m += ": " + message;
    if (fileName !== null) m += " at " + fileName + ":" + line.toString() + ":" + column.toString();
    Host.log(LogLevel.Error, m);
  }
  unreachable();
}

// ---- Documents --------------------------------------------------------------------

/** One document: the UTF-8 bytes of its strings. */
class Document {
  constructor(public id: Uint8Array, public content: Uint8Array, public metadata: Uint8Array) {}
}

const LIST_MEMBERS = ["documents", "count"];
const DOCUMENT_MEMBERS = ["id", "content", "metadata"];
const NO_METADATA = new Uint8Array(0);

/** The documents of the DocumentList JSON the host hands to to_isv,
 * {"documents":[{"id":"…","content":"…","metadata":"…"},…],"count":N}, or
 * null when b is anything else: strict JSON, no other members, string
 * ids and contents, metadata a string (null or absent: ""). */
function parseDocuments(b: Uint8Array): Document[] | null {
  const v = parseJSON(b);
  if (v === null || !v.only(LIST_MEMBERS)) return null;
  const list = v.get("documents");
  const count = v.get("count");
  if (list === null || list.kind != JSON_ARRAY) return null;
  if (count !== null && (!count.isInt() || count.int < 0)) return null;
  const docs = new Array<Document>(list.items.length);
  for (let i = 0; i < list.items.length; i++) {
    const d = list.items[i];
    if (!d.only(DOCUMENT_MEMBERS)) return null;
    const id = d.get("id");
    const content = d.get("content");
    const meta = d.get("metadata");
    if (id === null || !id.isString() || content === null || !content.isString()) return null;
    let metadata = NO_METADATA;
    if (meta !== null && meta.kind != JSON_NULL) {
      if (!meta.isString()) return null;
      metadata = meta.bytes;
    }
    docs[i] = new Document(id.bytes, content.bytes, metadata);
  }
  return docs;
}

/** Appends one document of a DocumentList answer. */
function appendDocument(out: Bytes, d: Document): void {
  out.ascii("{\"id\":");
  jsonString(out, d.id);
  out.ascii(",\"content\":");
  jsonString(out, d.content);
  out.ascii(",\"metadata\":");
  jsonString(out, d.metadata);
  out.byte(0x7d);
}

/** Writes d into out as a one-document compact DocumentList: the count,
 * then each string as a little-endian u32 length and its bytes. */
function compactDocument(out: Bytes, d: Document): void {
  out.length = 0;
  out.u32(1);
  out.u32(d.id.length);
  out.append(d.id);
  out.u32(d.content.length);
  out.append(d.content);
  out.u32(d.metadata.length);
  out.append(d.metadata);
}

/** The document of a one-document compact DocumentList, or null. */
function parseCompactDocument(b: Uint8Array): Document | null {
  if (b.length < 16 || load<u32>(b.dataStart) != 1) return null;
  const s = new Array<Uint8Array>(3);
  let at = 4;
  for (let i = 0; i < 3; i++) {
    if (b.length - at < 4) return null;
    const n = load<u32>(b.dataStart + at);
    at += 4;
    if (<u64>n > <u64>(b.length - at)) return null;
    s[i] = b.slice(at, at + <i32>n);
    at += <i32>n;
  }
  if (at != b.length) return null;
  return new Document(s[0], s[1], s[2]);
}

// ---- The signer ----------------------------------------------------------------------

/** The key to sign with: the pinned key, else the first ED25519 key,
 * generated if there is none. Two instances that find no key at the same
 * moment may both generate one; from then on both use the first of the
 * two, and each signature names its key. */
function signingKey(): oso.NewKey {
  if (PINNED_KEY.length > 0) return new oso.NewKey(0, utf8(PINNED_KEY));
  const ids = oso.listKeys();
  if (ids.status < 0) return new oso.NewKey(ids.status, new Uint8Array(0));
  if (ids.ids.length > 0) return new oso.NewKey(0, ids.ids[0]);
  const k = oso.generateKey();
  if (k.status == 0) Host.log(LogLevel.Info, "signer: generated ED25519 key " + text(k.id));
  return k;
}

/** 16 lowercase hex digits of v. */
function hex16(v: u64): string {
  const b = new Uint8Array(8);
  for (let i = 0; i < 8; i++) b[i] = <u8>(v >> (56 - 8 * i));
  return hexString(b);
}

/** i zero-padded to 6 digits. */
function place(i: i32): string {
  let s = i.toString();
  while (s.length < 6) s = "0" + s;
  return s;
}

// Signs every document (one oso_sign_many call per SIGN_MANY_REQUEST_BYTES
// of requests, see oso.ts), keeps the signed documents in state for
// to_oso, and answers them as a DocumentList whose metadata is
//
//   {"key_id": "<id>", "signature": "<lowercase hex>", "algorithm": "ED25519"}
//
// If any signature or state write fails, the whole request fails (and the
// host keeps none of it). Without state in the call (outside a request),
// the documents are answered and not kept.
function toISV(input: Uint8Array, out: Bytes): Failure | null {
  const docs = parseDocuments(input);
  if (docs === null) return internalError("the input is not a DocumentList");
  out.ascii("{\"documents\":[");
  if (docs.length > 0) {
    const key = signingKey();
    if (key.status < 0) return failure("find the signing key", key.status);
    const data = new Array<Uint8Array>(docs.length);
    for (let i = 0; i < docs.length; i++) data[i] = docs[i].content;
    const sigs = oso.signMany(key.id, data);
    if (sigs.status < 0) {
      return failure("sign " + docs.length.toString() + " documents with key " + text(key.id), sigs.status);
    }

    const rnd = new Uint8Array(8);
    if (oso.randomBytes(rnd) != 0) return internalError("no random bytes");
    const prefix = SIGNED_PREFIX + hex16(oso.unixNanos()) + hexString(rnd) + "/";

    let keep = true;
    const meta = new Bytes(256);
    const value = new Bytes(256);
    for (let i = 0; i < docs.length; i++) {
      const sig = sigs.results[i];
      if (sig.status < 0) {
        return failure("sign document " + (i + 1).toString() + " with key " + text(key.id), sig.status);
      }
      meta.length = 0;
      meta.ascii("{\"key_id\": ");
      jsonString(meta, key.id);
      meta.ascii(", \"signature\": \"");
      hex(meta, sig.bytes);
      meta.ascii("\", \"algorithm\": \"ED25519\"}");
      const d = new Document(docs[i].id, docs[i].content, meta.view());
      if (i > 0) out.byte(0x2c);
      appendDocument(out, d);

      if (!keep) continue;
      compactDocument(value, d);
      const st = oso.kvPut(utf8(prefix + place(i + 1)), value.view());
      if (st == oso.STATUS_NOT_ALLOWED) {
        // The host runs this call without state (outside a request, as
        // `osohost call` does): answer, keep nothing.
        Host.log(LogLevel.Warn, "signer: no state in this call: the signed documents are answered but not kept for collection");
        keep = false;
      } else if (st < 0) {
        return stateFailure(st);
      }
    }
  }
  out.ascii("],\"count\":" + docs.length.toString() + "}");
  return null;
}

// Hands over the signed documents, oldest first, up to MAX_BATCH_BYTES
// per call, and deletes them in the same transaction: they leave the
// state only when the host commits this call, before it sends the answer.
function toOSO(out: Bytes): Failure | null {
  out.ascii("{\"documents\":[");
  const prefix = utf8(SIGNED_PREFIX);
  const doc = new Bytes();
  let n = 0;
  let size = 0;
  let st = 0;
  let after = new Uint8Array(0);
  let done = false;
  while (!done) {
    const page = oso.kvList(prefix, after, LIST_PAGE);
    if (page.status < 0) {
      st = page.status;
      break;
    }
    for (let i = 0; i < page.keys.length && !done; i++) {
      const k = page.keys[i];
      const v = oso.kvGet(k);
      if (v.status <= 0) {
        st = v.status; // 0: deleted meanwhile, stop here
        done = true;
        continue;
      }
      const d = parseCompactDocument(v.value);
      if (d === null) {
        Host.log(LogLevel.Error, "signer: malformed signed document " + text(k));
        st = oso.STATUS_BAD_ANSWER;
        done = true;
        continue;
      }
      doc.length = 0;
      appendDocument(doc, d);
      if (n > 0 && (size + v.value.length - 4 > MAX_BATCH_BYTES || out.length + 1 + doc.length + 32 > MAX_OUTPUT_BYTES)) {
        done = true;
        continue;
      }
      if (n > 0) out.byte(0x2c);
      out.append(doc.view());
      const del = oso.kvDelete(k);
      if (del < 0) {
        st = del;
        done = true;
        continue;
      }
      n++;
      size += v.value.length - 4;
    }
    if (!page.more || page.keys.length == 0) break;
    after = page.keys[page.keys.length - 1];
  }
  // Not allowed: no state in this call, nothing kept, nothing to collect.
  if (st < 0 && st != oso.STATUS_NOT_ALLOWED) return stateFailure(st);
  out.ascii("],\"count\":" + n.toString() + "}");
  return null;
}

// Answers 200 OK with the number of ED25519 keys, {"keys": N}, or 500
// with an error item when the signing backend cannot be reached or the
// pinned key is missing.
function componentStatus(out: Bytes): void {
  const ids = oso.listKeys();
  let st = ids.status;
  if (st == 0 && PINNED_KEY.length > 0) st = oso.publicKey(utf8(PINNED_KEY));
  if (st < 0) {
    Host.log(LogLevel.Error, "signer: status: " + oso.statusText(st));
    let msg = "signing backend unavailable";
    if (st == oso.STATUS_NOT_FOUND) msg = "the configured signing key does not exist";
    else if (st == oso.STATUS_NOT_ALLOWED) msg = "signing with ED25519 keys is not allowed by the host";
    out.ascii("{\"status_code\":500,\"status\":\"Internal Server Error\",\"errors\":[{\"code\":\"1\",\"message\":\"" + msg + "\"}]}");
    return;
  }
  out.ascii("{\"status_code\":200,\"status\":\"OK\",\"errors\":[],\"keys\":" + ids.ids.length.toString() + "}");
}

// ---- Exports --------------------------------------------------------------------------

export function to_isv(): i32 {
  const out = new Bytes(4096);
  const f = toISV(Host.input(), out);
  return f !== null ? fail("to_isv", f) : output(out);
}

export function to_oso(): i32 {
  const out = new Bytes(4096);
  const f = toOSO(out);
  return f !== null ? fail("to_oso", f) : output(out);
}

export function status(): i32 {
  const out = new Bytes(256);
  componentStatus(out);
  return output(out);
}

/** osohost's stateless marker (not an Extism export: the host calls it
 * once per instance, as for native modules): the plugin keeps nothing in
 * memory between calls, so the host may run several instances at once. */
export function oso_stateless(): i32 {
  return 1;
}
