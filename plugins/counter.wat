;; A plugin for attach points: `tick` counts (attach it to a timer), `count` returns the count
;; and logs a line (attach it to a console word), `boom` traps (a console word that faults).
;; Its state is an exported global and a memory the host can read: `kplug get counter ticks`,
;; `kplug peek counter 0 16`.
(module
  (import "env" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "counter says hi")
  (global $ticks (export "ticks") (mut i32) (i32.const 0))
  (func (export "tick")
    (global.set $ticks (i32.add (global.get $ticks) (i32.const 1))))
  (func (export "count") (result i32)
    (call $log (i32.const 0) (i32.const 15))
    (global.get $ticks))
  (func (export "boom") unreachable))
