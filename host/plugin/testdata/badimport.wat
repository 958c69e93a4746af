;; A complete plugin that imports a function the host does not provide and
;; one from a module the host does not provide.
(module
  (import "oso" "sign_everything" (func (param i32) (result i32)))
  (import "env" "socket" (func (result i32)))
  (memory (export "memory") 1)
  (func (export "oso_abi_v1") (result i32) i32.const 0)
  (func (export "oso_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "to_oso") (param i32 i32) (result i32) i32.const 0)
  (func (export "to_isv") (param i32 i32) (result i32) i32.const 0)
  (func (export "status") (param i32 i32) (result i32) i32.const 0))
