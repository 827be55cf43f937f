;; Locals and globals: parameters, zero-initialised locals, local.set/get/tee, many locals (more
;; than i386 has registers), immutable and mutable globals, state kept across invocations and
;; across a trap.

(module
  ;; Declared locals start at zero.
  (func (export "zero_locals") (result i32)
    (local i32 i32 i32)
    (i32.or (local.get 0) (i32.or (local.get 1) (local.get 2))))

  ;; Parameters keep their order.
  (func (export "second_of_three") (param i32 i32 i32) (result i32) (local.get 1))
  (func (export "ordered") (param $a i32) (param $b i32) (param $c i32) (result i32)
    (i32.sub (i32.sub (local.get $a) (local.get $b)) (local.get $c)))

  ;; A parameter is a mutable local.
  (func (export "set_param") (param $x i32) (result i32)
    (local.set $x (i32.add (local.get $x) (i32.const 5)))
    (local.get $x))

  ;; local.tee leaves its value on the stack.
  (func (export "tee") (param $x i32) (result i32)
    (local $y i32)
    (i32.add (local.tee $y (i32.mul (local.get $x) (i32.const 2))) (local.get $y)))
  (func (export "tee_chain") (param $x i32) (result i32)
    (local $a i32) (local $b i32) (local $c i32)
    (drop (local.tee $a (local.tee $b (local.tee $c (local.get $x)))))
    (i32.add (local.get $a) (i32.add (local.get $b) (local.get $c))))

  ;; Swap through a temporary; the old value must be read before it is overwritten.
  (func (export "swap_sub") (param $a i32) (param $b i32) (result i32)
    (local $t i32)
    (local.set $t (local.get $a))
    (local.set $a (local.get $b))
    (local.set $b (local.get $t))
    (i32.sub (local.get $a) (local.get $b)))

  ;; A local read before a set in the same expression.
  (func (export "read_then_set") (param $x i32) (result i32)
    (i32.add (local.get $x) (block (result i32) (local.set $x (i32.const 100)) (local.get $x))))

  ;; Twenty locals, all live at the end.
  (func (export "many_locals") (param $seed i32) (result i32)
    (local $l1 i32) (local $l2 i32) (local $l3 i32) (local $l4 i32) (local $l5 i32)
    (local $l6 i32) (local $l7 i32) (local $l8 i32) (local $l9 i32) (local $l10 i32)
    (local $l11 i32) (local $l12 i32) (local $l13 i32) (local $l14 i32) (local $l15 i32)
    (local $l16 i32) (local $l17 i32) (local $l18 i32) (local $l19 i32) (local $l20 i32)
    (local.set $l1 (i32.add (local.get $seed) (i32.const 1)))
    (local.set $l2 (i32.add (local.get $l1) (i32.const 2)))
    (local.set $l3 (i32.add (local.get $l2) (i32.const 3)))
    (local.set $l4 (i32.add (local.get $l3) (i32.const 4)))
    (local.set $l5 (i32.add (local.get $l4) (i32.const 5)))
    (local.set $l6 (i32.add (local.get $l5) (i32.const 6)))
    (local.set $l7 (i32.add (local.get $l6) (i32.const 7)))
    (local.set $l8 (i32.add (local.get $l7) (i32.const 8)))
    (local.set $l9 (i32.add (local.get $l8) (i32.const 9)))
    (local.set $l10 (i32.add (local.get $l9) (i32.const 10)))
    (local.set $l11 (i32.add (local.get $l10) (i32.const 11)))
    (local.set $l12 (i32.add (local.get $l11) (i32.const 12)))
    (local.set $l13 (i32.add (local.get $l12) (i32.const 13)))
    (local.set $l14 (i32.add (local.get $l13) (i32.const 14)))
    (local.set $l15 (i32.add (local.get $l14) (i32.const 15)))
    (local.set $l16 (i32.add (local.get $l15) (i32.const 16)))
    (local.set $l17 (i32.add (local.get $l16) (i32.const 17)))
    (local.set $l18 (i32.add (local.get $l17) (i32.const 18)))
    (local.set $l19 (i32.add (local.get $l18) (i32.const 19)))
    (local.set $l20 (i32.add (local.get $l19) (i32.const 20)))
    ;; l_k = seed + k(k+1)/2; their sum is 20*seed + 1540.
    (i32.add (i32.add (i32.add (i32.add (local.get $l1) (local.get $l2)) (i32.add (local.get $l3) (local.get $l4)))
                      (i32.add (i32.add (local.get $l5) (local.get $l6)) (i32.add (local.get $l7) (local.get $l8))))
      (i32.add (i32.add (i32.add (local.get $l9) (local.get $l10)) (i32.add (local.get $l11) (local.get $l12)))
        (i32.add (i32.add (i32.add (local.get $l13) (local.get $l14)) (i32.add (local.get $l15) (local.get $l16)))
                 (i32.add (i32.add (local.get $l17) (local.get $l18)) (i32.add (local.get $l19) (local.get $l20)))))))

  ;; Eight parameters.
  (func (export "weighted8") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    (i32.add
      (i32.add
        (i32.add (local.get 0) (i32.mul (local.get 1) (i32.const 2)))
        (i32.add (i32.mul (local.get 2) (i32.const 3)) (i32.mul (local.get 3) (i32.const 4))))
      (i32.add
        (i32.add (i32.mul (local.get 4) (i32.const 5)) (i32.mul (local.get 5) (i32.const 6)))
        (i32.add (i32.mul (local.get 6) (i32.const 7)) (i32.mul (local.get 7) (i32.const 8))))))
)

(assert_return (invoke "zero_locals") (i32.const 0))
(assert_return (invoke "second_of_three" (i32.const 1) (i32.const 2) (i32.const 3)) (i32.const 2))
(assert_return (invoke "ordered" (i32.const 100) (i32.const 10) (i32.const 1)) (i32.const 89))
(assert_return (invoke "ordered" (i32.const 0) (i32.const 0x80000000) (i32.const 1)) (i32.const 0x7fffffff))
(assert_return (invoke "set_param" (i32.const 10)) (i32.const 15))
(assert_return (invoke "set_param" (i32.const 0x7fffffff)) (i32.const 0x80000004))
(assert_return (invoke "tee" (i32.const 7)) (i32.const 28))
(assert_return (invoke "tee" (i32.const -1)) (i32.const -4))
(assert_return (invoke "tee_chain" (i32.const 5)) (i32.const 15))
(assert_return (invoke "tee_chain" (i32.const 0x80000000)) (i32.const 0x80000000))
(assert_return (invoke "swap_sub" (i32.const 10) (i32.const 3)) (i32.const -7))
(assert_return (invoke "swap_sub" (i32.const 0x80000000) (i32.const 0)) (i32.const 0x80000000))
(assert_return (invoke "read_then_set" (i32.const 1)) (i32.const 101))
(assert_return (invoke "read_then_set" (i32.const -100)) (i32.const 0))
(assert_return (invoke "many_locals" (i32.const 0)) (i32.const 1540))
(assert_return (invoke "many_locals" (i32.const 1)) (i32.const 1560))
(assert_return (invoke "many_locals" (i32.const -77)) (i32.const 0))
(assert_return (invoke "many_locals" (i32.const 0x7fffffff)) (i32.const 1520))
(assert_return
  (invoke "weighted8" (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1)
                      (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1))
  (i32.const 36))
(assert_return
  (invoke "weighted8" (i32.const 1) (i32.const 10) (i32.const 100) (i32.const 1000)
                      (i32.const 10000) (i32.const 100000) (i32.const 1000000) (i32.const 10000000))
  (i32.const 87654321))

;; Globals.
(module
  (global $answer i32 (i32.const 42))
  (global $int_min i32 (i32.const 0x80000000))
  (global $counter (mut i32) (i32.const 0))
  (global $scratch (mut i32) (i32.const -1))
  (global $other (mut i32) (i32.const 7))

  (func (export "answer") (result i32) (global.get $answer))
  (func (export "int_min") (result i32) (global.get $int_min))
  (func (export "scratch") (result i32) (global.get $scratch))
  (func (export "other") (result i32) (global.get $other))

  ;; Increments the counter and returns its new value: state lives across invocations.
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
  (func (export "counter") (result i32) (global.get $counter))

  ;; Sets a global, then traps: the write stays (no rollback).
  (func (export "set_then_trap") (param i32)
    (global.set $scratch (local.get 0))
    (unreachable))

  ;; Two globals written in one function; one read back between the writes.
  (func (export "shuffle") (param i32) (result i32)
    (global.set $scratch (global.get $other))
    (global.set $other (local.get 0))
    (i32.sub (global.get $other) (global.get $scratch)))

  ;; A global read in a loop that also writes it (no stale register copy).
  (func (export "sum_to") (param $n i32) (result i32)
    (global.set $counter (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (global.set $counter (i32.add (global.get $counter) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (global.get $counter))
)

(assert_return (invoke "answer") (i32.const 42))
(assert_return (invoke "int_min") (i32.const 0x80000000))
(assert_return (invoke "counter") (i32.const 0))
(assert_return (invoke "bump") (i32.const 1))
(assert_return (invoke "bump") (i32.const 2))
(assert_return (invoke "bump") (i32.const 3))
(assert_return (invoke "counter") (i32.const 3))
(assert_return (invoke "scratch") (i32.const -1))
(assert_trap (invoke "set_then_trap" (i32.const 1234)) "unreachable")
(assert_return (invoke "scratch") (i32.const 1234))
(assert_return (invoke "shuffle" (i32.const 100)) (i32.const 93))
(assert_return (invoke "scratch") (i32.const 7))
(assert_return (invoke "other") (i32.const 100))
(assert_return (invoke "shuffle" (i32.const 1)) (i32.const -99))
(assert_return (invoke "sum_to" (i32.const 10)) (i32.const 55))
(assert_return (invoke "sum_to" (i32.const 100)) (i32.const 5050))
(assert_return (invoke "counter") (i32.const 5050))
(assert_return (invoke "sum_to" (i32.const 0)) (i32.const 0))

;; A fresh module has fresh globals.
(module
  (global $counter (mut i32) (i32.const 100))
  (func (export "bump") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))
)

(assert_return (invoke "bump") (i32.const 101))
