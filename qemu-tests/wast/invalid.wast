;; Modules the firmware must refuse before generating any code: invalid modules (they decode but
;; fail validation) and malformed ones (text that does not parse, binaries that do not decode).
;; Every one uses only the i32 subset, so the refusal is for the stated reason and not for an
;; unsupported feature.

;; ---- operand types and stack shape ----
(assert_invalid (module (func (result i32) (nop))) "type mismatch")
(assert_invalid (module (func (result i32))) "type mismatch")
(assert_invalid (module (func (i32.const 1))) "type mismatch")
(assert_invalid (module (func (result i32) (i32.add (i32.const 1)))) "type mismatch")
(assert_invalid (module (func (drop))) "type mismatch")
(assert_invalid (module (func (result i32) (return))) "type mismatch")
(assert_invalid
  (module (func (result i32) (if (result i32) (i32.const 1) (then (i32.const 1)))))
  "type mismatch")
(assert_invalid
  (module (func (result i32) (if (result i32) (i32.const 1) (then (i32.const 1)) (else))))
  "type mismatch")
(assert_invalid (module (func (if (then)))) "type mismatch")
(assert_invalid (module (func (result i32) (block (i32.const 1)))) "type mismatch")
(assert_invalid (module (func (result i32) (loop (result i32)))) "type mismatch")
(assert_invalid (module (func (br_if 0))) "type mismatch")
(assert_invalid
  (module (func (result i32) (block $a (result i32) (block $b (br_table $a $b (i32.const 0) (i32.const 0))) (i32.const 0))))
  "type mismatch")
(assert_invalid (module (func (param i32) (call 0))) "type mismatch")
(assert_invalid (module (func (result i32) (select (i32.const 1) (i32.const 2)))) "type mismatch")

;; ---- unknown indices ----
(assert_invalid (module (func (drop (local.get 0)))) "unknown local")
(assert_invalid (module (func (param i32) (local.set 1 (i32.const 0)))) "unknown local")
(assert_invalid (module (func (call 1))) "unknown function")
(assert_invalid (module (func (drop (global.get 0)))) "unknown global")
(assert_invalid (module (func (br 1))) "unknown label")
(assert_invalid (module (func (block (br_table 0 2 (i32.const 0))))) "unknown label")
(assert_invalid (module (func (drop (i32.load (i32.const 0))))) "unknown memory")
(assert_invalid (module (func (i32.store8 (i32.const 0) (i32.const 0)))) "unknown memory")
(assert_invalid (module (func (drop (memory.size)))) "unknown memory")
(assert_invalid (module (func (drop (memory.grow (i32.const 1))))) "unknown memory")
(assert_invalid
  (module (type $t (func)) (func (call_indirect (type $t) (i32.const 0))))
  "unknown table")
(assert_invalid (module (table 1 funcref) (elem (i32.const 0) 3)) "unknown function")
(assert_invalid (module (export "f" (func 0))) "unknown function")
(assert_invalid (module (start 0)) "unknown function")

;; ---- globals ----
(assert_invalid
  (module (global i32 (i32.const 0)) (func (global.set 0 (i32.const 1))))
  "global is immutable")
(assert_invalid (module (global i32 (i32.ctz (i32.const 0)))) "constant expression required")
(assert_invalid (module (global i32 (nop) (i32.const 0))) "constant expression required")
(assert_invalid (module (memory 1) (data (i32.ctz (i32.const 0)) "x")) "constant expression required")

;; ---- memory and alignment ----
(assert_invalid
  (module (memory 1) (func (drop (i32.load align=8 (i32.const 0)))))
  "alignment must not be larger than natural")
(assert_invalid
  (module (memory 1) (func (drop (i32.load16_u align=4 (i32.const 0)))))
  "alignment must not be larger than natural")
(assert_invalid
  (module (memory 1) (func (drop (i32.load8_s align=2 (i32.const 0)))))
  "alignment must not be larger than natural")
(assert_invalid
  (module (memory 1) (func (i32.store16 align=4 (i32.const 0) (i32.const 0))))
  "alignment must not be larger than natural")
(assert_invalid (module (memory 65537)) "memory size must be at most 65536 pages (4GiB)")
(assert_invalid (module (memory 1 65537)) "memory size must be at most 65536 pages (4GiB)")
(assert_invalid (module (memory 2 1)) "size minimum must not be greater than maximum")
(assert_invalid (module (table 2 1 funcref)) "size minimum must not be greater than maximum")

;; ---- module structure ----
(assert_invalid (module (func $f (param i32)) (start $f)) "start function")
(assert_invalid (module (func $f (result i32) (i32.const 0)) (start $f)) "start function")
(assert_invalid (module (func (export "a")) (func (export "a"))) "duplicate export name")

;; ---- malformed text ----
(assert_malformed (module quote "(func i32.addd)") "unknown operator")
(assert_malformed (module quote "(func (result i32) (i32.const 0x100000000))") "constant out of range")
(assert_malformed (module quote "(func (result i32) (i32.const -0x80000001))") "constant out of range")
(assert_malformed
  (module quote "(memory 1) (func (drop (i32.load offset=4294967296 (i32.const 0))))")
  "i32 constant")
(assert_malformed (module quote "(func (local.get $missing))") "unknown local")
(assert_malformed (module quote "(func $f) (func $f)") "duplicate func")
(assert_malformed (module quote "(func (br $nowhere))") "unknown label")
(assert_malformed (module quote "(func") "unexpected end")

;; ---- malformed binary ----
(assert_malformed (module binary "") "unexpected end")
(assert_malformed (module binary "\00asm") "unexpected end")
(assert_malformed (module binary "\00asn\01\00\00\00") "magic header not detected")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
;; Section id 0x7f does not exist.
(assert_malformed (module binary "\00asm\01\00\00\00\7f\01\00") "malformed section id")
;; A type section that claims 5 bytes but has 1.
(assert_malformed (module binary "\00asm\01\00\00\00\01\05\01") "unexpected end")
;; A function type with a value type byte that is no value type.
(assert_malformed
  (module binary "\00asm\01\00\00\00" "\01\05\01\60\01\00\00")
  "malformed value type")
