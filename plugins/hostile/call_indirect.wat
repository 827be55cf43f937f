;; hostile/call_indirect.wat: bad indirect calls (fault suite, issue 4).
;;
;; The table has 4 slots: slot 0 holds `forty_two: () -> i32`, slot 1 `add: (i32, i32) -> i32`,
;; slots 2 and 3 are empty (null). `call_indirect` must check the index against the table size
;; ("undefined element"), the slot against null ("uninitialized element") and the callee's type
;; against the expected one ("indirect call type mismatch").
;;
;; Exports (all values i32):
;;   call_index(i) -> i32             call_indirect (type () -> i32) through slot i
;;   call_add(a, b) -> a + b          call_indirect (type (i32, i32) -> i32) through slot 1
;;   call_ok() -> 42                  slot 0, the right type
;;   call_null()                      slot 2 (empty): trap "uninitialized element"
;;   call_out_of_range()              slot 4 (= table size): trap "undefined element"
;;   call_far_out_of_range()          slot -1 (0xFFFFFFFF): trap "undefined element"
;;   call_wrong_signature()           slot 1 called as () -> i32: trap "indirect call type mismatch"
;;
;; Run it:
;;   kplug run --local plugins/hostile/call_indirect.wat call_null   # trap: uninitialized element
(module
  (type $nullary (func (result i32)))
  (type $binary (func (param i32 i32) (result i32)))

  (table 4 4 funcref)
  (elem (i32.const 0) $forty_two $add)

  (func $forty_two (type $nullary) (i32.const 42))
  (func $add (type $binary) (i32.add (local.get 0) (local.get 1)))

  (func $call_index (export "call_index") (param $index i32) (result i32)
    (call_indirect (type $nullary) (local.get $index)))
  (func (export "call_add") (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $binary) (local.get $a) (local.get $b) (i32.const 1)))
  (func (export "call_ok") (result i32)
    (call $call_index (i32.const 0)))
  (func (export "call_null") (result i32)
    (call $call_index (i32.const 2)))
  (func (export "call_out_of_range") (result i32)
    (call $call_index (i32.const 4)))
  (func (export "call_far_out_of_range") (result i32)
    (call $call_index (i32.const -1)))
  (func (export "call_wrong_signature") (result i32)
    (call $call_index (i32.const 1)))
)
