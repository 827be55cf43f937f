;; hostile/divide.wat: integer division traps (fault suite, issue 4).
;;
;; Division or remainder by zero traps "integer divide by zero"; INT_MIN / -1 (signed) traps
;; "integer overflow". INT_MIN % -1 (signed remainder) does NOT trap in WebAssembly: it is 0.
;; The i386 `idiv` raises #DE for both INT_MIN / -1 and INT_MIN % -1, so a JIT must treat the
;; remainder case specially; `rem_s_overflow` checks that it does.
;;
;; The fixed scenarios read their operands from mutable globals, so a compiler cannot fold them
;; into constants.
;;
;; Exports (all values i32):
;;   div_s(a, b) div_u(a, b) rem_s(a, b) rem_u(a, b) -> value    for any operands
;;   div_s_by_zero() div_u_by_zero() rem_s_by_zero() rem_u_by_zero()
;;                                           trap "integer divide by zero"
;;   div_s_overflow()                        INT_MIN / -1: trap "integer overflow"
;;   rem_s_overflow() -> 0                   INT_MIN % -1: returns 0, no trap
;;   div_u_int_min() -> 0                    INT_MIN /u -1 (0x80000000 / 0xFFFFFFFF): returns 0
;;
;; Run it:
;;   kplug run --local plugins/hostile/divide.wat div_s_overflow    # trap: integer overflow
;;   kplug run --local plugins/hostile/divide.wat rem_s_overflow    # -> 0
(module
  (global $zero (mut i32) (i32.const 0))
  (global $minus_one (mut i32) (i32.const -1))
  (global $int_min (mut i32) (i32.const 0x80000000))
  (global $forty_two (mut i32) (i32.const 42))

  (func (export "div_s") (param $a i32) (param $b i32) (result i32)
    (i32.div_s (local.get $a) (local.get $b)))
  (func (export "div_u") (param $a i32) (param $b i32) (result i32)
    (i32.div_u (local.get $a) (local.get $b)))
  (func (export "rem_s") (param $a i32) (param $b i32) (result i32)
    (i32.rem_s (local.get $a) (local.get $b)))
  (func (export "rem_u") (param $a i32) (param $b i32) (result i32)
    (i32.rem_u (local.get $a) (local.get $b)))

  (func (export "div_s_by_zero") (result i32)
    (i32.div_s (global.get $forty_two) (global.get $zero)))
  (func (export "div_u_by_zero") (result i32)
    (i32.div_u (global.get $forty_two) (global.get $zero)))
  (func (export "rem_s_by_zero") (result i32)
    (i32.rem_s (global.get $forty_two) (global.get $zero)))
  (func (export "rem_u_by_zero") (result i32)
    (i32.rem_u (global.get $forty_two) (global.get $zero)))
  (func (export "div_s_overflow") (result i32)
    (i32.div_s (global.get $int_min) (global.get $minus_one)))
  (func (export "rem_s_overflow") (result i32)
    (i32.rem_s (global.get $int_min) (global.get $minus_one)))
  (func (export "div_u_int_min") (result i32)
    (i32.div_u (global.get $int_min) (global.get $minus_one)))
)
