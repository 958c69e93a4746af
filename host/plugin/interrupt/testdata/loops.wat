;; Loops for the interrupt tests and benchmarks. spin and spin_nested never
;; return on their own: they call test.started once, then loop forever.
(module
  (import "test" "started" (func $started))

  (func (export "spin")
    (call $started)
    (loop $l (br $l)))

  (func (export "spin_nested")
    (call $started)
    (loop $outer
      (loop $inner (br $inner))
      (br $outer)))

  ;; count runs an empty loop n times and returns the number of iterations.
  (func (export "count") (param $n i64) (result i64)
    (local $i i64)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $i))

  ;; sum returns 0 + 1 + ... + (n-1).
  (func (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $s i64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s)))
