;; Imports from the firmware symbol table (module "env"): log(ptr, len), now_us() -> i32,
;; ticks_ms() -> i32, gpio_write(pin, level), gpio_read(pin) -> i32, emit(ptr, len).
;;
;; Imported functions take the first function indices, can be called directly, from loops, with
;; values live across the call, and through a table. Linking refuses unknown names and wrong
;; signatures. What the firmware does with the calls is checked only where every runner agrees:
;; a GPIO pin reads back the level last written to it (the LPT data register latches its
;; outputs), and the clocks do not run backwards between two calls of one invocation.
;;
;; kplug-specific: a (ptr, len) range outside the plugin's memory is refused at the boundary, and
;; the call traps with "import rejected an argument" (plugin-format TrapKind::ImportFault).

(module
  (import "env" "log" (func $log (param i32 i32)))
  (import "env" "now_us" (func $now_us (result i32)))
  (import "env" "ticks_ms" (func $ticks_ms (result i32)))
  (import "env" "gpio_write" (func $gpio_write (param i32 i32)))
  (import "env" "gpio_read" (func $gpio_read (param i32) (result i32)))
  (import "env" "emit" (func $emit (param i32 i32)))

  (type $read (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $gpio_read $local_read)

  (memory 1)
  (data (i32.const 0) "hello from a wast script")

  (func $local_read (param i32) (result i32) (i32.const -1))

  (func (export "log_hello") (call $log (i32.const 0) (i32.const 24)))
  (func (export "emit_hello") (call $emit (i32.const 0) (i32.const 5)))
  (func (export "emit_empty") (call $emit (i32.const 65536) (i32.const 0)))
  (func (export "emit_last_byte") (call $emit (i32.const 65535) (i32.const 1)))
  (func (export "emit_past_end") (call $emit (i32.const 65535) (i32.const 2)))
  (func (export "log_far") (call $log (i32.const 0x7fffffff) (i32.const 4)))
  (func (export "log_wrapping") (call $log (i32.const 16) (i32.const -1)))

  ;; Writes level to pin and reads it back.
  (func (export "gpio_roundtrip") (param $pin i32) (param $level i32) (result i32)
    (call $gpio_write (local.get $pin) (local.get $level))
    (call $gpio_read (local.get $pin)))
  ;; Sets pins 0..7 to the bits of $value, reads them back into a byte.
  (func (export "gpio_byte") (param $value i32) (result i32)
    (local $pin i32) (local $byte i32)
    (loop $write
      (call $gpio_write (local.get $pin)
        (i32.and (i32.shr_u (local.get $value) (local.get $pin)) (i32.const 1)))
      (local.set $pin (i32.add (local.get $pin) (i32.const 1)))
      (br_if $write (i32.lt_u (local.get $pin) (i32.const 8))))
    (local.set $pin (i32.const 0))
    (loop $read
      (local.set $byte
        (i32.or (local.get $byte) (i32.shl (call $gpio_read (local.get $pin)) (local.get $pin))))
      (local.set $pin (i32.add (local.get $pin) (i32.const 1)))
      (br_if $read (i32.lt_u (local.get $pin) (i32.const 8))))
    (local.get $byte))
  ;; Values on the operand stack and in locals across import calls.
  (func (export "live_across_import") (param $x i32) (result i32)
    (local $keep i32)
    (local.set $keep (i32.mul (local.get $x) (i32.const 3)))
    (i32.add
      (i32.add (local.get $x) (i32.const 100))
      (block (result i32)
        (call $gpio_write (i32.const 1) (i32.const 1))
        (call $log (i32.const 0) (i32.const 5))
        (i32.add (local.get $keep) (call $gpio_read (i32.const 1))))))
  ;; An imported function called through the table, next to a local one.
  (func (export "read_through_table") (param $slot i32) (param $pin i32) (result i32)
    (call_indirect (type $read) (local.get $pin) (local.get $slot)))
  ;; The clocks between two calls: 1 when the second reading is not before the first (modulo
  ;; 2^32) by more than a second.
  (func (export "now_us_monotonic") (result i32)
    (local $first i32)
    (local.set $first (call $now_us))
    (i32.lt_u (i32.sub (call $now_us) (local.get $first)) (i32.const 1000000)))
  (func (export "ticks_ms_monotonic") (result i32)
    (local $first i32)
    (local.set $first (call $ticks_ms))
    (i32.lt_u (i32.sub (call $ticks_ms) (local.get $first)) (i32.const 1000)))
)

(assert_return (invoke "log_hello"))
(assert_return (invoke "emit_hello"))
(assert_return (invoke "emit_empty"))
(assert_return (invoke "emit_last_byte"))
(assert_trap (invoke "emit_past_end") "import rejected an argument")
(assert_trap (invoke "log_far") "import rejected an argument")
(assert_trap (invoke "log_wrapping") "import rejected an argument")
(assert_return (invoke "gpio_roundtrip" (i32.const 3) (i32.const 1)) (i32.const 1))
(assert_return (invoke "gpio_roundtrip" (i32.const 3) (i32.const 0)) (i32.const 0))
(assert_return (invoke "gpio_roundtrip" (i32.const 7) (i32.const 5)) (i32.const 1))
(assert_return (invoke "gpio_byte" (i32.const 0xa5)) (i32.const 0xa5))
(assert_return (invoke "gpio_byte" (i32.const 0x5a)) (i32.const 0x5a))
(assert_return (invoke "gpio_byte" (i32.const 0)) (i32.const 0))
(assert_return (invoke "live_across_import" (i32.const 10)) (i32.const 141))
(invoke "gpio_roundtrip" (i32.const 2) (i32.const 1))
(assert_return (invoke "read_through_table" (i32.const 0) (i32.const 2)) (i32.const 1))
(assert_return (invoke "read_through_table" (i32.const 1) (i32.const 2)) (i32.const -1))
(assert_trap (invoke "read_through_table" (i32.const 2) (i32.const 2)) "undefined element")
(assert_return (invoke "now_us_monotonic") (i32.const 1))
(assert_return (invoke "ticks_ms_monotonic") (i32.const 1))

;; The same import twice under two names, and an import that is never called.
(module
  (import "env" "gpio_read" (func $read_a (param i32) (result i32)))
  (import "env" "gpio_read" (func $read_b (param i32) (result i32)))
  (import "env" "ticks_ms" (func $unused (result i32)))
  (import "env" "gpio_write" (func $write (param i32 i32)))
  (func (export "both") (result i32)
    (call $write (i32.const 4) (i32.const 1))
    (call $write (i32.const 5) (i32.const 0))
    (i32.add (i32.mul (call $read_a (i32.const 4)) (i32.const 10)) (call $read_b (i32.const 5))))
)

(assert_return (invoke "both") (i32.const 10))

;; Linking refuses what the firmware does not export.
(assert_unlinkable (module (import "env" "nope" (func))) "unknown import")
(assert_unlinkable (module (import "env" "nope" (func (param i32 i32)))) "unknown import")
(assert_unlinkable (module (import "firmware" "log" (func (param i32 i32)))) "unknown import")
(assert_unlinkable (module (import "env" "memory" (memory 1))) "unknown import")
(assert_unlinkable (module (import "env" "log" (func (param i32)))) "incompatible import type")
(assert_unlinkable (module (import "env" "log" (func (param i32 i32) (result i32)))) "incompatible import type")
(assert_unlinkable (module (import "env" "now_us" (func))) "incompatible import type")
(assert_unlinkable (module (import "env" "gpio_read" (func (param i32)))) "incompatible import type")
(assert_unlinkable (module (import "env" "emit" (func (param i32 i32 i32)))) "incompatible import type")
(assert_unlinkable (module (import "env" "log" (global i32))) "incompatible import type")
;; One bad import among good ones refuses the whole module.
(assert_unlinkable
  (module
    (import "env" "log" (func (param i32 i32)))
    (import "env" "nope" (func))
    (import "env" "emit" (func (param i32 i32))))
  "unknown import")
