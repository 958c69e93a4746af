// extism-as: a plugin built with Extism's AssemblyScript PDK
// (@extism/as-pdk) instead of an osohost SDK. It exports to_oso, to_isv and
// status with Extism's ABI (input and output through the extism:host/env
// functions, JSON text both ways), so that the host can serve it through
// its Extism compatibility path:
//
//   status  {"status_code": 200, "status": "OK", "errors": [], "pdk": "extism-as"}
//   to_oso  {"documents": [], "count": 0}
//   to_isv  {"received": N}, N the number of documents of the posted
//           DocumentList JSON; invalid input fails with an error
//
// Build from the repository root with `make examples-extism-as`.
import { Host, LogLevel, Memory } from "@extism/as-pdk";
import { error_set } from "@extism/as-pdk/lib/env";

// Called by AssemblyScript on a failed assertion or an allocation failure:
// ends the call with a trap (selected by --use abort=...).
function abort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}

// output answers text as UTF-8 (Host.outputString would count UTF-16 units).
function output(text: string): i32 {
  Host.output(Uint8Array.wrap(String.UTF8.encode(text)));
  return 0;
}

// fail ends the call with an Extism error.
function fail(message: string): i32 {
  Host.log(LogLevel.Warn, "extism-as: " + message);
  error_set(Memory.allocateString(message).offset);
  return 1;
}

export function status(): i32 {
  return output('{"status_code":200,"status":"OK","errors":[],"pdk":"extism-as"}');
}

export function to_oso(): i32 {
  return output('{"documents":[],"count":0}');
}

// maxDepth bounds the nesting the scanner follows.
const maxDepth = 64;

// countDocuments returns the number of elements of the top-level
// "documents" array of the JSON object text, -1 when the text is not an
// object with such an array, or is malformed as far as the scanner sees
// (strings, nesting and commas; values themselves are not checked).
function countDocuments(s: string): i32 {
  let depth = 0;
  let count = -1;
  let inDocs = false; // inside the top-level "documents" array
  let afterDocsKey = false; // saw "documents": at depth 1
  let elements = 0;
  let sawValue = false;
  let lastKey = "";
  let expectKey = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) { // string
      let j = i + 1;
      while (j < s.length && s.charCodeAt(j) != 0x22) {
        if (s.charCodeAt(j) == 0x5c) j++;
        j++;
      }
      if (j >= s.length) return -1;
      if (depth == 1 && expectKey) lastKey = s.substring(i + 1, j);
      if (inDocs && depth == 2) sawValue = true;
      i = j;
      continue;
    }
    if (c == 0x7b || c == 0x5b) { // { [
      depth++;
      if (depth > maxDepth) return -1;
      if (depth == 1 && c != 0x7b) return -1;
      if (depth == 1) expectKey = true;
      if (depth == 2 && afterDocsKey) {
        if (c != 0x5b) return -1;
        inDocs = true;
        elements = 0;
        sawValue = false;
      } else if (inDocs && depth == 3) {
        sawValue = true;
      }
      afterDocsKey = false;
      continue;
    }
    if (c == 0x7d || c == 0x5d) { // } ]
      if (depth == 2 && inDocs) {
        if (c != 0x5d) return -1;
        count = elements + (sawValue ? 1 : 0);
        inDocs = false;
      }
      depth--;
      if (depth < 0) return -1;
      continue;
    }
    if (c == 0x3a && depth == 1) { // :
      expectKey = false;
      afterDocsKey = lastKey == "documents";
      continue;
    }
    if (c == 0x2c) { // ,
      if (depth == 1) expectKey = true;
      if (inDocs && depth == 2) {
        if (!sawValue) return -1;
        elements++;
        sawValue = false;
      }
      continue;
    }
    if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) continue;
    if (inDocs && depth == 2) sawValue = true; // a number, true, false or null
    if (depth == 1 && afterDocsKey) return -1; // "documents" is not an array
  }
  return depth == 0 ? count : -1;
}

export function to_isv(): i32 {
  const n = countDocuments(Host.inputString());
  if (n < 0) return fail("the input is not a DocumentList");
  return output('{"received":' + n.toString() + "}");
}
