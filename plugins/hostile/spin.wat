;; hostile/spin.wat: runaway plugins that never return (preemption tests, issue 4).
;;
;; The PIT must abort each `spin*` call within one tick past its time budget, with the trap
;; "budget exceeded", while the console and the host link keep answering. `spin_memory` leaves
;; its progress in memory, which `counter` reads afterwards: memory survives the abort.
;;
;; Memory: 1 page, exported as "memory"; a 32-bit counter at 0x0000.
;;
;; Exports (all values i32):
;;   spin() -> never                 an empty loop
;;   spin_memory() -> never          increments the counter at 0x0000 forever
;;   spin_nested() -> never          nested loops; the inner one exits, the outer one never does
;;   spin_calls() -> never           calls env.now_us forever (a runaway inside import calls)
;;   count_to(n) -> n                a finite loop of n iterations (a healthy control)
;;   counter() -> i32                the counter spin_memory left behind
;;
;; Imports (module env): now_us() -> i32.
;;
;; Run it:
;;   kplug upload plugins/hostile/spin.wat --budget-us 2000
;;   kplug invoke spin spin              # trap: budget exceeded, after about 2 ms
;;   kplug invoke spin count_to 1000     # -> 1000
(module
  (import "env" "now_us" (func $now_us (result i32)))

  (memory (export "memory") 1)

  (func (export "spin") (result i32)
    (loop $forever
      (br $forever))
    (unreachable))

  (func (export "spin_memory") (result i32)
    (loop $forever
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (br $forever))
    (unreachable))

  (func (export "spin_nested") (result i32)
    (local $inner i32)
    (loop $outer
      (local.set $inner (i32.const 1000))
      (loop $inner_loop
        (local.set $inner (i32.sub (local.get $inner) (i32.const 1)))
        (br_if $inner_loop (local.get $inner)))
      (br $outer))
    (unreachable))

  (func (export "spin_calls") (result i32)
    (local $last i32)
    (loop $forever
      (local.set $last (call $now_us))
      (br $forever))
    (unreachable))

  (func (export "count_to") (param $n i32) (result i32)
    (local $index i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $index) (local.get $n)))
        (local.set $index (i32.add (local.get $index) (i32.const 1)))
        (br $next)))
    (local.get $index))

  (func (export "counter") (result i32)
    (i32.load (i32.const 0)))
)
