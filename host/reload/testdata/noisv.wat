;; A reactor of the native ABI that lacks the to_isv export: a reload to it
;; must be refused before any instance is made.
;;   wat2wasm noisv.wat -o noisv.wasm
(module
  (memory (export "memory") 1)
  (func (export "_initialize"))
  (func (export "oso_abi_v1") (result i32) i32.const 0)
  (func (export "oso_alloc") (param i32) (result i32) i32.const 4096)
  (func (export "status") (param i32 i32) (result i32) i32.const 0)
  (func (export "to_oso") (param i32 i32) (result i32) i32.const 0))
