;; call_indirect through a funcref table: dispatch by index, structural type equality, and the
;; three checks a JIT must emit: index below the table size ("undefined element"), slot not null
;; ("uninitialized element"), callee type equal to the expected type ("indirect call type
;; mismatch").

(module
  (type $nullary (func (result i32)))
  (type $unary (func (param i32) (result i32)))
  (type $unary_again (func (param i32) (result i32)))
  (type $binary (func (param i32 i32) (result i32)))
  (type $void (func))

  ;; Slots: 0 one, 1 two, 2 double, 3 negate, 4 sub, 5 null, 6 fib, 7 nothing, 8 null, 9 null.
  (table 10 funcref)
  (elem (i32.const 0) $one $two $double $negate $sub)
  (elem (i32.const 6) $fib $nothing)

  (global $touched (mut i32) (i32.const 0))

  (func $one (type $nullary) (i32.const 1))
  (func $two (type $nullary) (i32.const 2))
  (func $double (type $unary) (i32.mul (local.get 0) (i32.const 2)))
  ;; Declared with a different but identical type: call_indirect with $unary must accept it.
  (func $negate (type $unary_again) (i32.sub (i32.const 0) (local.get 0)))
  (func $sub (type $binary) (i32.sub (local.get 0) (local.get 1)))
  (func $fib (type $unary)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else
        (i32.add
          (call_indirect (type $unary) (i32.sub (local.get 0) (i32.const 1)) (i32.const 6))
          (call_indirect (type $unary) (i32.sub (local.get 0) (i32.const 2)) (i32.const 6))))))
  (func $nothing (type $void) (global.set $touched (i32.const 1)))

  (func (export "nullary") (param $slot i32) (result i32)
    (call_indirect (type $nullary) (local.get $slot)))
  (func (export "unary") (param $slot i32) (param $x i32) (result i32)
    (call_indirect (type $unary) (local.get $x) (local.get $slot)))
  (func (export "unary_again") (param $slot i32) (param $x i32) (result i32)
    (call_indirect (type $unary_again) (local.get $x) (local.get $slot)))
  (func (export "binary") (param $slot i32) (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $binary) (local.get $a) (local.get $b) (local.get $slot)))
  (func (export "void") (param $slot i32) (result i32)
    (call_indirect (type $void) (local.get $slot))
    (global.get $touched))
  ;; The inline type form, without a type index.
  (func (export "inline_type") (param $slot i32) (result i32)
    (call_indirect (param i32) (result i32) (i32.const 21) (local.get $slot)))
  ;; Values on the operand stack across the indirect call.
  (func (export "pending") (param $slot i32) (result i32)
    (i32.add (i32.const 1000)
      (i32.mul (i32.const 3) (call_indirect (type $unary) (i32.const 5) (local.get $slot)))))
  ;; A constant slot index.
  (func (export "const_slot") (result i32)
    (call_indirect (type $binary) (i32.const 50) (i32.const 8) (i32.const 4)))
)

(assert_return (invoke "nullary" (i32.const 0)) (i32.const 1))
(assert_return (invoke "nullary" (i32.const 1)) (i32.const 2))
(assert_return (invoke "unary" (i32.const 2) (i32.const 21)) (i32.const 42))
(assert_return (invoke "unary" (i32.const 3) (i32.const 5)) (i32.const -5))
(assert_return (invoke "unary_again" (i32.const 2) (i32.const 4)) (i32.const 8))
(assert_return (invoke "unary_again" (i32.const 3) (i32.const 0x80000000)) (i32.const 0x80000000))
(assert_return (invoke "binary" (i32.const 4) (i32.const 10) (i32.const 3)) (i32.const 7))
(assert_return (invoke "unary" (i32.const 6) (i32.const 15)) (i32.const 610))
(assert_return (invoke "void" (i32.const 7)) (i32.const 1))
(assert_return (invoke "inline_type" (i32.const 2)) (i32.const 42))
(assert_return (invoke "pending" (i32.const 2)) (i32.const 1030))
(assert_return (invoke "pending" (i32.const 3)) (i32.const 985))
(assert_return (invoke "const_slot") (i32.const 42))

;; Null slots.
(assert_trap (invoke "nullary" (i32.const 5)) "uninitialized element")
(assert_trap (invoke "nullary" (i32.const 8)) "uninitialized element")
(assert_trap (invoke "unary" (i32.const 9) (i32.const 1)) "uninitialized element")
(assert_trap (invoke "void" (i32.const 5)) "uninitialized element")

;; Past the end of the table.
(assert_trap (invoke "nullary" (i32.const 10)) "undefined element")
(assert_trap (invoke "nullary" (i32.const 11)) "undefined element")
(assert_trap (invoke "nullary" (i32.const 0x7fffffff)) "undefined element")
(assert_trap (invoke "nullary" (i32.const 0x80000000)) "undefined element")
(assert_trap (invoke "nullary" (i32.const -1)) "undefined element")
(assert_trap (invoke "binary" (i32.const 10) (i32.const 1) (i32.const 2)) "undefined element")

;; Wrong type.
(assert_trap (invoke "nullary" (i32.const 2)) "indirect call type mismatch")
(assert_trap (invoke "nullary" (i32.const 4)) "indirect call type mismatch")
(assert_trap (invoke "nullary" (i32.const 7)) "indirect call type mismatch")
(assert_trap (invoke "unary" (i32.const 0) (i32.const 1)) "indirect call type mismatch")
(assert_trap (invoke "unary" (i32.const 4) (i32.const 1)) "indirect call type mismatch")
(assert_trap (invoke "binary" (i32.const 2) (i32.const 1) (i32.const 2)) "indirect call type mismatch")
(assert_trap (invoke "void" (i32.const 0)) "indirect call type mismatch")
(assert_trap (invoke "inline_type" (i32.const 1)) "indirect call type mismatch")

;; The module works after the traps.
(assert_return (invoke "unary" (i32.const 6) (i32.const 10)) (i32.const 55))

;; An empty table: every index is out of range.
(module
  (type $nullary (func (result i32)))
  (table 0 funcref)
  (func (export "call") (param i32) (result i32)
    (call_indirect (type $nullary) (local.get 0)))
)

(assert_trap (invoke "call" (i32.const 0)) "undefined element")
(assert_trap (invoke "call" (i32.const 1)) "undefined element")

;; Overlapping element segments: the later one wins.
(module
  (type $nullary (func (result i32)))
  (table 3 3 funcref)
  (elem (i32.const 0) $ten $ten $ten)
  (elem (i32.const 1) $twenty)
  (func $ten (type $nullary) (i32.const 10))
  (func $twenty (type $nullary) (i32.const 20))
  (func (export "call") (param i32) (result i32)
    (call_indirect (type $nullary) (local.get 0)))
)

(assert_return (invoke "call" (i32.const 0)) (i32.const 10))
(assert_return (invoke "call" (i32.const 1)) (i32.const 20))
(assert_return (invoke "call" (i32.const 2)) (i32.const 10))
(assert_trap (invoke "call" (i32.const 3)) "undefined element")
