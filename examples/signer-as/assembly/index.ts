// signer-as: the signing backend of examples/signer, written in
// AssemblyScript with guest-sdk/assemblyscript. It signs the content of
// every document the OSO posts with an Ed25519 key the host keeps (the key
// never enters the plugin), answers the documents with the signature in
// their metadata, and keeps them in the host's durable state until the OSO
// collects them with GET documents. Its observable behaviour is that of
// examples/signer (see its README).
//
// Build from the repository root with `make examples-as`.
import * as oso from "../../../guest-sdk/assemblyscript/assembly/index";
export * from "../../../guest-sdk/assemblyscript/assembly/exports";

// The key to sign with. When empty, the plugin signs with the first ED25519
// key the host lists (ids are sorted, so every instance picks the same
// one), and generates one when there is none. Set it here to pin a key.
const PINNED_KEY = "";

// Signed documents wait in state under this prefix, then the time of the
// request (16 hex digits of Unix nanoseconds), 16 random hex digits, "/" and
// the document's place in its request (6 digits): keys sort in the order
// the documents were signed, and concurrent requests never write the same
// key. A value is the signed document as a one-document compact
// DocumentList.
const SIGNED_PREFIX = "signed/";

// Bounds one to_oso answer (compact encoding); what does not fit waits for
// the next GET.
const MAX_BATCH_BYTES: i32 = 4 << 20;

// signingKey returns the key to sign with in keyID, or a negative status:
// the pinned key, else the first ED25519 key, generated if there is none.
let keyID = "";

function signingKey(): i32 {
  if (PINNED_KEY.length > 0) {
    keyID = PINNED_KEY;
    return 0;
  }
  const ids = oso.listKeys(oso.KEY_ED25519);
  if (ids.status < 0) return ids.status;
  if (ids.ids.length > 0) {
    keyID = ids.ids[0];
    return 0;
  }
  const k = oso.generateKey(oso.KEY_ED25519);
  if (k.status < 0) return k.status;
  keyID = k.key!.id;
  oso.log.info("signer: generated ED25519 key " + keyID);
  return 0;
}

// A signing failure: 503 when the backend is unavailable (the OSO may
// retry), else a generic 500 (the cause is logged, never sent).
function failure(what: string, st: i32): oso.Failure {
  if (st == oso.STATUS_UNAVAILABLE) {
    oso.log.warn("signer: " + what + ": " + oso.statusText(st));
    return oso.httpError(503, "signing backend unavailable, retry later");
  }
  return oso.internalError("signer: " + what + ": " + oso.statusText(st));
}

// A state failure: 503 when too many signed documents wait for collection
// or the host's storage failed, else a generic 500.
function stateFailure(st: i32): oso.Failure {
  if (st == oso.STATUS_LIMITED) {
    oso.log.warn("signer: state: " + oso.statusText(st));
    return oso.httpError(503, "too many signed documents waiting for collection, retry later");
  }
  if (st == oso.STATUS_UNAVAILABLE) {
    oso.log.warn("signer: state: " + oso.statusText(st));
    return oso.httpError(503, "storage unavailable, retry later");
  }
  return oso.internalError("signer: state: " + oso.statusText(st));
}

// hex16 writes v as 16 lowercase hex digits.
function hex16(v: u64): string {
  const b = new Uint8Array(8);
  for (let i = 0; i < 8; i++) b[i] = <u8>(v >> (56 - 8 * i));
  return oso.hex(b);
}

// place writes i zero-padded to 6 digits.
function place(i: i32): string {
  let s = i.toString();
  while (s.length < 6) s = "0" + s;
  return s;
}

class Signer extends oso.Plugin {
  // Signs every document with one sign_many call, keeps the signed
  // documents in state for to_oso, and answers them as a DocumentList
  // whose metadata is
  //
  //   {"key_id": "<id>", "signature": "<lowercase hex>", "algorithm": "ED25519"}
  //
  // If any signature or state write fails, the whole request fails.
  toISV(input: oso.Documents, out: oso.Reply): oso.Failure | null {
    const l = out.documents();
    if (input.length == 0) return null;
    let st = signingKey();
    if (st < 0) return failure("find the signing key", st);
    const reqs = new Array<oso.SignRequest>(input.length);
    for (let i = 0; i < input.length; i++) {
      reqs[i] = new oso.SignRequest(keyID, input.at(i).contentBytes());
    }
    const sigs = oso.signMany(reqs);
    if (sigs.status < 0) return failure("sign the documents", sigs.status);

    const rnd = new Uint8Array(8);
    if (oso.randomBytes(rnd) != 0) return oso.internalError("signer: no random bytes");
    const prefix = SIGNED_PREFIX + hex16(oso.unixNanos()) + oso.hex(rnd) + "/";

    let keep = true;
    const one = new oso.ByteBuffer();
    for (let i = 0; i < input.length; i++) {
      const d = input.at(i);
      const sig = sigs.results[i];
      if (sig.status < 0) return failure("sign a document", sig.status);
      const meta = "{\"key_id\": " + oso.jsonString(keyID) + ", \"signature\": \"" + sig.hex() + "\", \"algorithm\": \"ED25519\"}";
      l.addWithMetadata(d, meta);
      if (!keep) continue;
      const v = new oso.DocumentList(one);
      v.addWithMetadata(d, meta);
      st = oso.kvPut(prefix + place(i + 1), v.finish().view());
      if (st == oso.STATUS_NOT_ALLOWED) {
        // The host runs this call without state (outside a request, as
        // `osohost call` does): answer, keep nothing.
        oso.log.warn("signer: no state in this call: the signed documents are answered but not kept for collection");
        keep = false;
      } else if (st < 0) {
        return stateFailure(st);
      }
    }
    return null;
  }

  // Hands over the signed documents, oldest first, up to MAX_BATCH_BYTES
  // per call, and deletes them in the same transaction: they leave the
  // state only when the host commits this call.
  toOSO(out: oso.DocumentList): oso.Failure | null {
    let n = 0;
    let size = 0;
    let failed = 0;
    const it = new oso.KVList(SIGNED_PREFIX);
    while (it.next()) {
      const v = oso.kvGetBytes(it.keyBytes);
      if (v.status <= 0) {
        failed = v.status; // 0: deleted meanwhile, stop here
        break;
      }
      const value = v.value!;
      const docs = oso.Documents.parse(value.buffer, value.length);
      if (docs === null || docs.length != 1) {
        oso.log.error("signer: malformed signed document");
        failed = oso.STATUS_BAD_ANSWER;
        break;
      }
      if (n > 0 && size + value.length - 4 > MAX_BATCH_BYTES) break;
      out.addDocument(docs.at(0));
      const d = oso.kvDeleteBytes(it.keyBytes);
      if (d < 0) {
        failed = d;
        break;
      }
      n++;
      size += value.length - 4;
    }
    const st = it.status < 0 ? it.status : failed;
    if (st < 0 && st != oso.STATUS_NOT_ALLOWED) return stateFailure(st); // not allowed: no state in this call, nothing to collect
    return null;
  }

  // Answers 200 OK with the number of ED25519 keys, {"keys": N}, or 500
  // with an error item when the signing backend cannot be reached or the
  // pinned key is missing.
  status(out: oso.ComponentStatus): oso.Failure | null {
    const ids = oso.listKeys(oso.KEY_ED25519);
    let st = ids.status < 0 ? ids.status : 0;
    if (st == 0 && PINNED_KEY.length > 0) st = oso.publicKey(PINNED_KEY).status;
    if (st < 0) {
      oso.log.error("signer: status: " + oso.statusText(st));
      let msg = "signing backend unavailable";
      if (st == oso.STATUS_NOT_FOUND) msg = "the configured signing key does not exist";
      else if (st == oso.STATUS_NOT_ALLOWED) msg = "signing with ED25519 keys is not allowed by the host";
      out.code = 500;
      out.status = "Internal Server Error";
      out.errors = [new oso.StatusError("1", msg)];
      return null;
    }
    out.extra = new oso.JSONObject().int("keys", ids.ids.length).finish();
    return null;
  }
}

oso.register(new Signer(), true);
