;; Structured control flow: block, loop, if/else (with and without results), br, br_if, br_table,
;; return, select, nop, drop, unreachable, and dead code after a branch.
;;
;; A single-pass JIT keeps the top of the operand stack in registers and spills at joins; these
;; cases branch with values on the stack, break out of several levels at once, and leave extra
;; values behind that a branch must discard.

(module
  (global $calls (mut i32) (i32.const 0))

  (func $count (param $value i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (local.get $value))
  (func (export "calls") (result i32) (global.get $calls))

  ;; ---- block ----
  (func (export "empty_blocks") (result i32)
    (block)
    (block $a (block $b (block $c)))
    (nop)
    (i32.const 1))
  (func (export "block_value") (result i32)
    (block (result i32) (i32.const 7)))
  (func (export "block_value_nested") (result i32)
    (i32.add
      (block (result i32) (block (result i32) (i32.const 1)))
      (block (result i32) (i32.const 2))))
  ;; br with extra values underneath the result: they are discarded.
  (func (export "br_discards") (result i32)
    (block $out (result i32)
      i32.const 1
      i32.const 2
      i32.const 3
      br $out))
  ;; br out of three levels at once, carrying a value (br_if leaves its value when not taken).
  (func (export "br_outer") (param $x i32) (result i32)
    (i32.add
      (i32.const 1000)
      (block $outer (result i32)
        (drop
          (block $middle (result i32)
            (drop
              (block $inner (result i32)
                (drop (br_if $outer (i32.const 1) (i32.eq (local.get $x) (i32.const 1))))
                (drop (br_if $middle (i32.const 2) (i32.eq (local.get $x) (i32.const 2))))
                (i32.const 3)))
            (drop (br_if $outer (i32.const 30) (i32.eq (local.get $x) (i32.const 3))))
            (i32.const 4)))
        (i32.const 5))))
  ;; Ten nested blocks, left from the innermost.
  (func (export "deep_nesting") (result i32)
    (block $l0 (result i32)
      (block $l1 (result i32)
        (block $l2 (result i32)
          (block $l3 (result i32)
            (block $l4 (result i32)
              (block $l5 (result i32)
                (block $l6 (result i32)
                  (block $l7 (result i32)
                    (block $l8 (result i32)
                      (block $l9 (result i32)
                        (br $l0 (i32.const 99)))))))))))))

  ;; ---- loop ----
  (func (export "sum_to") (param $n i32) (result i32)
    (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $sum (i32.add (local.get $sum) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $sum))
  ;; A do-while loop whose body also produces the loop's result.
  (func (export "factorial") (param $n i32) (result i32)
    (local $product i32)
    (local.set $product (i32.const 1))
    (loop $next (result i32)
      (local.set $product (i32.mul (local.get $product) (select (local.get $n) (i32.const 1) (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $next (i32.gt_s (local.get $n) (i32.const 0)))
      (local.get $product)))
  ;; Nested loops: sum of i*j for 1 <= i, j <= n.
  (func (export "nested_loops") (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $sum i32)
    (local.set $i (i32.const 1))
    (block $i_done
      (loop $i_loop
        (br_if $i_done (i32.gt_s (local.get $i) (local.get $n)))
        (local.set $j (i32.const 1))
        (block $j_done
          (loop $j_loop
            (br_if $j_done (i32.gt_s (local.get $j) (local.get $n)))
            (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $i) (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $j_loop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $i_loop)))
    (local.get $sum))
  ;; A loop label taken by br_if with a value on the stack below it.
  (func (export "loop_with_pending_value") (param $n i32) (result i32)
    (i32.add
      (i32.const 5000)
      (block $out (result i32)
        (loop $again
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $again (i32.gt_s (local.get $n) (i32.const 0))))
        (local.get $n))))

  ;; ---- if ----
  (func (export "if_else") (param $x i32) (result i32)
    (if (result i32) (local.get $x)
      (then (i32.const 1))
      (else (i32.const 2))))
  (func (export "if_no_else") (param $x i32) (result i32)
    (local $r i32)
    (local.set $r (i32.const 10))
    (if (local.get $x) (then (local.set $r (i32.const 20))))
    (local.get $r))
  (func (export "if_nested") (param $a i32) (param $b i32) (result i32)
    (if (result i32) (local.get $a)
      (then
        (if (result i32) (local.get $b) (then (i32.const 11)) (else (i32.const 10))))
      (else
        (if (result i32) (local.get $b) (then (i32.const 1)) (else (i32.const 0))))))
  ;; br out of an if arm to the enclosing block.
  (func (export "if_br") (param $x i32) (result i32)
    (block $out (result i32)
      (if (local.get $x)
        (then (br $out (i32.const 111))))
      (i32.const 222)))
  ;; if with a result used inside an arithmetic expression.
  (func (export "abs") (param $x i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $x) (i32.const 0))
      (then (i32.sub (i32.const 0) (local.get $x)))
      (else (local.get $x))))

  ;; ---- br_table ----
  ;; Cases 0..3, anything else is the default (4).
  (func (export "switch") (param $i i32) (result i32)
    (block $default
      (block $c3
        (block $c2
          (block $c1
            (block $c0
              (br_table $c0 $c1 $c2 $c3 $default (local.get $i)))
            (return (i32.const 100)))
          (return (i32.const 101)))
        (return (i32.const 102)))
      (return (i32.const 103)))
    (i32.const 104))
  ;; br_table carrying a value; entries share targets, the default is $b.
  (func (export "switch_value") (param $i i32) (result i32)
    (i32.add
      (block $a (result i32)
        (i32.add
          (block $b (result i32)
            (br_table $a $b $a $b (i32.const 50) (local.get $i)))
          (i32.const 7)))
      (i32.const 1)))
  ;; Only a default target.
  (func (export "switch_default_only") (param $i i32) (result i32)
    (block $d (result i32)
      (br_table $d (i32.const 33) (local.get $i))))
  ;; A long table (24 entries), e.g. compiled as a jump table.
  (func (export "switch_long") (param $i i32) (result i32)
    (block $odd
      (block $even
        (br_table $even $odd $even $odd $even $odd $even $odd $even $odd $even $odd
                  $even $odd $even $odd $even $odd $even $odd $even $odd $even $odd
                  $odd (local.get $i)))
      (return (i32.const 0)))
    (i32.const 1))
  ;; br_table targeting a loop (a state machine).
  (func (export "state_machine") (param $steps i32) (result i32)
    (local $state i32) (local $trace i32)
    (block $done
      (loop $step
        (br_if $done (i32.eqz (local.get $steps)))
        (local.set $steps (i32.sub (local.get $steps) (i32.const 1)))
        (local.set $trace (i32.add (i32.mul (local.get $trace) (i32.const 10)) (local.get $state)))
        (block $to2
          (block $to0
            (block $to1
              (br_table $to1 $to2 $to0 (local.get $state)))
            (local.set $state (i32.const 1))
            (br $step))
          (local.set $state (i32.const 0))
          (br $step))
        (local.set $state (i32.const 2))
        (br $step)))
    (local.get $trace))

  ;; ---- return ----
  (func (export "early_return") (param $x i32) (result i32)
    (block
      (loop $spin
        (if (i32.eq (local.get $x) (i32.const 5)) (then (return (i32.const 555))))
        (br_if 1 (i32.gt_s (local.get $x) (i32.const 10)))
        (local.set $x (i32.add (local.get $x) (i32.const 1)))
        (br $spin)))
    (local.get $x))
  ;; return with extra values on the stack below the result.
  (func (export "return_discards") (result i32)
    i32.const 1
    i32.const 2
    i32.const 3
    return)
  (func (export "return_void") (param $x i32)
    (if (local.get $x) (then (return)))
    (nop))

  ;; ---- select ----
  (func (export "select") (param $a i32) (param $b i32) (param $c i32) (result i32)
    (select (local.get $a) (local.get $b) (local.get $c)))
  ;; Both operands are evaluated whatever the condition.
  (func (export "select_evaluates_both") (param $c i32) (result i32)
    (select (call $count (i32.const 1)) (call $count (i32.const 2)) (local.get $c)))
  (func (export "select_const") (param $c i32) (result i32)
    (select (i32.const 0x7fffffff) (i32.const 0x80000000) (local.get $c)))
  ;; select on a comparison with zero (a JIT fuses the test with a cmov or a branch).
  (func (export "select_eqz") (param $a i32) (param $b i32) (param $x i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.eqz (local.get $x))))
  (func (export "select_eq_zero") (param $a i32) (param $b i32) (param $x i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.eq (local.get $x) (i32.const 0))))
  (func (export "select_ne_zero") (param $a i32) (param $b i32) (param $x i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.ne (local.get $x) (i32.const 0))))
  (func (export "select_lt_s_zero") (param $a i32) (param $b i32) (param $x i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_s (local.get $x) (i32.const 0))))

  ;; ---- drop, nop, unreachable ----
  (func (export "drop_call") (result i32)
    (drop (call $count (i32.const 9)))
    (nop) (nop)
    (global.get $calls))
  (func (export "unreachable_not_taken") (param $x i32) (result i32)
    (if (local.get $x) (then (unreachable)))
    (i32.const 1))
  (func (export "unreachable_in_loop") (result i32)
    (loop $l (unreachable))
    (i32.const 0))

  ;; ---- dead code ----
  ;; Everything after an unconditional branch is unreachable but must still compile.
  (func (export "dead_after_br") (result i32)
    (block $b (result i32)
      (br $b (i32.const 17))
      (i32.add)
      (drop)
      (i32.div_s (i32.const 1) (i32.const 0))))
  (func (export "dead_after_return") (result i32)
    (return (i32.const 18))
    (i32.load (i32.const 0))
    (call $count)
    (br_table 0 0))
  (func (export "dead_after_unreachable") (param $x i32) (result i32)
    (if (result i32) (local.get $x)
      (then (unreachable) (i32.add) (select))
      (else (i32.const 19))))
  (func (export "dead_after_br_table") (param $x i32) (result i32)
    (block $a (result i32)
      (br_table $a $a (i32.const 20) (local.get $x))
      (drop)
      (i32.const 21)))
  (memory 1)
)

(assert_return (invoke "empty_blocks") (i32.const 1))
(assert_return (invoke "block_value") (i32.const 7))
(assert_return (invoke "block_value_nested") (i32.const 3))
(assert_return (invoke "br_discards") (i32.const 3))
(assert_return (invoke "br_outer" (i32.const 0)) (i32.const 1005))
(assert_return (invoke "br_outer" (i32.const 1)) (i32.const 1001))
(assert_return (invoke "br_outer" (i32.const 2)) (i32.const 1005))
(assert_return (invoke "br_outer" (i32.const 3)) (i32.const 1030))
(assert_return (invoke "deep_nesting") (i32.const 99))

(assert_return (invoke "sum_to" (i32.const 0)) (i32.const 0))
(assert_return (invoke "sum_to" (i32.const 1)) (i32.const 1))
(assert_return (invoke "sum_to" (i32.const 100)) (i32.const 5050))
(assert_return (invoke "sum_to" (i32.const 65536)) (i32.const 0x80008000))
(assert_return (invoke "factorial" (i32.const 0)) (i32.const 1))
(assert_return (invoke "factorial" (i32.const 1)) (i32.const 1))
(assert_return (invoke "factorial" (i32.const 5)) (i32.const 120))
(assert_return (invoke "factorial" (i32.const 12)) (i32.const 479001600))
(assert_return (invoke "factorial" (i32.const 13)) (i32.const 1932053504))
(assert_return (invoke "nested_loops" (i32.const 0)) (i32.const 0))
(assert_return (invoke "nested_loops" (i32.const 3)) (i32.const 36))
(assert_return (invoke "nested_loops" (i32.const 10)) (i32.const 3025))
(assert_return (invoke "loop_with_pending_value" (i32.const 5)) (i32.const 5000))
(assert_return (invoke "loop_with_pending_value" (i32.const -5)) (i32.const 4994))

(assert_return (invoke "if_else" (i32.const 0)) (i32.const 2))
(assert_return (invoke "if_else" (i32.const 1)) (i32.const 1))
(assert_return (invoke "if_else" (i32.const -1)) (i32.const 1))
(assert_return (invoke "if_else" (i32.const 0x80000000)) (i32.const 1))
(assert_return (invoke "if_no_else" (i32.const 0)) (i32.const 10))
(assert_return (invoke "if_no_else" (i32.const 2)) (i32.const 20))
(assert_return (invoke "if_nested" (i32.const 0) (i32.const 0)) (i32.const 0))
(assert_return (invoke "if_nested" (i32.const 0) (i32.const 5)) (i32.const 1))
(assert_return (invoke "if_nested" (i32.const 5) (i32.const 0)) (i32.const 10))
(assert_return (invoke "if_nested" (i32.const 5) (i32.const 5)) (i32.const 11))
(assert_return (invoke "if_br" (i32.const 0)) (i32.const 222))
(assert_return (invoke "if_br" (i32.const 1)) (i32.const 111))
(assert_return (invoke "abs" (i32.const -5)) (i32.const 5))
(assert_return (invoke "abs" (i32.const 5)) (i32.const 5))
(assert_return (invoke "abs" (i32.const 0x80000000)) (i32.const 0x80000000))

(assert_return (invoke "switch" (i32.const 0)) (i32.const 100))
(assert_return (invoke "switch" (i32.const 1)) (i32.const 101))
(assert_return (invoke "switch" (i32.const 2)) (i32.const 102))
(assert_return (invoke "switch" (i32.const 3)) (i32.const 103))
(assert_return (invoke "switch" (i32.const 4)) (i32.const 104))
(assert_return (invoke "switch" (i32.const 5)) (i32.const 104))
(assert_return (invoke "switch" (i32.const -1)) (i32.const 104))
(assert_return (invoke "switch" (i32.const 0x80000000)) (i32.const 104))
(assert_return (invoke "switch_value" (i32.const 0)) (i32.const 51))
(assert_return (invoke "switch_value" (i32.const 1)) (i32.const 58))
(assert_return (invoke "switch_value" (i32.const 2)) (i32.const 51))
(assert_return (invoke "switch_value" (i32.const 3)) (i32.const 58))
(assert_return (invoke "switch_value" (i32.const -1)) (i32.const 58))
(assert_return (invoke "switch_default_only" (i32.const 0)) (i32.const 33))
(assert_return (invoke "switch_default_only" (i32.const 0x7fffffff)) (i32.const 33))
(assert_return (invoke "switch_long" (i32.const 0)) (i32.const 0))
(assert_return (invoke "switch_long" (i32.const 1)) (i32.const 1))
(assert_return (invoke "switch_long" (i32.const 22)) (i32.const 0))
(assert_return (invoke "switch_long" (i32.const 23)) (i32.const 1))
(assert_return (invoke "switch_long" (i32.const 24)) (i32.const 1))
(assert_return (invoke "switch_long" (i32.const -2)) (i32.const 1))
(assert_return (invoke "state_machine" (i32.const 0)) (i32.const 0))
(assert_return (invoke "state_machine" (i32.const 1)) (i32.const 0))
(assert_return (invoke "state_machine" (i32.const 7)) (i32.const 120120))
(assert_return (invoke "state_machine" (i32.const 8)) (i32.const 1201201))

(assert_return (invoke "early_return" (i32.const 0)) (i32.const 555))
(assert_return (invoke "early_return" (i32.const 5)) (i32.const 555))
(assert_return (invoke "early_return" (i32.const 6)) (i32.const 11))
(assert_return (invoke "early_return" (i32.const 100)) (i32.const 100))
(assert_return (invoke "return_discards") (i32.const 3))
(assert_return (invoke "return_void" (i32.const 0)))
(assert_return (invoke "return_void" (i32.const 1)))

(assert_return (invoke "select" (i32.const 1) (i32.const 2) (i32.const 1)) (i32.const 1))
(assert_return (invoke "select" (i32.const 1) (i32.const 2) (i32.const 0)) (i32.const 2))
(assert_return (invoke "select" (i32.const 1) (i32.const 2) (i32.const -1)) (i32.const 1))
(assert_return (invoke "select" (i32.const 1) (i32.const 2) (i32.const 0x80000000)) (i32.const 1))
(assert_return (invoke "calls") (i32.const 0))
(assert_return (invoke "select_evaluates_both" (i32.const 1)) (i32.const 1))
(assert_return (invoke "select_evaluates_both" (i32.const 0)) (i32.const 2))
(assert_return (invoke "calls") (i32.const 4))
(assert_return (invoke "select_const" (i32.const 7)) (i32.const 0x7fffffff))
(assert_return (invoke "select_const" (i32.const 0)) (i32.const 0x80000000))
(assert_return (invoke "select_eqz" (i32.const 1) (i32.const 2) (i32.const 0)) (i32.const 1))
(assert_return (invoke "select_eqz" (i32.const 1) (i32.const 2) (i32.const 5)) (i32.const 2))
(assert_return (invoke "select_eqz" (i32.const 1) (i32.const 2) (i32.const 0x80000000)) (i32.const 2))
(assert_return (invoke "select_eq_zero" (i32.const 1) (i32.const 2) (i32.const 0)) (i32.const 1))
(assert_return (invoke "select_eq_zero" (i32.const 1) (i32.const 2) (i32.const -1)) (i32.const 2))
(assert_return (invoke "select_ne_zero" (i32.const 1) (i32.const 2) (i32.const 0)) (i32.const 2))
(assert_return (invoke "select_ne_zero" (i32.const 1) (i32.const 2) (i32.const 5)) (i32.const 1))
(assert_return (invoke "select_lt_s_zero" (i32.const 1) (i32.const 2) (i32.const -1)) (i32.const 1))
(assert_return (invoke "select_lt_s_zero" (i32.const 1) (i32.const 2) (i32.const 0)) (i32.const 2))
(assert_return (invoke "select_lt_s_zero" (i32.const 1) (i32.const 2) (i32.const 0x80000000)) (i32.const 1))
(assert_return (invoke "select_lt_s_zero" (i32.const 1) (i32.const 2) (i32.const 0x7fffffff)) (i32.const 2))

(assert_return (invoke "drop_call") (i32.const 5))
(assert_return (invoke "unreachable_not_taken" (i32.const 0)) (i32.const 1))
(assert_trap (invoke "unreachable_not_taken" (i32.const 1)) "unreachable")
(assert_trap (invoke "unreachable_in_loop") "unreachable")

(assert_return (invoke "dead_after_br") (i32.const 17))
(assert_return (invoke "dead_after_return") (i32.const 18))
(assert_return (invoke "dead_after_unreachable" (i32.const 0)) (i32.const 19))
(assert_trap (invoke "dead_after_unreachable" (i32.const 1)) "unreachable")
(assert_return (invoke "dead_after_br_table" (i32.const 0)) (i32.const 20))
(assert_return (invoke "dead_after_br_table" (i32.const 9)) (i32.const 20))
