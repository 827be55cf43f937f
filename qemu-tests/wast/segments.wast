;; Active data and element segments, and the start function.
;;
;; Segments are applied in order at instantiation (a later one overwrites an earlier one), may
;; end exactly at the end of memory or of the table, and the start function runs after all of
;; them. A segment that does not fit, or a start function that traps, makes instantiation fail
;; with a trap (WebAssembly 2.0 semantics: "out of bounds memory access" for data, "out of bounds
;; table access" for elements).

(module
  (memory 1)
  (data (i32.const 0) "abcdefgh")
  (data (i32.const 4) "XY")
  (data (i32.const 16) "\00\01\02\03" "\04\05")
  (data (i32.const 65528) "\11\22\33\44\55\66\77\88")
  (data (i32.const 65536) "")
  (data (i32.const 1024))

  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
)

(assert_return (invoke "load" (i32.const 0)) (i32.const 0x64636261))
(assert_return (invoke "load" (i32.const 4)) (i32.const 0x68675958))
(assert_return (invoke "load" (i32.const 16)) (i32.const 0x03020100))
(assert_return (invoke "load" (i32.const 20)) (i32.const 0x0504))
(assert_return (invoke "load" (i32.const 65528)) (i32.const 0x44332211))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0x88776655))
(assert_return (invoke "load8" (i32.const 8)) (i32.const 0))
(assert_return (invoke "load8" (i32.const 1024)) (i32.const 0))

;; Element segments, overlapping, the last one ending at the end of the table.
(module
  (type $nullary (func (result i32)))
  (table 6 funcref)
  (elem (i32.const 0) $f1 $f2 $f3)
  (elem (i32.const 2) $f4)
  (elem (i32.const 5) $f5)
  (elem (i32.const 6))
  (func $f1 (type $nullary) (i32.const 1))
  (func $f2 (type $nullary) (i32.const 2))
  (func $f3 (type $nullary) (i32.const 3))
  (func $f4 (type $nullary) (i32.const 4))
  (func $f5 (type $nullary) (i32.const 5))
  (func (export "call") (param i32) (result i32) (call_indirect (type $nullary) (local.get 0)))
)

(assert_return (invoke "call" (i32.const 0)) (i32.const 1))
(assert_return (invoke "call" (i32.const 1)) (i32.const 2))
(assert_return (invoke "call" (i32.const 2)) (i32.const 4))
(assert_trap (invoke "call" (i32.const 3)) "uninitialized element")
(assert_trap (invoke "call" (i32.const 4)) "uninitialized element")
(assert_return (invoke "call" (i32.const 5)) (i32.const 5))
(assert_trap (invoke "call" (i32.const 6)) "undefined element")

;; The start function runs once, after the segments: it sees the data and the table.
(module
  (type $nullary (func (result i32)))
  (memory 1)
  (table 1 funcref)
  (data (i32.const 0) "\07")
  (elem (i32.const 0) $ten)
  (global $state (mut i32) (i32.const 0))
  (global $runs (mut i32) (i32.const 0))

  (func $ten (type $nullary) (i32.const 10))
  (func $init
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    (global.set $state
      (i32.add (i32.load8_u (i32.const 0)) (call_indirect (type $nullary) (i32.const 0))))
    (i32.store (i32.const 100) (i32.const 0xfeed)))
  (start $init)

  (func (export "state") (result i32) (global.get $state))
  (func (export "runs") (result i32) (global.get $runs))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
)

(assert_return (invoke "state") (i32.const 17))
(assert_return (invoke "runs") (i32.const 1))
(assert_return (invoke "load" (i32.const 100)) (i32.const 0xfeed))
(assert_return (invoke "runs") (i32.const 1))

;; A start function that calls other functions.
(module
  (global $value (mut i32) (i32.const 1))
  (func $double (global.set $value (i32.mul (global.get $value) (i32.const 2))))
  (func $start (call $double) (call $double) (call $double))
  (start $start)
  (func (export "value") (result i32) (global.get $value))
)

(assert_return (invoke "value") (i32.const 8))

;; Instantiation failures.
(assert_trap
  (module (memory 0) (func $trap (unreachable)) (start $trap))
  "unreachable")
(assert_trap
  (module
    (func $divide (drop (i32.div_u (i32.const 1) (i32.const 0))))
    (start $divide))
  "integer divide by zero")
(assert_trap
  (module (memory 1) (data (i32.const 65536) "x"))
  "out of bounds memory access")
(assert_trap
  (module (memory 1) (data (i32.const 65535) "xy"))
  "out of bounds memory access")
(assert_trap
  (module (memory 0) (data (i32.const 0) "x"))
  "out of bounds memory access")
(assert_trap
  (module (memory 1) (data (i32.const -1) "x"))
  "out of bounds memory access")
(assert_trap
  (module (table 1 funcref) (func $f) (elem (i32.const 1) $f))
  "out of bounds table access")
(assert_trap
  (module (table 2 funcref) (func $f) (elem (i32.const 1) $f $f))
  "out of bounds table access")
