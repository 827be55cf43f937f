;; kplug-fuzz differential reproducer
;; subset i32
;; found reduced from /tmp/fz/diff2/seed-1-case-1420.wat; originally:
;; found hardware mode: call 6 raw(): oracle trapped: integer divide by zero, JIT returned []
;; found software mode: call 6 raw(): oracle trapped: integer divide by zero, JIT returned []
;; found now:
;; found hardware mode: call 1 raw(): oracle trapped: integer divide by zero, JIT trapped: undefined element
;; found software mode: call 1 raw(): oracle trapped: integer divide by zero, JIT trapped: undefined element
;; call e1
;; call raw
(module
  (type $t0 (func (param i32)))
  (type $t1 (func (param i32 i32 i32 i32 i32)))
  (type $t3 (func))
  (type $t4 (func (param i32 i32 i32 i32 i32 i32) (result i32)))
  (global $g0 (export "g0") (mut i32) (i32.const 0))
  (global $g1 (export "g1") (mut i32) (i32.const 0))
  (global $g2 (export "g2") (mut i32) (i32.const -603729306))
  (memory (export "memory") 1 1)
  (table 8 funcref)
  (func $f0 (type $t3) (local i32 i32 i32 i32 i32 i32)
    (block
    global.get $g0
    i32.const -812922537
    (block (result i32)
    local.get 3
    )
    global.get $g2
    (if (result i32) (then
    i32.const -57
    i32.const 0xfff8 i32.and
    local.get 3
    i32.store16
    local.get 5
    global.set $g2
    global.get $g1
    ) (else
    i32.const 1399131132
    call $f1
    i32.const -7
    ))
    i32.le_u
    i32.const 770992555
    global.get $g0
    (if (result i32) (then
    local.get 5
    ) (else
    local.get 1
    global.get $g1
    i32.store16
    global.get $g1
    ))
    i32.rem_u
    global.get $g2
    global.get $g0
    (if (result i32) (then
    local.get 0
    ) (else
    local.get 3
    ))
    local.get 0
    global.get $g1
    i32.const -405865848
    local.get 5
    select
    global.get $g2
    (if (result i32) (then
    local.get 2
    drop
    local.get 4
    ) (else
    i32.const 1414281204
    ))
    select
    i32.const 8
    call_indirect (type $t4)
    i32.xor
    drop
    )
    global.get $g1 i32.const 1 i32.sub global.set $g1)
  (func $f1 (type $t0) (local i32 i32 i32 i32 i32 i32 i32 i32)
    (block
    i32.const 1
    i32.const -708171264
    local.get 7
    (if (result i32) (then
    local.get 5
    i32.const 2
    i32.const 1236269700
    local.get 6
    global.get $g0
    call $f2
    local.get 1
    ) (else
    global.get $g2
    ))
    local.get 2
    i32.rotr
    i32.and
    i32.rotr
    drop
    i32.const 57626
    local.get 0
    local.get 2
    select
    global.get $g1
    local.get 2
    i32.ctz
    i32.const -1396786376
    local.get 7
    i32.shl
    i32.sub
    i32.or
    i32.mul
    drop
    )
    global.get $g1 i32.const 1 i32.sub global.set $g1)
  (func $f2 (type $t1) (local i32 i32 i32)
    (block
    local.get 5
    i32.const -1418873580
    local.get 2
    i32.const 1353715767
    i32.const -2058353502
    i32.and
    i32.mul
    i32.sub
    i32.or
    local.get 3
    local.get 4
    (if (result i32) (then
    i32.const -60
    global.get $g2
    i32.const -2147483648
    i32.const 1601404660
    global.get $g2
    global.get $g2
    i32.const 3
    call_indirect (type $t4)
    drop
    i32.const -2147483648
    ) (else
    global.get $g0
    ))
    i32.le_s
    (block (result i32)
    i32.const 536081839
    local.get 1
    i32.const 32
    i32.const 2069883568
    global.get $g1
    local.get 3
    global.get $g0
    local.get 6
    i32.const -60332538
    i32.const -670151219
    i32.const 32
    i32.and
    i32.add
    i32.mul
    i32.rotr
    i32.xor
    i32.add
    i32.sub
    i32.rotr
    i32.rotr
    i32.sub
    )
    local.get 5
    local.get 4
    i32.const 1952678662
    local.get 2
    i32.const 5
    call_indirect (type $t4)
    i32.const 8
    select
    drop
    )
    global.get $g1 i32.const 1 i32.sub global.set $g1)
  (func $f3 (type $t1) (local i32)
    (block
    i32.const 19162
    global.set $g2
    (loop
    )
    )
    global.get $g1 i32.const 1 i32.sub global.set $g1)
  (func (export "e0") (type $t0)
    local.get 0 call $f1)
  (func (export "e1") (type $t3)
    i32.const 2000 global.set $g0 i32.const 0 global.set $g1
    call $f0)
  (func (export "e2") (type $t0)
    local.get 0 call $f1)
  (func (export "e3") (type $t1)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $f2)
  (export "raw" (func $f0))
)
