;; kernels_bulk.wat: the bulk-memory kernels of `kplug bench` (issue 11), beside kernels.wat.
;; `memory.copy` and `memory.fill` are what `memcpy` and `memset` become in a Rust or C plugin
;; built by a stock toolchain; these kernels time them on 4 KiB blocks against native `memcpy`
;; and `memset` (the C library's, called from the native baseline).
;;
;; Definitions (the native baseline computes exactly these):
;;   fill        LCG bytes, as in kernels.wat
;;   checksum    32-bit FNV-1a over bytes, as in kernels.wat
;;   memcpy_4k   `reps` times: copy the 4096 bytes at src to dst (non-overlapping); returns
;;               the dword at dst xor the dword at dst + 4092 (little-endian)
;;   memset_4k   `reps` times: set the 4096 bytes at dst to (value + rep) & 0xff, rep counting
;;               down from reps to 1; returns as memcpy_4k
;;
;; Memory: 4 pages (256 KiB), exported as "memory". Layout: 0x01000 buffer A (input),
;; 0x20000 buffer B (output).
;;
;; Exports:
;;   fill(ptr, len, seed) -> len
;;   checksum(ptr, len) -> hash
;;   memcpy_4k(dst, src, reps) -> check word
;;   memset_4k(dst, value, reps) -> check word
;;
;; Run it: kplug run --local plugins/benchmarks/kernels_bulk.wat memcpy_4k 131072 4096 1000
(module
  (memory (export "memory") 4)

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

  (func $check (param $dst i32) (result i32)
    (i32.xor (i32.load (local.get $dst))
             (i32.load (i32.add (local.get $dst) (i32.const 4092)))))

  (func (export "memcpy_4k") (param $dst i32) (param $src i32) (param $reps i32) (result i32)
    (block $done
      (br_if $done (i32.eqz (local.get $reps)))
      (loop $again
        (memory.copy (local.get $dst) (local.get $src) (i32.const 4096))
        (local.set $reps (i32.sub (local.get $reps) (i32.const 1)))
        (br_if $again (local.get $reps))))
    (call $check (local.get $dst)))

  (func (export "memset_4k") (param $dst i32) (param $value i32) (param $reps i32) (result i32)
    (block $done
      (br_if $done (i32.eqz (local.get $reps)))
      (loop $again
        (memory.fill (local.get $dst) (i32.add (local.get $value) (local.get $reps))
                     (i32.const 4096))
        (local.set $reps (i32.sub (local.get $reps) (i32.const 1)))
        (br_if $again (local.get $reps))))
    (call $check (local.get $dst)))
)
