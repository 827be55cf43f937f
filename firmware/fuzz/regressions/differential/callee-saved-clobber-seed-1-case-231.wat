;; kplug-fuzz differential reproducer
;; subset i32
;; found reduced from /tmp/fz/diff2/seed-1-case-231.wat; originally:
;; found hardware mode: call 0 e0(i32:-38, i32:1336251880, i32:1): oracle returned [i32:1], JIT returned [i32:-1607668176]
;; found software mode: call 0 e0(i32:-38, i32:1336251880, i32:1): oracle returned [i32:1], JIT returned [i32:-1607668176]
;; found now:
;; found hardware mode: call 0 e0(i32:-38, i32:1336251880, i32:1): oracle returned [i32:1], JIT returned [i32:0]
;; found software mode: call 0 e0(i32:-38, i32:1336251880, i32:1): oracle returned [i32:1], JIT returned [i32:0]
;; call e0 i32:-38 i32:1336251880 i32:1
(module
  (type $t3 (func (param i32 i32 i32 i32 i32)))
  (type $t4 (func (param i32 i32 i32) (result i32)))
  (type $t5 (func (param i32 i32) (result i32)))
  (global $g0 (export "g0") (mut i32) (i32.const 0))
  (global $g1 (export "g1") (mut i32) (i32.const 0))
  (global $g2 (export "g2") i32 (i32.const 200512632))
  (global $g4 (export "g4") (mut i32) (i32.const -1780865382))
  (func $f0 (type $t3) (local i32 i32 i32 i32 i32 i32 i32 i32)
    (block
    )
    global.get $g1 i32.const 1 i32.sub global.set $g1)
  (func $f1 (type $t4) (local i32 i32)
    (block (result i32)
    i32.const -1100482818
    (block (result i32)
    i32.const 19
    local.get 0
    local.get 4
    i32.const 1139566994
    i32.const -24
    i32.const -931012354
    local.get 2
    i32.const 223365374
    local.get 3
    global.get $g4
    i32.add
    i32.add
    i32.xor
    i32.shl
    i32.mul
    i32.xor
    i32.rotr
    i32.xor
    br_if 0 drop
    local.get 2
    )
    i32.const 1048895067
    call $f2
    i32.div_s
    drop
    local.get 2
    )
    global.get $g1 i32.const 1 i32.sub global.set $g1)
  (func $f2 (type $t5) (local i32 i32 i32 i32 i32)
    (block (result i32)
    global.get $g1
    local.get 1
    i32.const 32669
    i32.const -1234721609
    i32.const 1763083698
    global.get $g1
    global.get $g2
    global.get $g1
    local.get 6
    global.get $g0
    i32.const 1607670174
    local.get 5
    i32.const 12
    local.get 4
    i32.add
    i32.shl
    i32.shl
    i32.sub
    i32.sub
    i32.and
    i32.add
    i32.xor
    i32.mul
    i32.shr_s
    i32.mul
    i32.or
    i32.xor
    )
    global.get $g1 i32.const 1 i32.sub global.set $g1)
  (func (export "e0") (type $t4)
    local.get 0 local.get 1 local.get 2 call $f1)
)
