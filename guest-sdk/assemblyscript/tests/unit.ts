// Unit tests of the SDK's pure parts (encodings, JSON, hex, PEM), run by
// tests/run.mjs under Node.js with stand-in host functions. The host
// functions themselves are exercised against osohost by
// guest-sdk/conformance.
import * as oso from "../assembly/index";

let failures = 0;

function check(ok: bool, what: string): void {
  if (!ok) {
    failures++;
    oso.log.error("FAIL " + what);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
  return true;
}

function ofString(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

function testList(): void {
  const l = new oso.DocumentList();
  l.add("a", "hello", "");
  l.add("", "é", "{\"k\": 1}");
  const b = l.finish().toUint8Array();
  const want = new Uint8Array(4 + 4 + 1 + 4 + 5 + 4 + 4 + 4 + 2 + 4 + 8);
  let i = 0;
  const put32 = (v: i32, a: Uint8Array, at: i32): void => { a[at] = <u8>v; a[at + 1] = <u8>(v >> 8); a[at + 2] = <u8>(v >> 16); a[at + 3] = <u8>(v >> 24); };
  put32(2, want, 0); i = 4;
  put32(1, want, i); want[i + 4] = 0x61; i += 5;
  put32(5, want, i); want.set(ofString("hello"), i + 4); i += 9;
  put32(0, want, i); i += 4;
  put32(0, want, i); i += 4;
  put32(2, want, i); want[i + 4] = 0xc3; want[i + 5] = 0xa9; i += 6;
  put32(8, want, i); want.set(ofString("{\"k\": 1}"), i + 4);
  check(bytesEqual(b, want), "list encoding");

  const docs = oso.Documents.parse(b.buffer, b.length);
  check(docs !== null && docs.length == 2, "parse");
  if (docs !== null) {
    check(docs.at(0).id == "a" && docs.at(0).content == "hello" && docs.at(0).metadata == "", "first document");
    check(docs.at(1).content == "é" && docs.at(1).metadata == "{\"k\": 1}", "second document");
    check(docs.at(1).contentBytes().length == 2, "content bytes");
  }
  for (let n = 1; n < b.length; n++) {
    check(oso.Documents.parse(b.buffer, n) === null, "prefix " + n.toString());
  }
  const big = new Uint8Array(8);
  big[0] = 0xff; big[1] = 0xff; big[2] = 0xff; big[3] = 0x7f;
  check(oso.Documents.parse(big.buffer, 8) === null, "huge count");
  check(oso.Documents.parse(b.buffer, 0)!.length == 0, "empty input");
}

function testStatus(): void {
  const s = new oso.ComponentStatus();
  s.code = 503;
  s.status = "bad";
  s.errors = [new oso.StatusError("hsm", "down")];
  s.extra = "{}";
  const b = new oso.ByteBuffer();
  s.encode(b);
  const got = b.toUint8Array();
  check(got.length == 4 + 7 + 4 + 7 + 8 + 6 && got[0] == 0xf7 && got[1] == 1, "status encoding");
}

function testJSON(): void {
  check(oso.jsonString("a\"b\\c\n\r\t\x01 é 😀") == "\"a\\\"b\\\\c\\n\\r\\t\\u0001 é 😀\"", "json string");
  check(oso.jsonString(String.fromCharCode(0xd800) + "x") == "\"\\ufffdx\"", "lone surrogate");
  check(new oso.JSONObject().int("keys", -3).bool("ok", true).string("s", "x").raw("r", "[1]").finish() == "{\"keys\":-3,\"ok\":true,\"s\":\"x\",\"r\":[1]}", "json object");
}

function testHexPEM(): void {
  const b = new Uint8Array(4);
  b[0] = 0; b[1] = 0x1f; b[2] = 0xa0; b[3] = 0xff;
  check(oso.hex(b) == "001fa0ff", "hex");
  const spki = new Uint8Array(44);
  const head: u8[] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
  for (let i = 0; i < head.length; i++) spki[i] = head[i];
  check(oso.publicKeyPEM(spki) == "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-----END PUBLIC KEY-----\n", "pem 44");
  const der = new Uint8Array(49);
  for (let i = 0; i < 49; i++) der[i] = <u8>i;
  check(oso.publicKeyPEM(der) == "-----BEGIN PUBLIC KEY-----\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\nMA==\n-----END PUBLIC KEY-----\n", "pem 49");
}

function testHost(): void {
  // The stand-in host answers NOT_ALLOWED to everything but the clock and
  // the random generator.
  check(oso.listKeys(oso.KEY_ED25519).status == oso.STATUS_NOT_ALLOWED, "list keys");
  check(oso.kvGet("k").status == oso.STATUS_NOT_ALLOWED, "kv get");
  const it = new oso.KVList("p/");
  check(!it.next() && it.status == oso.STATUS_NOT_ALLOWED, "kv list");
  check(oso.unixNanos() > 1600000000000000000, "clock");
  const r = new Uint8Array(16);
  check(oso.randomBytes(r) == 0 && oso.hex(r) != "00000000000000000000000000000000", "random");
  check(oso.cutUTF8(changetype<usize>(String.UTF8.encode("ééé")), 6, 3) == 2, "cut");
}

export function run(): i32 {
  testList();
  testStatus();
  testJSON();
  testHexPEM();
  testHost();
  return failures;
}
