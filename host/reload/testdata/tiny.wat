;; The smallest module a pool can serve: every export answers success with
;; no output. The reload tests that do not call the guest use it, because
;; it compiles at once.
;;   wat2wasm tiny.wat -o tiny.wasm
(module
  (memory (export "memory") 1)
  (func (export "_initialize"))
  (func (export "oso_abi_v1") (result i32) i32.const 0)
  (func (export "oso_alloc") (param i32) (result i32) i32.const 4096)
  (func (export "status") (param i32 i32) (result i32) i32.const 0)
  (func (export "to_oso") (param i32 i32) (result i32) i32.const 0)
  (func (export "to_isv") (param i32 i32) (result i32) i32.const 0))
