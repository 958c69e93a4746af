;; Tail calls: forever recurses without end and without a loop, so only the
;; check at function entry can stop it.
(module
  (import "test" "started" (func $started))

  (func $forever (param i32) (result i32)
    (return_call $forever (i32.add (local.get 0) (i32.const 1))))

  (func (export "spin_tail") (result i32)
    (call $started)
    (return_call $forever (i32.const 0)))

  ;; sum returns 0 + 1 + ... + n through n tail calls.
  (func $sum (export "sum") (param $n i64) (param $acc i64) (result i64)
    (if (result i64) (i64.eqz (local.get $n))
      (then (local.get $acc))
      (else (return_call $sum
        (i64.sub (local.get $n) (i64.const 1))
        (i64.add (local.get $acc) (local.get $n)))))))
