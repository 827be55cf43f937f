;; kernels_float.wat: the float kernels of `kplug bench` (issue 10), beside kernels.wat. Every
;; export takes and returns i32 (pointers, sizes, a checksum); inside, the arithmetic is f32 or
;; f64, which WebAssembly defines as IEEE 754 binary32/binary64 with round-to-nearest-even. Until
;; kplug's JIT compiles floats the bench runs this module in native Rust, wasmi and wasm3 only,
;; and shows the JIT's columns as not supported.
;;
;; Definitions (the native baseline computes exactly these; values stay normal, far from
;; overflow and subnormals, so an x87 with its precision control set to 24 or 53 bits rounds
;; every operation as IEEE does):
;;   fill        LCG bytes, as in kernels.wat
;;   checksum    32-bit FNV-1a over bytes, as in kernels.wat
;;   biquad_f32  two cascaded biquad sections (direct form I) of a Butterworth low-pass, in
;;               f32: x[n] = f32(i16 sample n, little-endian, at src) * 2^-15; per section
;;               y = (((B0*x + B1*x1) + B2*x2) - A1*y1) - A2*y2, evaluated in that order, with
;;               B0 0.067455255, B1 0.13491051, B2 0.067455255, A1 -1.1429805, A2 0.41280160
;;               (f32 literals); the second section filters the first's output; y is stored
;;               as f32 at dst + 4n; returns the checksum of the 4*count output bytes
;;   matmul_f64  n x n matrices of f64: A[i][j] = f64(i16 sample i*n + j) * 2^-15 and
;;               B[i][j] = f64(i16 sample n*n + i*n + j) * 2^-15 from the samples at src, stored
;;               row-major at dst and dst + 8n^2; C = A x B with C[i][j] = sum over k in
;;               order from 0.0 of A[i][k]*B[k][j], stored at dst + 16n^2; returns the
;;               checksum of C's 8n^2 bytes
;;
;; Memory: 4 pages (256 KiB), exported as "memory": buffer A (input) at 0x01000, buffer B
;; (output) at 0x20000.
;;
;; Exports:
;;   fill(ptr, len, seed) -> len
;;   checksum(ptr, len) -> hash
;;   biquad_f32(src, dst, count) -> hash of the output
;;   matmul_f64(src, dst, n) -> hash of C
;;
;; Run it: kplug run --local plugins/benchmarks/kernels_float.wat matmul_f64 4096 131072 8   (needs the JIT's floats)
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

  ;; ---- biquad IIR, f32 ----

  (func (export "biquad_f32") (param $src i32) (param $dst i32) (param $count i32) (result i32)
    (local $index i32)
    (local $x f32)
    (local $x1 f32) (local $x2 f32) (local $y1 f32) (local $y2 f32)
    (local $u1 f32) (local $u2 f32) (local $w1 f32) (local $w2 f32)
    (local $y f32)
    (local $w f32)
    (block $done
      (br_if $done (i32.eqz (local.get $count)))
      (loop $sample
        (local.set $x
          (f32.mul
            (f32.convert_i32_s
              (i32.load16_s (i32.add (local.get $src) (i32.shl (local.get $index) (i32.const 1)))))
            (f32.const 0x1p-15)))
        ;; section 1: x -> y
        (local.set $y
          (f32.sub
            (f32.sub
              (f32.add
                (f32.add
                  (f32.mul (f32.const 0.067455255) (local.get $x))
                  (f32.mul (f32.const 0.13491051) (local.get $x1)))
                (f32.mul (f32.const 0.067455255) (local.get $x2)))
              (f32.mul (f32.const -1.1429805) (local.get $y1)))
            (f32.mul (f32.const 0.41280160) (local.get $y2))))
        (local.set $x2 (local.get $x1))
        (local.set $x1 (local.get $x))
        (local.set $y2 (local.get $y1))
        (local.set $y1 (local.get $y))
        ;; section 2: y -> w
        (local.set $w
          (f32.sub
            (f32.sub
              (f32.add
                (f32.add
                  (f32.mul (f32.const 0.067455255) (local.get $y))
                  (f32.mul (f32.const 0.13491051) (local.get $u1)))
                (f32.mul (f32.const 0.067455255) (local.get $u2)))
              (f32.mul (f32.const -1.1429805) (local.get $w1)))
            (f32.mul (f32.const 0.41280160) (local.get $w2))))
        (local.set $u2 (local.get $u1))
        (local.set $u1 (local.get $y))
        (local.set $w2 (local.get $w1))
        (local.set $w1 (local.get $w))
        (f32.store
          (i32.add (local.get $dst) (i32.shl (local.get $index) (i32.const 2)))
          (local.get $w))
        (local.set $index (i32.add (local.get $index) (i32.const 1)))
        (br_if $sample (i32.ne (local.get $index) (local.get $count)))))
    (call $checksum (local.get $dst) (i32.shl (local.get $count) (i32.const 2))))

  ;; ---- matrix multiply, f64 ----

  ;; Converts count i16 samples at $src to f64 * 2^-15 at $dst.
  (func $to_f64 (param $src i32) (param $dst i32) (param $count i32)
    (block $done
      (br_if $done (i32.eqz (local.get $count)))
      (loop $value
        (f64.store (local.get $dst)
          (f64.mul (f64.convert_i32_s (i32.load16_s (local.get $src))) (f64.const 0x1p-15)))
        (local.set $src (i32.add (local.get $src) (i32.const 2)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br_if $value (local.get $count)))))

  (func (export "matmul_f64") (param $src i32) (param $dst i32) (param $n i32) (result i32)
    (local $square i32)
    (local $a i32)
    (local $b i32)
    (local $c i32)
    (local $i i32)
    (local $j i32)
    (local $k i32)
    (local $row i32)
    (local $column i32)
    (local $sum f64)
    (local.set $square (i32.mul (local.get $n) (local.get $n)))
    (local.set $a (local.get $dst))
    (local.set $b (i32.add (local.get $dst) (i32.shl (local.get $square) (i32.const 3))))
    (local.set $c (i32.add (local.get $dst) (i32.shl (local.get $square) (i32.const 4))))
    (call $to_f64 (local.get $src) (local.get $a) (local.get $square))
    (call $to_f64
      (i32.add (local.get $src) (i32.shl (local.get $square) (i32.const 1)))
      (local.get $b)
      (local.get $square))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $rows
        (local.set $j (i32.const 0))
        (loop $columns
          (local.set $sum (f64.const 0))
          (local.set $row
            (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $n)) (i32.const 3))))
          (local.set $column (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))))
          (local.set $k (i32.const 0))
          (loop $inner
            (local.set $sum
              (f64.add (local.get $sum)
                (f64.mul (f64.load (local.get $row)) (f64.load (local.get $column)))))
            (local.set $row (i32.add (local.get $row) (i32.const 8)))
            (local.set $column
              (i32.add (local.get $column) (i32.shl (local.get $n) (i32.const 3))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $inner (i32.ne (local.get $k) (local.get $n))))
          (f64.store
            (i32.add (local.get $c)
              (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3)))
            (local.get $sum))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $columns (i32.ne (local.get $j) (local.get $n))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $rows (i32.ne (local.get $i) (local.get $n)))))
    (call $checksum (local.get $c) (i32.shl (local.get $square) (i32.const 3))))
)
