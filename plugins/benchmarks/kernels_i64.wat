;; kernels_i64.wat: the 64-bit integer kernels of `kplug bench` (issue 10), beside kernels.wat.
;; Every export takes and returns i32 (pointers, sizes, a checksum), so the module can be called
;; like kernels.wat; inside, the arithmetic is i64. Until kplug's JIT compiles i64 the bench runs
;; this module in native Rust, wasmi and wasm3 only, and shows the JIT's columns as not supported.
;;
;; Definitions (the native baseline computes exactly these):
;;   fill        LCG bytes, as in kernels.wat
;;   checksum    32-bit FNV-1a over bytes, as in kernels.wat
;;   xxhash64    XXH64 (Yann Collet's xxHash, 64-bit) of len bytes with the seed zero-extended
;;               to 64 bits; the result is the 64-bit hash h folded to i32: low(h ^ (h >> 32))
;;   q31_fir     16-tap FIR in Q31: taps TAPS[k] (below) are Q31 (they sum to 2^31, unity gain);
;;               x and y are little-endian i32; y[n] = saturate_i32((sum over k < 16 with
;;               n-k >= 0 of i64(TAPS[k]) * i64(x[n-k])) >> 31), accumulated in i64, shift
;;               arithmetic; returns the checksum of the 4*count output bytes
;;
;; Memory: 4 pages (256 KiB), exported as "memory". Layout: 0x00400 the Q31 taps (a data
;; segment), 0x01000 buffer A (input, up to 124 KiB), 0x20000 buffer B (output, 128 KiB).
;;
;; Exports:
;;   fill(ptr, len, seed) -> len
;;   checksum(ptr, len) -> hash
;;   xxhash64(ptr, len, seed) -> folded hash
;;   q31_fir(src, dst, count) -> hash of the output
;;
;; Run it: kplug run --local plugins/benchmarks/kernels_i64.wat xxhash64 4096 0 0   (needs the JIT's i64)
(module
  (memory (export "memory") 4)

  ;; The Q15 low-pass of kernels.wat shifted to Q31 (each tap * 65536):
  ;; 256, 640, 1152, 1792, 2432, 3072, 3456, 3584, mirrored, times 2^16.
  (data (i32.const 0x00400)
    "\00\00\00\01\00\00\80\02\00\00\80\04\00\00\00\07"
    "\00\00\80\09\00\00\00\0c\00\00\80\0d\00\00\00\0e"
    "\00\00\00\0e\00\00\80\0d\00\00\00\0c\00\00\80\09"
    "\00\00\00\07\00\00\80\04\00\00\80\02\00\00\00\01")

  (func (export "fill") (param $ptr i32) (param $len i32) (param $seed i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (loop $byte
        (local.set $seed
          (i32.add (i32.mul (local.get $seed) (i32.const 1664525)) (i32.const 1013904223)))
        (i32.store8 (local.get $ptr) (i32.shr_u (local.get $seed) (i32.const 24)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br_if $byte (i32.ne (local.get $ptr) (local.get $end)))))
    (local.get $len))

  (func $checksum (export "checksum") (param $ptr i32) (param $len i32) (result i32)
    (local $hash i32)
    (local $end i32)
    (local.set $hash (i32.const 0x811C9DC5))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (loop $byte
        (local.set $hash
          (i32.mul
            (i32.xor (local.get $hash) (i32.load8_u (local.get $ptr)))
            (i32.const 0x01000193)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br_if $byte (i32.ne (local.get $ptr) (local.get $end)))))
    (local.get $hash))

  ;; ---- XXH64 ----

  (global $p1 i64 (i64.const 0x9E3779B185EBCA87))
  (global $p2 i64 (i64.const 0xC2B2AE3D27D4EB4F))
  (global $p3 i64 (i64.const 0x165667B19E3779F9))
  (global $p4 i64 (i64.const 0x85EBCA77C2B2AE63))
  (global $p5 i64 (i64.const 0x27D4EB2F165667C5))

  (func $round (param $acc i64) (param $input i64) (result i64)
    (i64.mul
      (i64.rotl
        (i64.add (local.get $acc) (i64.mul (local.get $input) (global.get $p2)))
        (i64.const 31))
      (global.get $p1)))

  (func $merge (param $hash i64) (param $lane i64) (result i64)
    (i64.add
      (i64.mul
        (i64.xor (local.get $hash) (call $round (i64.const 0) (local.get $lane)))
        (global.get $p1))
      (global.get $p4)))

  (func (export "xxhash64") (param $ptr i32) (param $len i32) (param $seed32 i32) (result i32)
    (local $seed i64)
    (local $end i32)
    (local $limit i32)
    (local $v1 i64)
    (local $v2 i64)
    (local $v3 i64)
    (local $v4 i64)
    (local $hash i64)
    (local.set $seed (i64.extend_i32_u (local.get $seed32)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (if (i32.ge_u (local.get $len) (i32.const 32))
      (then
        (local.set $v1 (i64.add (i64.add (local.get $seed) (global.get $p1)) (global.get $p2)))
        (local.set $v2 (i64.add (local.get $seed) (global.get $p2)))
        (local.set $v3 (local.get $seed))
        (local.set $v4 (i64.sub (local.get $seed) (global.get $p1)))
        (local.set $limit (i32.sub (local.get $end) (i32.const 32)))
        (loop $stripe
          (local.set $v1 (call $round (local.get $v1) (i64.load (local.get $ptr))))
          (local.set $v2 (call $round (local.get $v2) (i64.load offset=8 (local.get $ptr))))
          (local.set $v3 (call $round (local.get $v3) (i64.load offset=16 (local.get $ptr))))
          (local.set $v4 (call $round (local.get $v4) (i64.load offset=24 (local.get $ptr))))
          (local.set $ptr (i32.add (local.get $ptr) (i32.const 32)))
          (br_if $stripe (i32.le_u (local.get $ptr) (local.get $limit))))
        (local.set $hash
          (i64.add
            (i64.add (i64.rotl (local.get $v1) (i64.const 1)) (i64.rotl (local.get $v2) (i64.const 7)))
            (i64.add (i64.rotl (local.get $v3) (i64.const 12)) (i64.rotl (local.get $v4) (i64.const 18)))))
        (local.set $hash (call $merge (local.get $hash) (local.get $v1)))
        (local.set $hash (call $merge (local.get $hash) (local.get $v2)))
        (local.set $hash (call $merge (local.get $hash) (local.get $v3)))
        (local.set $hash (call $merge (local.get $hash) (local.get $v4))))
      (else
        (local.set $hash (i64.add (local.get $seed) (global.get $p5)))))
    (local.set $hash (i64.add (local.get $hash) (i64.extend_i32_u (local.get $len))))
    (block $words_done
      (loop $word
        (br_if $words_done (i32.lt_u (i32.sub (local.get $end) (local.get $ptr)) (i32.const 8)))
        (local.set $hash
          (i64.xor (local.get $hash) (call $round (i64.const 0) (i64.load (local.get $ptr)))))
        (local.set $hash
          (i64.add
            (i64.mul (i64.rotl (local.get $hash) (i64.const 27)) (global.get $p1))
            (global.get $p4)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 8)))
        (br $word)))
    (if (i32.ge_u (i32.sub (local.get $end) (local.get $ptr)) (i32.const 4))
      (then
        (local.set $hash
          (i64.xor (local.get $hash) (i64.mul (i64.load32_u (local.get $ptr)) (global.get $p1))))
        (local.set $hash
          (i64.add
            (i64.mul (i64.rotl (local.get $hash) (i64.const 23)) (global.get $p2))
            (global.get $p3)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 4)))))
    (block $bytes_done
      (loop $byte
        (br_if $bytes_done (i32.eq (local.get $ptr) (local.get $end)))
        (local.set $hash
          (i64.xor (local.get $hash) (i64.mul (i64.load8_u (local.get $ptr)) (global.get $p5))))
        (local.set $hash (i64.mul (i64.rotl (local.get $hash) (i64.const 11)) (global.get $p1)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $byte)))
    (local.set $hash (i64.xor (local.get $hash) (i64.shr_u (local.get $hash) (i64.const 33))))
    (local.set $hash (i64.mul (local.get $hash) (global.get $p2)))
    (local.set $hash (i64.xor (local.get $hash) (i64.shr_u (local.get $hash) (i64.const 29))))
    (local.set $hash (i64.mul (local.get $hash) (global.get $p3)))
    (local.set $hash (i64.xor (local.get $hash) (i64.shr_u (local.get $hash) (i64.const 32))))
    (i32.wrap_i64 (i64.xor (local.get $hash) (i64.shr_u (local.get $hash) (i64.const 32)))))

  ;; ---- Q31 FIR with i64 accumulation ----

  (func (export "q31_fir") (param $src i32) (param $dst i32) (param $count i32) (result i32)
    (local $index i32)
    (local $tap i32)
    (local $reach i32)
    (local $sum i64)
    (block $done
      (br_if $done (i32.eqz (local.get $count)))
      (loop $sample
        (local.set $sum (i64.const 0))
        (local.set $reach (i32.add (local.get $index) (i32.const 1)))
        (if (i32.gt_u (local.get $reach) (i32.const 16))
          (then (local.set $reach (i32.const 16))))
        (local.set $tap (i32.const 0))
        (loop $taps
          (local.set $sum
            (i64.add (local.get $sum)
              (i64.mul
                (i64.load32_s offset=0x400 (i32.shl (local.get $tap) (i32.const 2)))
                (i64.load32_s
                  (i32.add (local.get $src)
                    (i32.shl (i32.sub (local.get $index) (local.get $tap)) (i32.const 2)))))))
          (local.set $tap (i32.add (local.get $tap) (i32.const 1)))
          (br_if $taps (i32.lt_u (local.get $tap) (local.get $reach))))
        (local.set $sum (i64.shr_s (local.get $sum) (i64.const 31)))
        (if (i64.gt_s (local.get $sum) (i64.const 0x7FFFFFFF))
          (then (local.set $sum (i64.const 0x7FFFFFFF))))
        (if (i64.lt_s (local.get $sum) (i64.const -0x80000000))
          (then (local.set $sum (i64.const -0x80000000))))
        (i32.store
          (i32.add (local.get $dst) (i32.shl (local.get $index) (i32.const 2)))
          (i32.wrap_i64 (local.get $sum)))
        (local.set $index (i32.add (local.get $index) (i32.const 1)))
        (br_if $sample (i32.ne (local.get $index) (local.get $count)))))
    (call $checksum (local.get $dst) (i32.shl (local.get $count) (i32.const 2))))
)
