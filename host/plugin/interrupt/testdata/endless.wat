;; The smallest guest that never returns: one endless loop, nothing else.
(module
  (func (export "run")
    (loop $forever (br $forever))))
