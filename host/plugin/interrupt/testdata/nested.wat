;; Nested loops, loops with parameters and results, and br_table dispatch.
(module
  ;; grid returns the sum of i*j for i, j < n.
  (func (export "grid") (param $n i32) (result i64)
    (local $i i32) (local $j i32) (local $s i64)
    (block $done_i
      (loop $li
        (br_if $done_i (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $done_j
          (loop $lj
            (br_if $done_j (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $s (i64.add (local.get $s)
              (i64.extend_i32_u (i32.mul (local.get $i) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $lj)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $li)))
    (local.get $s))

  ;; countdown keeps its counter on the operand stack as the loop parameter
  ;; and returns how many iterations ran (n, or 1 when n is 0).
  (func (export "countdown") (param $n i32) (result i32)
    (local $steps i32)
    (local.get $n)
    (loop $l (param i32) (result i32)
      (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
      (i32.sub (i32.const 1))
      (local.tee $n)
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))
      (drop)
      (local.get $steps)))

  ;; machine walks a small state machine with br_table inside a loop, as Go's
  ;; compiler does for every function, and returns a digest of the states.
  (func (export "machine") (param $steps i32) (result i32)
    (local $state i32) (local $acc i32)
    (block $exit
      (loop $next
        (br_if $exit (i32.eqz (local.get $steps)))
        (local.set $steps (i32.sub (local.get $steps) (i32.const 1)))
        (block $s3 (block $s2 (block $s1 (block $s0
          (br_table $s0 $s1 $s2 $s3 (local.get $state)))
          ;; state 0
          (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
          (local.set $state (i32.const 2))
          (br $next))
          ;; state 1
          (local.set $acc (i32.mul (local.get $acc) (i32.const 3)))
          (local.set $state (i32.const 3))
          (br $next))
          ;; state 2
          (local.set $acc (i32.xor (local.get $acc) (i32.const 0x55)))
          (local.set $state (i32.const 1))
          (br $next))
        ;; state 3 (and the default)
        (local.set $acc (i32.rotl (local.get $acc) (i32.const 5)))
        (local.set $state (i32.const 0))
        (br $next)))
    (local.get $acc)))
