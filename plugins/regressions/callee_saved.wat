;; The register miscompile of issue 8, as a regression: a caller keeps its hot locals in the
;; callee-saved registers (EBX, ESI, EDI); its callees have one local and operand stacks deep
;; enough to use every value register. Before the fix a callee used the caller's registers
;; without saving them, and the caller's locals came back overwritten. `caller(n)` must agree
;; with the reference interpreter for any n. Used by qemu-tests/tests/security.rs (every target)
;; and firmware/silicon/tests/differential.rs (both modes against wasmi).
(module
  (func $deep (param $x i32) (result i32)
    local.get $x i32.const 1 i32.add
    local.get $x i32.const 2 i32.mul
    local.get $x i32.const 3 i32.xor
    local.get $x i32.const 4 i32.sub
    local.get $x i32.const 5 i32.or
    local.get $x i32.const 6 i32.shl
    local.get $x i32.const 7 i32.and
    local.get $x i32.const 8 i32.rotl
    i32.add i32.xor i32.sub i32.add i32.xor i32.add i32.sub)
  (func $deep64 (param $x i64) (result i64)
    local.get $x i64.const 1 i64.add
    local.get $x i64.const 3 i64.mul
    local.get $x i64.const 5 i64.xor
    local.get $x i64.const 7 i64.sub
    i64.add i64.xor i64.sub)
  (func (export "caller") (param $n i32) (result i32) (local $a i32) (local $b i32) (local $c i32)
    (local.set $a (i32.const 1000)) (local.set $b (i32.const 2000)) (local.set $c (i32.const 3000))
    (block $done (loop $again
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $a (i32.add (local.get $a) (call $deep (local.get $n))))
      (local.set $b (i32.xor (local.get $b)
        (i32.wrap_i64 (call $deep64 (i64.extend_i32_s (local.get $n))))))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $again)))
    local.get $a local.get $b i32.add local.get $c i32.mul))
