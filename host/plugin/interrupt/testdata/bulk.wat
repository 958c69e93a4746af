;; Bulk memory, reference types, typed select, non-trapping conversions and
;; sign extension, inside loops.
(module
  (type $i2i (func (param i32) (result i32)))
  (memory 1)
  (table $t 4 funcref)
  (table $refs 2 externref)
  (data $hello "hello, bulk memory")
  (elem $fns func $inc $dbl)
  (elem declare func $inc)

  (func $inc (type $i2i) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $i2i) (i32.mul (local.get 0) (i32.const 2)))

  ;; copy fills, initialises and copies memory n times and returns a digest.
  (func (export "copy") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (memory.fill (i32.const 100) (local.get $i) (i32.const 32))
        (memory.init $hello (i32.const 104) (i32.const 0) (i32.const 18))
        (memory.copy (i32.const 200) (i32.const 100) (i32.const 32))
        (local.set $acc (i32.add (local.get $acc) (i32.load8_u offset=205 (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (data.drop $hello)
    (local.get $acc))

  ;; tables applies inc/dbl in turn n times through a table filled with
  ;; table.init, table.copy, table.set and table.fill.
  (func (export "tables") (param $n i32) (result i32)
    (local $v i32)
    (table.init $t $fns (i32.const 0) (i32.const 0) (i32.const 2))
    (elem.drop $fns)
    (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 2))
    (table.set $t (i32.const 3) (ref.func $inc))
    (drop (table.grow $t (ref.null func) (i32.const 1)))
    (table.fill $t (i32.const 4) (ref.func $inc) (i32.const 1))
    (table.set $refs (i32.const 0) (ref.null extern))
    (local.set $v (i32.const 1))
    (loop $l
      (local.set $v (call_indirect $t (type $i2i) (local.get $v)
        (i32.rem_u (local.get $n) (table.size $t))))
      (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l))
    (i32.add (local.get $v)
      (i32.add (ref.is_null (table.get $refs (i32.const 0)))
        (ref.is_null (table.get $t (i32.const 1))))))

  ;; convert exercises typed select, saturating truncation and sign extension.
  (func (export "convert") (param $x f32) (param $pick i32) (result i32)
    (select (result i32)
      (i32.trunc_sat_f32_s (local.get $x))
      (i32.extend8_s (i32.trunc_sat_f32_u (local.get $x)))
      (local.get $pick))))
