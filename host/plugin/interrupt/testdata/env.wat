;; The module imports.wat links against, registered as "env".
(module
  (global (export "base") i32 (i32.const 40))
  (global (export "counter") (mut i64) (i64.const 0))
  (memory (export "memory") 1)
  (table (export "table") 1 funcref)
  (func (export "two") (result i32) (i32.const 2)))
