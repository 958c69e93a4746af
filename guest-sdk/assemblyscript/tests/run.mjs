// Runs tests/unit.ts (built to build/unit.wasm by `npm test`) with
// stand-in host functions: every oso function refuses (status -4), log
// lines are printed, the clock and the random generator work.
import { readFileSync } from "node:fs";
import { randomFillSync } from "node:crypto";

const wasm = readFileSync(new URL("../build/unit.wasm", import.meta.url));
let memory;
const refuse = () => -4;
const oso = new Proxy({}, {
  get: (_, name) => name === "log"
    ? (level, ptr, len) => { console.log(`log ${level}: ${Buffer.from(memory.buffer, ptr, len).toString()}`); return 0; }
    : refuse,
});
const wasi = {
  clock_time_get: (id, precision, out) => {
    new DataView(memory.buffer).setBigUint64(out, BigInt(Date.now()) * 1000000n, true);
    return 0;
  },
  random_get: (ptr, len) => { randomFillSync(new Uint8Array(memory.buffer, ptr, len)); return 0; },
};
const { instance } = await WebAssembly.instantiate(wasm, { oso, wasi_snapshot_preview1: wasi });
memory = instance.exports.memory;
instance.exports._initialize();
const failures = instance.exports.run();
console.log(failures === 0 ? "1 passed, 0 failed" : `0 passed, 1 failed (${failures} checks)`);
process.exit(failures === 0 ? 0 : 1);
