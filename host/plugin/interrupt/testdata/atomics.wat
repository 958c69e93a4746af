;; Threads: shared memory and atomic instructions, including atomic.fence.
(module
  (memory 1 1 shared)
  (func (export "add") (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (drop (i32.atomic.rmw.add (i32.const 0) (local.get $i)))
        (atomic.fence)
        (drop (i64.atomic.rmw32.cmpxchg_u offset=8 (i32.const 0) (i64.const 0) (i64.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
    (i32.add (i32.atomic.load (i32.const 0)) (i32.atomic.load offset=8 (i32.const 0)))))
