;; SIMD: memory arguments, lane indices, 16-byte constants and shuffles, and
;; sub-opcodes of 0x80 and above (two-byte encodings such as i32x4.dot_i16x8_s).
(module
  (memory 1)
  (data (i32.const 0) "\01\00\02\00\03\00\04\00\05\00\06\00\07\00\08\00")

  ;; dot returns a digest of n rounds of vector arithmetic over memory.
  (func (export "dot") (param $n i32) (result i32)
    (local $acc v128) (local $v v128) (local $i i32)
    (local.set $acc (v128.const i32x4 1 2 3 4))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $v (v128.load (i32.const 0)))
        (local.set $v (i16x8.add (local.get $v) (i16x8.splat (local.get $i))))
        (local.set $acc (i32x4.add (local.get $acc)
          (i32x4.dot_i16x8_s (local.get $v) (local.get $v))))
        (local.set $acc (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11
          (local.get $acc) (local.get $acc)))
        (local.set $acc (i32x4.replace_lane 3 (local.get $acc)
          (i32.add (i32x4.extract_lane 3 (local.get $acc)) (local.get $i))))
        (v128.store offset=16 (i32.const 0) (local.get $acc))
        (local.set $acc (v128.load32_lane offset=16 2 (i32.const 0) (local.get $acc)))
        (local.set $acc (v128.xor (local.get $acc) (v128.load32_splat offset=20 (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
      (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))

  ;; fsum returns the sum of n doubles 0.5, 1.5, ... computed two lanes at a
  ;; time (f64x2 sub-opcodes are all at 0xf0 and above).
  (func (export "fsum") (param $n i32) (result f64)
    (local $acc v128) (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (f64x2.add (local.get $acc)
          (f64x2.add (f64x2.splat (f64.convert_i32_u (local.get $i))) (v128.const f64x2 0.5 1.5))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $l)))
    (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc)))))
