;; No global and no export section: Instrument has to create both, in their
;; place in the section order (before the start and code sections).
(module
  (memory 1)
  (func $init
    (i32.store (i32.const 0) (i32.const 7)))
  (start $init))
