;; calls.wat: the invocation benchmarks of `kplug bench` (issue 5), run the same way in the
;; silicon harness (firmware/silicon/src/bench/invocation.rs) and on a board through the host
;; link (plugin-host-tool/src/bench.rs).
;;
;;   null()                          host -> plugin -> host, no arguments
;;   null4(a, b, c, d) -> a^b^c^d    the same with 4 arguments
;;   imports(n) -> sum               n calls of the import env.gpio_read(0) in a loop
;;   loop(n) -> sum                  the same loop with `i32.const 0` for the call
;;
;; One import call costs (imports(n) - loop(n)) / n: the loop bodies differ only in the call.
(module
  (import "env" "gpio_read" (func $gpio_read (param i32) (result i32)))

  (func (export "null"))

  (func (export "null4") (param $a i32) (param $b i32) (param $c i32) (param $d i32) (result i32)
    (i32.xor (i32.xor (local.get $a) (local.get $b)) (i32.xor (local.get $c) (local.get $d))))

  (func (export "imports") (param $n i32) (result i32)
    (local $sum i32)
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $again
        (local.set $sum (i32.add (local.get $sum) (call $gpio_read (i32.const 0))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $again (local.get $n))))
    (local.get $sum))

  (func (export "loop") (param $n i32) (result i32)
    (local $sum i32)
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $again
        (local.set $sum (i32.add (local.get $sum) (i32.const 0)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $again (local.get $n))))
    (local.get $sum))
)
