// Host functions of module "oso" (native OSO plugin ABI v1.2) and the few
// WASI functions the SDK uses. Prefer the typed wrappers of the SDK.

// @ts-ignore: decorator
@external("oso", "output")
export declare function output(kind: i32, ptr: usize, len: i32): i32;
// @ts-ignore: decorator
@external("oso", "error")
export declare function error(code: i32, ptr: usize, len: i32): i32;
// @ts-ignore: decorator
@external("oso", "log")
export declare function log(level: i32, ptr: usize, len: i32): i32;

// ABI v1.1: signing.
// @ts-ignore: decorator
@external("oso", "key_generate")
export declare function key_generate(type: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("oso", "key_list")
export declare function key_list(type: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("oso", "key_public")
export declare function key_public(id: usize, idLen: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("oso", "sign")
export declare function sign(id: usize, idLen: i32, data: usize, dataLen: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("oso", "sign_many")
export declare function sign_many(input: usize, inLen: i32, out: usize, cap: i32): i32;

// ABI v1.2: credentials and state.
// @ts-ignore: decorator
@external("oso", "credential")
export declare function credential(name: usize, nameLen: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("oso", "kv_get")
export declare function kv_get(key: usize, keyLen: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("oso", "kv_put")
export declare function kv_put(key: usize, keyLen: i32, val: usize, valLen: i32): i32;
// @ts-ignore: decorator
@external("oso", "kv_delete")
export declare function kv_delete(key: usize, keyLen: i32): i32;
// @ts-ignore: decorator
@external("oso", "kv_list")
export declare function kv_list(prefix: usize, prefixLen: i32, after: usize, afterLen: i32, out: usize, cap: i32): i32;

// WASI.
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
export declare function clock_time_get(id: u32, precision: u64, out: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
export declare function random_get(buf: usize, len: usize): u16;
