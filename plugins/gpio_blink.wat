;; gpio_blink.wat: drives the board's LPT GPIO (8 outputs, the LPT1 data register at 0x378)
;; through the firmware imports, and logs what it did.
;;
;; Pins are 0..=7. `gpio_read` returns the level the pin is driven to (the data register reads
;; back its latch), so a plugin can check its own writes.
;;
;; Memory: 1 page, exported as "memory"; log messages live in data segments at 0x0000.
;;
;; Exports (all values i32):
;;   blink(pin, times) -> level   toggles `pin` `times` times, starting from its current level,
;;                                logs "gpio_blink: blink done" and returns the level read back
;;                                (the start level when `times` is even, its inverse when odd)
;;   walk() -> mask               walks a single 1 across pins 0..7 (each pin high, checked,
;;                                low, checked); logs "gpio_blink: walk done" and returns a mask
;;                                with bit p set when pin p read back high and then low: 0xFF
;;                                when every pin works. All pins end low.
;;   write_byte(value) -> byte    drives pins 0..7 from the bits of `value` (bit p -> pin p) and
;;                                returns the byte read back
;;   read_byte() -> byte          the 8 pin levels as a byte
;;   memory
;;
;; Imports (module env): gpio_write(pin, level), gpio_read(pin) -> i32, log(ptr, len).
;;
;; Run it:
;;   kplug upload plugins/gpio_blink.wat
;;   kplug invoke gpio_blink walk              # -> 255
;;   kplug invoke gpio_blink blink 3 5         # -> 1 (pin 3 was low)
;;   kplug invoke gpio_blink write_byte 165    # -> 165 (0xA5 on the LPT data lines)
;;   kplug run --local plugins/gpio_blink.wat walk
(module
  (import "env" "gpio_write" (func $gpio_write (param i32 i32)))
  (import "env" "gpio_read" (func $gpio_read (param i32) (result i32)))
  (import "env" "log" (func $log (param i32 i32)))

  (memory (export "memory") 1)

  ;; Number of GPIO pins.
  (global $pin_count i32 (i32.const 8))

  (data (i32.const 0x0000) "gpio_blink: blink done")
  (data (i32.const 0x0020) "gpio_blink: walk done")

  ;; Toggles $pin $times times; returns the level read back.
  (func (export "blink") (param $pin i32) (param $times i32) (result i32)
    (local $level i32)
    (local.set $level (call $gpio_read (local.get $pin)))
    (block $done
      (loop $toggle
        (br_if $done (i32.le_s (local.get $times) (i32.const 0)))
        (local.set $level (i32.xor (local.get $level) (i32.const 1)))
        (call $gpio_write (local.get $pin) (local.get $level))
        (local.set $times (i32.sub (local.get $times) (i32.const 1)))
        (br $toggle)))
    (call $log (i32.const 0x0000) (i32.const 22))
    (call $gpio_read (local.get $pin)))

  ;; Walks a 1 across the pins; returns the mask of pins that followed.
  (func (export "walk") (result i32)
    (local $pin i32)
    (local $mask i32)
    (local $high i32)
    (loop $next_pin
      (call $gpio_write (local.get $pin) (i32.const 1))
      (local.set $high (call $gpio_read (local.get $pin)))
      (call $gpio_write (local.get $pin) (i32.const 0))
      (if (i32.and
            (i32.eq (local.get $high) (i32.const 1))
            (i32.eqz (call $gpio_read (local.get $pin))))
        (then
          (local.set $mask
            (i32.or (local.get $mask) (i32.shl (i32.const 1) (local.get $pin))))))
      (local.set $pin (i32.add (local.get $pin) (i32.const 1)))
      (br_if $next_pin (i32.lt_u (local.get $pin) (global.get $pin_count))))
    (call $log (i32.const 0x0020) (i32.const 21))
    (local.get $mask))

  ;; The 8 pin levels as a byte.
  (func $read_byte (export "read_byte") (result i32)
    (local $pin i32)
    (local $byte i32)
    (loop $next_pin
      (local.set $byte
        (i32.or
          (local.get $byte)
          (i32.shl (i32.ne (call $gpio_read (local.get $pin)) (i32.const 0)) (local.get $pin))))
      (local.set $pin (i32.add (local.get $pin) (i32.const 1)))
      (br_if $next_pin (i32.lt_u (local.get $pin) (global.get $pin_count))))
    (local.get $byte))

  ;; Drives pins 0..7 from the bits of $value; returns the byte read back.
  (func (export "write_byte") (param $value i32) (result i32)
    (local $pin i32)
    (loop $next_pin
      (call $gpio_write
        (local.get $pin)
        (i32.and (i32.shr_u (local.get $value) (local.get $pin)) (i32.const 1)))
      (local.set $pin (i32.add (local.get $pin) (i32.const 1)))
      (br_if $next_pin (i32.lt_u (local.get $pin) (global.get $pin_count))))
    (call $read_byte))
)
