;; gray_stage.wat: the paper's RGB -> grayscale transcoder as a channel stage.
;;
;; The stage buffer contract (see the README, "Channels and the stage buffer ABI"): the plugin
;; exports its input area as `input_ptr() -> i32` and `input_capacity() -> i32` (the SDK's
;; `export_buffer!(INPUT => input_ptr, input_capacity)`); the firmware writes each buffer there
;; and calls the stage with its length; the stage leaves its output at the same place and
;; returns the output's length, or -1 to drop the buffer.
;;
;; The input area is the whole first page (65536 bytes): a 160x120 camera frame (57600 bytes)
;; fits.
;;
;; `gray(len)`: len bytes of RGB pixels (a trailing partial pixel is ignored) become len/3 gray
;; bytes, gray = (77*R + 150*G + 29*B) >> 8, as in grayscale.wat. `boom(len)` traps (a stage
;; that faults) and `liar(len)` claims more output than its area holds.
;;
;;   kplug upload plugins/gray_stage.wat --name gray
;;   kplug attach gray gray --to channel:frames
;;   kplug feed frames frame.rgb --out frame.gray
(module
  (memory (export "memory") 1)
  (func (export "input_ptr") (result i32) (i32.const 0))
  (func (export "input_capacity") (result i32) (i32.const 65536))
  (func (export "gray") (param $len i32) (result i32)
    (local $pixels i32) (local $i i32) (local $src i32)
    (local.set $pixels (i32.div_u (local.get $len) (i32.const 3)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $pixels)))
        (local.set $src (i32.mul (local.get $i) (i32.const 3)))
        (i32.store8 (local.get $i)
          (i32.shr_u
            (i32.add
              (i32.add
                (i32.mul (i32.load8_u (local.get $src)) (i32.const 77))
                (i32.mul (i32.load8_u offset=1 (local.get $src)) (i32.const 150)))
              (i32.mul (i32.load8_u offset=2 (local.get $src)) (i32.const 29)))
            (i32.const 8)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $pixels))
  (func (export "boom") (param i32) (result i32) unreachable)
  (func (export "liar") (param i32) (result i32) (i32.const 65537)))
