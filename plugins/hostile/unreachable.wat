;; hostile/unreachable.wat: the `unreachable` instruction (fault suite, issue 4).
;;
;; Executing `unreachable` ends the call with the trap "unreachable". Writes made before the trap
;; stay in memory (WebAssembly has no rollback), which `read` shows.
;;
;; Memory: 1 page, exported as "memory".
;;
;; Exports (all values i32):
;;   trap() -> never                 executes unreachable
;;   trap_deep(n) -> never           recurses n frames, then executes unreachable
;;   trap_after_write(value) -> never   stores value at 0x0000, then executes unreachable
;;   read() -> i32                   the i32 at 0x0000
;;
;; Run it:
;;   kplug run --local plugins/hostile/unreachable.wat trap_deep 10   # trap: unreachable
(module
  (memory (export "memory") 1)

  (func (export "trap") (result i32)
    (unreachable))

  (func $trap_deep (export "trap_deep") (param $n i32) (result i32)
    (if (i32.le_s (local.get $n) (i32.const 0))
      (then (unreachable)))
    (i32.add (call $trap_deep (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))

  (func (export "trap_after_write") (param $value i32) (result i32)
    (i32.store (i32.const 0) (local.get $value))
    (unreachable))

  (func (export "read") (result i32)
    (i32.load (i32.const 0)))
)
