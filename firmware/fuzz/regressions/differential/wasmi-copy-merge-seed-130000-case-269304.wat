;; kplug-fuzz differential reproducer
;; subset i32,f32,multi-value
;; found seed 0x130000 case 269304 (reduced by hand): the JIT returned 33 as the spec says,
;; found wasmi 0.51 returned 0: it merged the copies of `local.set 5`, `local.set 4` (the call's
;; found results) and `local.tee 3` (of local 5) into one span copy that read local 5 too early
;; found (kplug_reference::KNOWN_BUGS). The oracle now keeps copies apart (oracle::separate_copies).
;; call e i32:11 i32:0 i32:0
(module
  (func $f3 (param i32 i32 i32) (result i32 i32 f32 i32)
    i32.const 0 i32.const 33 f32.const 0 i32.const 32768)
  (func (export "e") (param i32 i32 i32) (result i32 i32 f32 i32) (local i32 i32 i32)
    local.get 0 local.get 1 local.get 2
    call $f3
    drop drop
    local.set 5
    local.set 4
    local.get 5
    local.tee 3
    drop
    i32.const -1281151278
    local.get 0
    f32.const 11
    local.get 3))
