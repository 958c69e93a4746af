;; Imports two globals (so the flag's index is 2 + the defined globals), a
;; function, a memory and a table, and defines globals of its own.
(module
  (import "env" "base" (global $base i32))
  (import "env" "counter" (global $counter (mut i64)))
  (import "env" "two" (func $two (result i32)))
  (import "env" "memory" (memory 1))
  (import "env" "table" (table 1 funcref))
  (global $step (mut i32) (i32.const 0))
  (global $scale i32 (global.get $base))

  ;; answer returns base + two() = 42.
  (func (export "answer") (result i32)
    (i32.add (global.get $base) (call $two)))

  ;; bump adds n to the imported counter in n iterations, stores the count
  ;; of iterations in memory and its own global, and returns the counter.
  (func (export "bump") (param $n i32) (result i64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (global.get $step) (local.get $n)))
        (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
        (global.set $step (i32.add (global.get $step) (i32.const 1)))
        (i32.store (i32.const 16) (global.get $step))
        (br $l)))
    (global.get $counter))

  (func (export "scaled") (param i32) (result i32)
    (i32.mul (local.get 0) (global.get $scale))))
