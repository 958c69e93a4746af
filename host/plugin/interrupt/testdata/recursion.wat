;; Recursion: plain, mutual, and through a table.
(module
  (type $i2i (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $fib $even)

  (func $fib (export "fib") (type $i2i)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add
        (call $fib (i32.sub (local.get 0) (i32.const 1)))
        (call $fib (i32.sub (local.get 0) (i32.const 2)))))))

  (func $even (export "even") (type $i2i)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1))
      (else (call $odd (i32.sub (local.get 0) (i32.const 1))))))

  (func $odd (type $i2i)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (call $even (i32.sub (local.get 0) (i32.const 1))))))

  ;; indirect calls table entry 0 or 1 with n.
  (func (export "indirect") (param $entry i32) (param $n i32) (result i32)
    (call_indirect (type $i2i) (local.get $n) (local.get $entry))))
