;; moving_average.wat: the first stage of the sensor chain on the `samples` channel.
;;
;; Input and output: i16 little-endian samples in the stage input area (input_ptr/input_capacity,
;; the stage buffer ABI). Each sample becomes the mean of itself and the three before it (the
;; last three of the previous block are kept in globals), so the ADC's noise is smoothed before
;; the threshold stage sees it. Returns the same length.
;;
;;   kplug upload plugins/moving_average.wat --name average
;;   kplug attach average average --to channel:samples@0
(module
  (memory (export "memory") 1)
  (global $h1 (mut i32) (i32.const 0))
  (global $h2 (mut i32) (i32.const 0))
  (global $h3 (mut i32) (i32.const 0))
  (func (export "input_ptr") (result i32) (i32.const 0))
  (func (export "input_capacity") (result i32) (i32.const 4096))
  (func (export "average") (param $len i32) (result i32)
    (local $at i32) (local $x i32)
    (local.set $len (i32.and (local.get $len) (i32.const -2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $len)))
        (local.set $x (i32.load16_s (local.get $at)))
        (i32.store16 (local.get $at)
          (i32.div_s
            (i32.add (i32.add (local.get $x) (global.get $h1))
                     (i32.add (global.get $h2) (global.get $h3)))
            (i32.const 4)))
        (global.set $h3 (global.get $h2))
        (global.set $h2 (global.get $h1))
        (global.set $h1 (local.get $x))
        (local.set $at (i32.add (local.get $at) (i32.const 2)))
        (br $next)))
    (local.get $len)))
