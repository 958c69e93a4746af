;; The smallest servable plugin, hand-written: status answers a JSON
;; ComponentStatus, to_oso an empty list, to_isv echoes nothing (null), and
;; oso_alloc hands out a fixed buffer at 4096 (inputs up to 60 KiB).
(module
  (import "oso" "output" (func $output (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"status_code\":200,\"status\":\"OK\",\"errors\":[]}")
  (data (i32.const 128) "\00\00\00\00")
  (func (export "oso_abi_v1") (result i32) i32.const 0)
  (func (export "oso_alloc") (param $n i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $n) (i32.const 61440))
      (then i32.const 0) (else i32.const 4096)))
  (func (export "status") (param i32 i32) (result i32)
    (drop (call $output (i32.const 1) (i32.const 16) (i32.const 45)))
    i32.const 0)
  (func (export "to_oso") (param i32 i32) (result i32)
    (drop (call $output (i32.const 2) (i32.const 128) (i32.const 4)))
    i32.const 0)
  (func (export "to_isv") (param i32 i32) (result i32) i32.const 0)
  ;; bad pointers: output far outside memory must be refused, not trap.
  (func (export "probe") (result i32)
    (call $output (i32.const 1) (i32.const 0xfffffff0) (i32.const 64))))
