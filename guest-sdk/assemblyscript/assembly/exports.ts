// The exports every plugin module needs. Re-export them from the plugin's
// entry file:
//
//     export * from "<path to guest-sdk/assemblyscript>/assembly/exports";
//
// and build with --exportStart _initialize, so that the entry file's
// top-level code (register(...)) runs in the WASI reactor's start-up.
import { ABI_MINOR, rtAlloc, rtInit, rtStateless, rtStatus, rtToISV, rtToOSO } from "./core";

/** The ABI marker: the minor version the module was built for. */
export function oso_abi_v1(): i32 {
  return ABI_MINOR;
}

/** The input buffer of the next call: at least size bytes. */
export function oso_alloc(size: i32): usize {
  return rtAlloc(size);
}

/** 1 when the plugin was registered as stateless. */
export function oso_stateless(): i32 {
  return rtStateless();
}

/** Runs the plugin's init. */
export function init(): i32 {
  return rtInit();
}

export function to_oso(ptr: usize, len: i32): i32 {
  return rtToOSO();
}

export function to_isv(ptr: usize, len: i32): i32 {
  return rtToISV(ptr, len);
}

export function status(ptr: usize, len: i32): i32 {
  return rtStatus();
}
