;; table.copy, table.init and elem.drop, with hostile counts.
;;
;; Both ranges are checked, each with the carry of its addition, before the first element
;; moves, so a trap leaves the tables as they were; a copy within one table is correct in both
;; directions of overlap; a passive segment is dropped by elem.drop, an active or declarative one
;; at instantiation (length 0: only an empty table.init at offset 0 succeeds).

(module
  (type $r (func (result i32)))
  (table $t 8 funcref)
  (table $u 4 funcref)
  (table $x 3 externref)
  (elem $p funcref (ref.func $f0) (ref.func $f1) (ref.func $f2) (ref.null func))
  (elem $a (table $t) (i32.const 0) func $f3)
  (elem $d declare func $f0)
  (func $f0 (type $r) (i32.const 10))
  (func $f1 (type $r) (i32.const 11))
  (func $f2 (type $r) (i32.const 12))
  (func $f3 (type $r) (i32.const 13))

  ;; What table $t holds at i: the function's answer, -1 for null.
  (func (export "t") (param i32) (result i32)
    (if (result i32) (ref.is_null (table.get $t (local.get 0)))
      (then (i32.const -1))
      (else (call_indirect $t (type $r) (local.get 0)))))
  (func (export "u") (param i32) (result i32)
    (if (result i32) (ref.is_null (table.get $u (local.get 0)))
      (then (i32.const -1))
      (else (call_indirect $u (type $r) (local.get 0)))))

  (func (export "init_t") (param i32 i32 i32) (table.init $t $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_u") (param i32 i32 i32) (table.init $u $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_active") (param i32 i32 i32) (table.init $t $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_declared") (param i32 i32 i32) (table.init $t $d (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop_p") (elem.drop $p))
  (func (export "copy_t") (param i32 i32 i32) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_u_t") (param i32 i32 i32) (table.copy $u $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "x_set") (param i32 externref) (table.set $x (local.get 0) (local.get 1)))
  (func (export "x_get") (param i32) (result externref) (table.get $x (local.get 0)))
  (func (export "copy_x") (param i32 i32 i32) (table.copy $x $x (local.get 0) (local.get 1) (local.get 2)))
)

;; The active segment was applied, then dropped.
(assert_return (invoke "t" (i32.const 0)) (i32.const 13))
(assert_return (invoke "t" (i32.const 1)) (i32.const -1))
(assert_return (invoke "init_active" (i32.const 0) (i32.const 0) (i32.const 0)))
(assert_trap (invoke "init_active" (i32.const 0) (i32.const 0) (i32.const 1)) "out of bounds table access")
(assert_trap (invoke "init_active" (i32.const 0) (i32.const 1) (i32.const 0)) "out of bounds table access")
(assert_return (invoke "init_declared" (i32.const 8) (i32.const 0) (i32.const 0)))
(assert_trap (invoke "init_declared" (i32.const 0) (i32.const 0) (i32.const 1)) "out of bounds table access")

;; Hostile counts: every one traps and writes nothing.
(assert_trap (invoke "init_t" (i32.const 0) (i32.const 0) (i32.const -1)) "out of bounds table access")
(assert_trap (invoke "init_t" (i32.const 0) (i32.const -1) (i32.const 2)) "out of bounds table access")
(assert_trap (invoke "init_t" (i32.const -1) (i32.const 0) (i32.const 2)) "out of bounds table access")
(assert_trap (invoke "init_t" (i32.const 6) (i32.const 0) (i32.const 3)) "out of bounds table access")
(assert_trap (invoke "init_t" (i32.const 1) (i32.const 2) (i32.const 3)) "out of bounds table access")
(assert_trap (invoke "copy_t" (i32.const 0) (i32.const 1) (i32.const -1)) "out of bounds table access")
(assert_trap (invoke "copy_t" (i32.const -2) (i32.const 0) (i32.const 2)) "out of bounds table access")
(assert_trap (invoke "copy_t" (i32.const 0) (i32.const -2) (i32.const 2)) "out of bounds table access")
(assert_trap (invoke "copy_t" (i32.const 0) (i32.const 0) (i32.const 9)) "out of bounds table access")
(assert_trap (invoke "copy_u_t" (i32.const 1) (i32.const 0) (i32.const 4)) "out of bounds table access")
(assert_return (invoke "t" (i32.const 0)) (i32.const 13))
(assert_return (invoke "t" (i32.const 1)) (i32.const -1))
(assert_return (invoke "t" (i32.const 6)) (i32.const -1))
(assert_return (invoke "u" (i32.const 1)) (i32.const -1))

;; Empty ranges at the very end are fine; one past the end is not.
(assert_return (invoke "init_t" (i32.const 8) (i32.const 4) (i32.const 0)))
(assert_trap (invoke "init_t" (i32.const 9) (i32.const 0) (i32.const 0)) "out of bounds table access")
(assert_trap (invoke "init_t" (i32.const 0) (i32.const 5) (i32.const 0)) "out of bounds table access")
(assert_return (invoke "copy_t" (i32.const 8) (i32.const 8) (i32.const 0)))
(assert_trap (invoke "copy_t" (i32.const 9) (i32.const 0) (i32.const 0)) "out of bounds table access")

;; table.init: [10 11 12 null] at 1..5 of $t, and a part of it into $u.
(assert_return (invoke "init_t" (i32.const 1) (i32.const 0) (i32.const 4)))
(assert_return (invoke "t" (i32.const 1)) (i32.const 10))
(assert_return (invoke "t" (i32.const 2)) (i32.const 11))
(assert_return (invoke "t" (i32.const 3)) (i32.const 12))
(assert_return (invoke "t" (i32.const 4)) (i32.const -1))
(assert_return (invoke "init_u" (i32.const 2) (i32.const 1) (i32.const 2)))
(assert_return (invoke "u" (i32.const 2)) (i32.const 11))
(assert_return (invoke "u" (i32.const 3)) (i32.const 12))

;; Overlap, destination above the source: $t = [13 10 11 12 null ...] -> copy 1..4 to 2..5.
(assert_return (invoke "copy_t" (i32.const 2) (i32.const 1) (i32.const 3)))
(assert_return (invoke "t" (i32.const 1)) (i32.const 10))
(assert_return (invoke "t" (i32.const 2)) (i32.const 10))
(assert_return (invoke "t" (i32.const 3)) (i32.const 11))
(assert_return (invoke "t" (i32.const 4)) (i32.const 12))
;; Destination below the source: copy 2..5 to 0..3.
(assert_return (invoke "copy_t" (i32.const 0) (i32.const 2) (i32.const 3)))
(assert_return (invoke "t" (i32.const 0)) (i32.const 10))
(assert_return (invoke "t" (i32.const 1)) (i32.const 11))
(assert_return (invoke "t" (i32.const 2)) (i32.const 12))
(assert_return (invoke "t" (i32.const 3)) (i32.const 11))
;; Between tables.
(assert_return (invoke "copy_u_t" (i32.const 0) (i32.const 0) (i32.const 2)))
(assert_return (invoke "u" (i32.const 0)) (i32.const 10))
(assert_return (invoke "u" (i32.const 1)) (i32.const 11))

;; externref tables copy the host's words.
(assert_return (invoke "x_set" (i32.const 0) (ref.extern 7)))
(assert_return (invoke "copy_x" (i32.const 1) (i32.const 0) (i32.const 2)))
(assert_return (invoke "x_get" (i32.const 1)) (ref.extern 7))
(assert_return (invoke "x_get" (i32.const 2)) (ref.null extern))

;; After elem.drop the segment has length 0 (and dropping twice is fine).
(assert_return (invoke "drop_p"))
(assert_return (invoke "drop_p"))
(assert_return (invoke "init_t" (i32.const 0) (i32.const 0) (i32.const 0)))
(assert_trap (invoke "init_t" (i32.const 0) (i32.const 0) (i32.const 1)) "out of bounds table access")
(assert_return (invoke "t" (i32.const 0)) (i32.const 10))
