;; Direct calls and recursion: argument order, many arguments, values live across a call
;; (caller-saved registers), calls with no result, recursion, mutual recursion, and stack
;; exhaustion ("call stack exhausted"), after which the module still works.
;;
;; Finite recursion stays under 200 frames so it fits the firmware's default 16 KiB plugin stack.

(module
  (global $side (mut i32) (i32.const 0))

  (func $const (result i32) (i32.const 0x1234))
  (func $id (param i32) (result i32) (local.get 0))
  (func $sub (param i32 i32) (result i32) (i32.sub (local.get 0) (local.get 1)))
  (func $record (param i32) (global.set $side (local.get 0)))
  (func $nothing)

  (func $twelve (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
    ;; sum of p_k * (k + 1): position matters.
    (i32.add
      (i32.add
        (i32.add
          (i32.add (local.get 0) (i32.mul (local.get 1) (i32.const 2)))
          (i32.add (i32.mul (local.get 2) (i32.const 3)) (i32.mul (local.get 3) (i32.const 4))))
        (i32.add
          (i32.add (i32.mul (local.get 4) (i32.const 5)) (i32.mul (local.get 5) (i32.const 6)))
          (i32.add (i32.mul (local.get 6) (i32.const 7)) (i32.mul (local.get 7) (i32.const 8)))))
      (i32.add
        (i32.add (i32.mul (local.get 8) (i32.const 9)) (i32.mul (local.get 9) (i32.const 10)))
        (i32.add (i32.mul (local.get 10) (i32.const 11)) (i32.mul (local.get 11) (i32.const 12))))))

  (func (export "call_const") (result i32) (call $const))
  (func (export "call_id") (param i32) (result i32) (call $id (local.get 0)))
  (func (export "call_sub") (param i32 i32) (result i32) (call $sub (local.get 0) (local.get 1)))
  (func (export "call_sub_swapped") (param i32 i32) (result i32) (call $sub (local.get 1) (local.get 0)))
  (func (export "call_void") (param i32) (result i32)
    (call $nothing)
    (call $record (local.get 0))
    (global.get $side))
  (func (export "call_twelve") (result i32)
    (call $twelve
      (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1)
      (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1)))
  (func (export "call_twelve_distinct") (result i32)
    (call $twelve
      (i32.const 12) (i32.const 11) (i32.const 10) (i32.const 9) (i32.const 8) (i32.const 7)
      (i32.const 6) (i32.const 5) (i32.const 4) (i32.const 3) (i32.const 2) (i32.const 1)))

  ;; Values computed before a call and used after it.
  (func (export "live_across_calls") (param $x i32) (result i32)
    (local $a i32) (local $b i32)
    (local.set $a (i32.mul (local.get $x) (i32.const 3)))
    (local.set $b (i32.add (local.get $x) (i32.const 1)))
    (i32.add
      (i32.add (local.get $a) (call $id (local.get $b)))
      (i32.sub
        (i32.mul (local.get $b) (call $const))
        (call $sub (local.get $a) (local.get $b)))))
  ;; Operand-stack values (not locals) pending across calls.
  (func (export "stack_across_calls") (param $x i32) (result i32)
    (i32.sub
      (i32.add (i32.mul (local.get $x) (i32.const 7)) (call $id (i32.const 100)))
      (i32.add (call $id (local.get $x)) (i32.add (call $const) (call $id (i32.const 1))))))
  ;; Calls as arguments of calls.
  (func (export "nested_calls") (param $x i32) (result i32)
    (call $sub (call $sub (call $id (local.get $x)) (call $const)) (call $sub (i32.const 10) (local.get $x))))

  ;; ---- recursion ----
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func $factorial (export "factorial") (param $n i32) (result i32)
    (if (result i32) (i32.le_s (local.get $n) (i32.const 1))
      (then (i32.const 1))
      (else (i32.mul (local.get $n) (call $factorial (i32.sub (local.get $n) (i32.const 1)))))))
  (func $is_even (export "is_even") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 1))
      (else (call $is_odd (i32.sub (local.get $n) (i32.const 1))))))
  (func $is_odd (export "is_odd") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (call $is_even (i32.sub (local.get $n) (i32.const 1))))))
  ;; Depth-first sum 1..n, n frames deep.
  (func $sum_down (export "sum_down") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (local.get $n) (call $sum_down (i32.sub (local.get $n) (i32.const 1)))))))
  ;; Ackermann: very bumpy recursion.
  (func $ackermann (export "ackermann") (param $m i32) (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $m))
      (then (i32.add (local.get $n) (i32.const 1)))
      (else
        (if (result i32) (i32.eqz (local.get $n))
          (then (call $ackermann (i32.sub (local.get $m) (i32.const 1)) (i32.const 1)))
          (else
            (call $ackermann
              (i32.sub (local.get $m) (i32.const 1))
              (call $ackermann (local.get $m) (i32.sub (local.get $n) (i32.const 1)))))))))

  ;; ---- unbounded recursion ----
  (func $runaway (export "runaway") (call $runaway))
  (func $runaway_with_value (export "runaway_with_value") (param $n i32) (result i32)
    (i32.add (call $runaway_with_value (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func $ping (export "ping") (param $n i32) (result i32)
    (i32.add (call $pong (local.get $n)) (i32.const 1)))
  (func $pong (param $n i32) (result i32)
    (i32.add (call $ping (local.get $n)) (i32.const 1)))
)

(assert_return (invoke "call_const") (i32.const 0x1234))
(assert_return (invoke "call_id" (i32.const 0x80000000)) (i32.const 0x80000000))
(assert_return (invoke "call_sub" (i32.const 10) (i32.const 3)) (i32.const 7))
(assert_return (invoke "call_sub_swapped" (i32.const 10) (i32.const 3)) (i32.const -7))
(assert_return (invoke "call_void" (i32.const 77)) (i32.const 77))
(assert_return (invoke "call_twelve") (i32.const 78))
(assert_return (invoke "call_twelve_distinct") (i32.const 364))
(assert_return (invoke "live_across_calls" (i32.const 1)) (i32.const 9324))
(assert_return (invoke "live_across_calls" (i32.const 0)) (i32.const 4662))
(assert_return (invoke "stack_across_calls" (i32.const 10)) (i32.const -4501))
(assert_return (invoke "nested_calls" (i32.const 20)) (i32.const -4630))

(assert_return (invoke "fib" (i32.const 0)) (i32.const 0))
(assert_return (invoke "fib" (i32.const 1)) (i32.const 1))
(assert_return (invoke "fib" (i32.const 2)) (i32.const 1))
(assert_return (invoke "fib" (i32.const 10)) (i32.const 55))
(assert_return (invoke "fib" (i32.const 20)) (i32.const 6765))
(assert_return (invoke "factorial" (i32.const 5)) (i32.const 120))
(assert_return (invoke "factorial" (i32.const 10)) (i32.const 3628800))
(assert_return (invoke "is_even" (i32.const 0)) (i32.const 1))
(assert_return (invoke "is_even" (i32.const 7)) (i32.const 0))
(assert_return (invoke "is_even" (i32.const 100)) (i32.const 1))
(assert_return (invoke "is_odd" (i32.const 77)) (i32.const 1))
(assert_return (invoke "sum_down" (i32.const 150)) (i32.const 11325))
(assert_return (invoke "ackermann" (i32.const 2) (i32.const 3)) (i32.const 9))
(assert_return (invoke "ackermann" (i32.const 3) (i32.const 3)) (i32.const 61))

(assert_exhaustion (invoke "runaway") "call stack exhausted")
(assert_exhaustion (invoke "runaway_with_value" (i32.const 0)) "call stack exhausted")
(assert_exhaustion (invoke "ping" (i32.const 0)) "call stack exhausted")
;; The module survives exhaustion.
(assert_return (invoke "fib" (i32.const 15)) (i32.const 610))
(assert_return (invoke "sum_down" (i32.const 100)) (i32.const 5050))
