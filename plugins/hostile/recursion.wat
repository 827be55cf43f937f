;; hostile/recursion.wat: unbounded recursion (fault suite, issue 4).
;;
;; Each `recurse*` export calls itself (or its partner) forever. The plugin's own stack segment
;; runs out, and the call must end with the trap "call stack exhausted" (hardware mode: the stack
;; segment limit; software mode: the stack check in every prologue), never by overwriting
;; anything outside the plugin. No call is in tail position: every frame stays live.
;;
;; Exports (all values i32):
;;   recurse(n) -> never            f(n) = f(n + 1) + 1
;;   recurse_fat(n) -> never        the same with 16 locals live across the call (big frames)
;;   recurse_mutual(n) -> never     a(n) = b(n + 1) + 1, b(n) = a(n + 1) + 1
;;   recurse_indirect(n) -> never   f(n) = call_indirect f (n + 1) + 1 (the call_indirect path)
;;   depth(n) -> n                  finite recursion n frames deep; depth(100) returns 100 within
;;                                  the default 16 KiB stack (a healthy control)
;;
;; Run it:
;;   kplug run --local plugins/hostile/recursion.wat recurse 0   # trap: call stack exhausted
;;   kplug upload plugins/hostile/recursion.wat && kplug invoke recursion depth 100
(module
  (type $unary (func (param i32) (result i32)))
  (table 1 1 funcref)
  (elem (i32.const 0) $recurse_indirect)

  (func $recurse (export "recurse") (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))

  (func $recurse_fat (export "recurse_fat") (param $n i32) (result i32)
    (local $l0 i32) (local $l1 i32) (local $l2 i32) (local $l3 i32)
    (local $l4 i32) (local $l5 i32) (local $l6 i32) (local $l7 i32)
    (local $l8 i32) (local $l9 i32) (local $l10 i32) (local $l11 i32)
    (local $l12 i32) (local $l13 i32) (local $l14 i32) (local $l15 i32)
    (local.set $l0 (local.get $n))
    (local.set $l1 (i32.add (local.get $l0) (i32.const 1)))
    (local.set $l2 (i32.add (local.get $l1) (i32.const 1)))
    (local.set $l3 (i32.add (local.get $l2) (i32.const 1)))
    (local.set $l4 (i32.add (local.get $l3) (i32.const 1)))
    (local.set $l5 (i32.add (local.get $l4) (i32.const 1)))
    (local.set $l6 (i32.add (local.get $l5) (i32.const 1)))
    (local.set $l7 (i32.add (local.get $l6) (i32.const 1)))
    (local.set $l8 (i32.add (local.get $l7) (i32.const 1)))
    (local.set $l9 (i32.add (local.get $l8) (i32.const 1)))
    (local.set $l10 (i32.add (local.get $l9) (i32.const 1)))
    (local.set $l11 (i32.add (local.get $l10) (i32.const 1)))
    (local.set $l12 (i32.add (local.get $l11) (i32.const 1)))
    (local.set $l13 (i32.add (local.get $l12) (i32.const 1)))
    (local.set $l14 (i32.add (local.get $l13) (i32.const 1)))
    (local.set $l15 (i32.add (local.get $l14) (i32.const 1)))
    (i32.add
      (call $recurse_fat (local.get $l15))
      (i32.add
        (i32.add
          (i32.add (i32.add (local.get $l0) (local.get $l1)) (i32.add (local.get $l2) (local.get $l3)))
          (i32.add (i32.add (local.get $l4) (local.get $l5)) (i32.add (local.get $l6) (local.get $l7))))
        (i32.add
          (i32.add (i32.add (local.get $l8) (local.get $l9)) (i32.add (local.get $l10) (local.get $l11)))
          (i32.add (i32.add (local.get $l12) (local.get $l13)) (i32.add (local.get $l14) (local.get $l15)))))))

  (func $mutual_a (export "recurse_mutual") (param $n i32) (result i32)
    (i32.add (call $mutual_b (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func $mutual_b (param $n i32) (result i32)
    (i32.add (call $mutual_a (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))

  (func $recurse_indirect (export "recurse_indirect") (param $n i32) (result i32)
    (i32.add
      (call_indirect (type $unary) (i32.add (local.get $n) (i32.const 1)) (i32.const 0))
      (i32.const 1)))

  (func $depth (export "depth") (param $n i32) (result i32)
    (if (result i32) (i32.le_s (local.get $n) (i32.const 0))
      (then (i32.const 0))
      (else (i32.add (call $depth (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
)
