;; Has the marker but to_isv has the wrong signature and status is missing.
(module
  (memory (export "memory") 1)
  (func (export "oso_abi_v1") (result i32) i32.const 0)
  (func (export "oso_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "to_oso") (param i32 i32) (result i32) i32.const 0)
  (func (export "to_isv") (param i32) (result i32) i32.const 0))
