;; threshold.wat: the second stage of the sensor chain on `samples`: threshold events that
;; drive GPIO pin 0 (LPT1 data bit 0).
;;
;; For each i16 sample: when it rises above `threshold` the pin goes high and `crossings`
;; counts one event; when it falls below -`threshold` the pin goes low (hysteresis, so noise
;; around the threshold does not chatter). The samples pass through unchanged. `threshold` is a
;; mutable exported global the host can change (`kplug set threshold threshold 800`); `crossings`
;; and `level` can be read (`kplug get threshold crossings`); `pin()` reads the pin back, and
;; `pin_matches_level()` checks in one call that the pin shows the level.
;;
;;   kplug upload plugins/threshold.wat --name threshold
;;   kplug attach threshold detect --to channel:samples
;;
;; `events` is the same detector for a GPIO sink: it drives no pin itself, but outputs one byte
;; per crossing (1 rising, 0 falling) and drops a block without crossings, so a channel whose
;; sink is a pin (`kplug sink samples gpio:0`) has the firmware drive it:
;;
;;   kplug attach threshold events --to channel:samples
;;   kplug sink samples gpio:0
(module
  (import "env" "gpio_write" (func $gpio_write (param i32 i32)))
  (import "env" "gpio_read" (func $gpio_read (param i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "threshold") (mut i32) (i32.const 500))
  (global $crossings (export "crossings") (mut i32) (i32.const 0))
  (global $level (export "level") (mut i32) (i32.const 0))
  (func (export "input_ptr") (result i32) (i32.const 0))
  (func (export "input_capacity") (result i32) (i32.const 4096))
  (func (export "pin") (result i32) (call $gpio_read (i32.const 0)))
  (func (export "pin_matches_level") (result i32)
    (i32.eq (call $gpio_read (i32.const 0)) (global.get $level)))
  (func (export "detect") (param $len i32) (result i32)
    (local $at i32) (local $x i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (i32.add (local.get $at) (i32.const 1)) (local.get $len)))
        (local.set $x (i32.load16_s (local.get $at)))
        (if (i32.and (i32.eqz (global.get $level))
                     (i32.gt_s (local.get $x) (global.get 0)))
          (then
            (global.set $level (i32.const 1))
            (global.set $crossings (i32.add (global.get $crossings) (i32.const 1)))
            (call $gpio_write (i32.const 0) (i32.const 1))))
        (if (i32.and (global.get $level)
                     (i32.lt_s (local.get $x) (i32.sub (i32.const 0) (global.get 0))))
          (then
            (global.set $level (i32.const 0))
            (call $gpio_write (i32.const 0) (i32.const 0))))
        (local.set $at (i32.add (local.get $at) (i32.const 2)))
        (br $next)))
    (local.get $len))
  (func (export "events") (param $len i32) (result i32)
    (local $at i32) (local $x i32) (local $out i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (i32.add (local.get $at) (i32.const 1)) (local.get $len)))
        (local.set $x (i32.load16_s (local.get $at)))
        (if (i32.and (i32.eqz (global.get $level))
                     (i32.gt_s (local.get $x) (global.get 0)))
          (then
            (global.set $level (i32.const 1))
            (global.set $crossings (i32.add (global.get $crossings) (i32.const 1)))
            ;; Output bytes go before the samples still to read: $out <= $at always.
            (i32.store8 (local.get $out) (i32.const 1))
            (local.set $out (i32.add (local.get $out) (i32.const 1)))))
        (if (i32.and (global.get $level)
                     (i32.lt_s (local.get $x) (i32.sub (i32.const 0) (global.get 0))))
          (then
            (global.set $level (i32.const 0))
            (i32.store8 (local.get $out) (i32.const 0))
            (local.set $out (i32.add (local.get $out) (i32.const 1)))))
        (local.set $at (i32.add (local.get $at) (i32.const 2)))
        (br $next)))
    (select (local.get $out) (i32.const -1) (local.get $out))))
