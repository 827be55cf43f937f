;; kernels.wat: the benchmark kernel suite of issue 5, as one module, so the same bytes run
;; everywhere: kplug's generated code in hardware and software mode (silicon harness and boards)
;; and wasmi. Each kernel takes pointers and sizes and returns a checksum of its output, so every
;; engine's result can be compared with the native Rust baseline.
;;
;; Definitions (a native baseline must compute exactly these):
;;   LCG bytes   state = seed; per byte: state = state*1664525 + 1013904223 (wrapping),
;;               byte = state >> 24 (unsigned)
;;   checksum    32-bit FNV-1a over bytes: hash = 0x811C9DC5; per byte: hash = (hash ^ byte) *
;;               0x01000193 (wrapping)
;;   CRC-32      ISO-HDLC: reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF
;;   gray        (77*R + 150*G + 29*B) >> 8, from 3-byte R,G,B pixels
;;   downscale   2x2 box filter: out[y][x] = (sum of in[2y..2y+1][2x..2x+1] + 2) >> 2; the output
;;               is (width/2) x (height/2) (a trailing odd row or column is dropped)
;;   conv3x3     Gaussian [1 2 1; 2 4 2; 1 2 1]: out = (weighted sum + 8) >> 4 on interior pixels;
;;               border pixels are copied; images under 3x3 are copied whole
;;   FIR         16 taps, Q15, little-endian i16 at TAPS (below): y[n] = (sum over k < 16 with
;;               n-k >= 0 of h[k]*x[n-k]) >> 15 (arithmetic); x and y are little-endian i16. The
;;               taps sum to 32768, so the i32 sum never overflows and y fits in i16
;;   sort        heapsort of signed i32, ascending, in place
;;   fib         naive recursive: fib(n) = n for n < 2 (unsigned), else fib(n-1) + fib(n-2)
;;   frames      a byte protocol: 0x7E, type T, length L (<= 15), L payload bytes, check C =
;;               T ^ L ^ each payload byte. make_frames writes frames drawn from the LCG (state
;;               as in fill, one step per draw): per frame r = next(); T = (r >> 8) & 7;
;;               L = (r >> 12) & 15; corrupt = ((r >> 16) & 7) == 0 (then C ^= 0x55);
;;               noise = ((r >> 19) & 3) == 0 (then the byte r >> 24 comes first); each payload
;;               byte = next() >> 24. It stops before the first frame that does not fit and
;;               zeroes the rest.
;;   parse       the receiver's state machine, one byte at a time (br_table on the state):
;;               HUNT: 0x7E -> TYPE. TYPE: T = byte, C = byte -> LENGTH. LENGTH: byte > 15 ->
;;               errors += 1, HUNT; else L = byte, C ^= byte, sum = 0 -> PAYLOAD (CHECK if L = 0).
;;               PAYLOAD: C ^= byte, sum += byte, L bytes -> CHECK. CHECK: byte != C ->
;;               errors += 1; else by T & 7 (br_table): 0 a0 += 1; 1 a1 += sum;
;;               2 a2 ^= sum << L; 3 a3 = a3*31 + L; 4 a0 += 3*sum; 5 a1 ^= L; 6 a2 += 1;
;;               7 a3 ^= sum. Then HUNT. Result (((a0*31 + a1)*31 + a2)*31 + a3) ^ errors
;;   pid         Q16.16 PID loop on a first-order plant, gains in Q8 (KP 128, KI 8, KD 64):
;;               every 256 steps (from step 0) setpoint = (next() >> 12) & 0xFFFFF; error =
;;               setpoint - y; integral = clamp(integral + error, +-0x400000); u = clamp(
;;               (KP*error >> 8) + (KI*integral >> 8) + (KD*(error - previous error) >> 8),
;;               +-0x200000); y += (u - y) >> 3 (shifts arithmetic); hash = (hash ^ y) * FNV
;;               prime, from the FNV basis, per step
;;
;; Memory: 5 pages (320 KiB), exported as "memory". A 320x240 RGB frame and its gray frame need
;; 300 KiB, more than the firmware's default plugin limit of 4 pages: upload with `--memory 5`.
;; Layout:
;;   0x00000  CRC table, 256 i32 (written by the start function)
;;   0x00400  FIR taps, 16 i16 (a data segment)
;;   0x01000  buffer A: 230400 bytes, a 320x240 RGB frame (ends 0x39400)
;;   0x39400  buffer B: 76800 bytes, a 320x240 gray frame (ends 0x4C000)
;;   0x4C000  free up to 0x50000
;;
;; Exports (all values i32; kernels return the checksum of their output unless noted):
;;   fill(ptr, len, seed) -> len                 LCG bytes
;;   checksum(ptr, len) -> hash                  FNV-1a
;;   crc32_bitwise(ptr, len) -> crc              returns the CRC itself
;;   crc32_table(ptr, len) -> crc                returns the CRC itself
;;   rgb_to_gray(src, dst, pixels) -> hash       hash of the pixels gray bytes at dst
;;   downscale2x(src, dst, width, height) -> hash   hash of (width/2)*(height/2) bytes at dst
;;   conv3x3(src, dst, width, height) -> hash    hash of width*height bytes at dst
;;   fir(src, dst, count) -> hash                hash of 2*count bytes at dst
;;   sort(ptr, count) -> hash                    hash of the 4*count sorted bytes
;;   fib(n) -> fib(n)                            returns the number itself (fib(27) = 196418)
;;   make_frames(ptr, len, seed) -> frames       frames written
;;   parse_frames(ptr, len) -> result            the parser's result
;;   pid(steps, seed) -> hash                    hash of the plant's output
;;   null()                                      does nothing (invocation round trip, 0 args)
;;   null4(a, b, c, d) -> a ^ b ^ c ^ d          invocation round trip, 4 args
;;   memory
;;
;; A benchmark run, e.g. for the transcoder over 320x240:
;;   fill(0x1000, 230400, 1); rgb_to_gray(0x1000, 0x39400, 76800)
;; and for the image kernels on the gray frame: downscale2x(0x39400, 0x1000, 320, 240),
;; conv3x3(0x39400, 0x1000, 320, 240).
;;
;; Run it:
;;   kplug run --local plugins/kernels.wat fib 27            # -> 196418
;;   kplug upload plugins/kernels.wat --memory 5 && kplug bench
(module
  (memory (export "memory") 5)

  ;; Fixed regions (see the header).
  (global $crc_table i32 (i32.const 0x00000))
  (global $fir_taps i32 (i32.const 0x00400))
  (global $fir_tap_count i32 (i32.const 16))

  ;; 256, 640, 1152, 1792, 2432, 3072, 3456, 3584, then the same mirrored: a symmetric low-pass
  ;; whose taps sum to 32768 (unity gain in Q15).
  (data (i32.const 0x00400)
    "\00\01\80\02\80\04\00\07\80\09\00\0c\80\0d\00\0e"
    "\00\0e\80\0d\00\0c\80\09\00\07\80\04\80\02\00\01")

  ;; Start function: the CRC-32 table.
  (func $build_crc_table
    (local $index i32)
    (local $value i32)
    (local $bit i32)
    (loop $entry
      (local.set $value (local.get $index))
      (local.set $bit (i32.const 8))
      (loop $shift
        (local.set $value
          (i32.xor
            (i32.shr_u (local.get $value) (i32.const 1))
            (i32.and
              (i32.const 0xEDB88320)
              (i32.sub (i32.const 0) (i32.and (local.get $value) (i32.const 1))))))
        (local.set $bit (i32.sub (local.get $bit) (i32.const 1)))
        (br_if $shift (local.get $bit)))
      (i32.store
        (i32.add (global.get $crc_table) (i32.shl (local.get $index) (i32.const 2)))
        (local.get $value))
      (local.set $index (i32.add (local.get $index) (i32.const 1)))
      (br_if $entry (i32.lt_u (local.get $index) (i32.const 256)))))
  (start $build_crc_table)

  ;; ---- helpers ----

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

  ;; Copies $len bytes from $src to $dst, forwards.
  (func $copy (param $src i32) (param $dst i32) (param $len i32)
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (loop $byte
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br_if $byte (local.get $len)))))

  ;; ---- CRC-32 ----

  (func (export "crc32_bitwise") (param $ptr i32) (param $len i32) (result i32)
    (local $crc i32)
    (local $end i32)
    (local $bit i32)
    (local.set $crc (i32.const -1))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (loop $byte
        (local.set $crc (i32.xor (local.get $crc) (i32.load8_u (local.get $ptr))))
        (local.set $bit (i32.const 8))
        (loop $shift
          (local.set $crc
            (i32.xor
              (i32.shr_u (local.get $crc) (i32.const 1))
              (i32.and
                (i32.const 0xEDB88320)
                (i32.sub (i32.const 0) (i32.and (local.get $crc) (i32.const 1))))))
          (local.set $bit (i32.sub (local.get $bit) (i32.const 1)))
          (br_if $shift (local.get $bit)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br_if $byte (i32.ne (local.get $ptr) (local.get $end)))))
    (i32.xor (local.get $crc) (i32.const -1)))

  (func (export "crc32_table") (param $ptr i32) (param $len i32) (result i32)
    (local $crc i32)
    (local $end i32)
    (local.set $crc (i32.const -1))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (loop $byte
        (local.set $crc
          (i32.xor
            (i32.load
              (i32.add
                (global.get $crc_table)
                (i32.shl
                  (i32.and
                    (i32.xor (local.get $crc) (i32.load8_u (local.get $ptr)))
                    (i32.const 0xFF))
                  (i32.const 2))))
            (i32.shr_u (local.get $crc) (i32.const 8))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br_if $byte (i32.ne (local.get $ptr) (local.get $end)))))
    (i32.xor (local.get $crc) (i32.const -1)))

  ;; ---- RGB -> gray ----

  (func (export "rgb_to_gray") (param $src i32) (param $dst i32) (param $pixels i32) (result i32)
    (local $out i32)
    (local $remaining i32)
    (local.set $out (local.get $dst))
    (local.set $remaining (local.get $pixels))
    (block $done
      (br_if $done (i32.eqz (local.get $remaining)))
      (loop $pixel
        (i32.store8
          (local.get $out)
          (i32.shr_u
            (i32.add
              (i32.add
                (i32.mul (i32.load8_u offset=0 (local.get $src)) (i32.const 77))
                (i32.mul (i32.load8_u offset=1 (local.get $src)) (i32.const 150)))
              (i32.mul (i32.load8_u offset=2 (local.get $src)) (i32.const 29)))
            (i32.const 8)))
        (local.set $src (i32.add (local.get $src) (i32.const 3)))
        (local.set $out (i32.add (local.get $out) (i32.const 1)))
        (local.set $remaining (i32.sub (local.get $remaining) (i32.const 1)))
        (br_if $pixel (local.get $remaining))))
    (call $checksum (local.get $dst) (local.get $pixels)))

  ;; ---- 2x downscale ----

  (func (export "downscale2x") (param $src i32) (param $dst i32) (param $width i32) (param $height i32) (result i32)
    (local $out_width i32)
    (local $out_height i32)
    (local $out i32)
    (local $row i32)
    (local $column i32)
    (local $top i32)
    (local $bottom i32)
    (local.set $out_width (i32.shr_u (local.get $width) (i32.const 1)))
    (local.set $out_height (i32.shr_u (local.get $height) (i32.const 1)))
    (local.set $out (local.get $dst))
    (block $rows_done
      (br_if $rows_done (i32.or (i32.eqz (local.get $out_width)) (i32.eqz (local.get $out_height))))
      (loop $next_row
        (local.set $top
          (i32.add (local.get $src) (i32.mul (i32.shl (local.get $row) (i32.const 1)) (local.get $width))))
        (local.set $bottom (i32.add (local.get $top) (local.get $width)))
        (local.set $column (local.get $out_width))
        (loop $next_column
          (i32.store8
            (local.get $out)
            (i32.shr_u
              (i32.add
                (i32.add
                  (i32.add (i32.load8_u offset=0 (local.get $top)) (i32.load8_u offset=1 (local.get $top)))
                  (i32.add (i32.load8_u offset=0 (local.get $bottom)) (i32.load8_u offset=1 (local.get $bottom))))
                (i32.const 2))
              (i32.const 2)))
          (local.set $top (i32.add (local.get $top) (i32.const 2)))
          (local.set $bottom (i32.add (local.get $bottom) (i32.const 2)))
          (local.set $out (i32.add (local.get $out) (i32.const 1)))
          (local.set $column (i32.sub (local.get $column) (i32.const 1)))
          (br_if $next_column (local.get $column)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br_if $next_row (i32.lt_u (local.get $row) (local.get $out_height)))))
    (call $checksum (local.get $dst) (i32.mul (local.get $out_width) (local.get $out_height))))

  ;; ---- 3x3 convolution ----

  (func (export "conv3x3") (param $src i32) (param $dst i32) (param $width i32) (param $height i32) (result i32)
    (local $row i32)
    (local $row_start i32)
    (local $above i32)
    (local $here i32)
    (local $below i32)
    (local $out i32)
    (local $column i32)
    (block $convolved
      (if (i32.or (i32.lt_u (local.get $width) (i32.const 3)) (i32.lt_u (local.get $height) (i32.const 3)))
        (then
          (call $copy (local.get $src) (local.get $dst) (i32.mul (local.get $width) (local.get $height)))
          (br $convolved)))
      ;; First and last rows are copied.
      (call $copy (local.get $src) (local.get $dst) (local.get $width))
      (local.set $row_start
        (i32.mul (i32.sub (local.get $height) (i32.const 1)) (local.get $width)))
      (call $copy
        (i32.add (local.get $src) (local.get $row_start))
        (i32.add (local.get $dst) (local.get $row_start))
        (local.get $width))
      (local.set $row (i32.const 1))
      (loop $next_row
        (local.set $row_start (i32.mul (local.get $row) (local.get $width)))
        ;; First and last columns are copied.
        (i32.store8
          (i32.add (local.get $dst) (local.get $row_start))
          (i32.load8_u (i32.add (local.get $src) (local.get $row_start))))
        (i32.store8
          (i32.add (i32.add (local.get $dst) (local.get $row_start)) (i32.sub (local.get $width) (i32.const 1)))
          (i32.load8_u
            (i32.add (i32.add (local.get $src) (local.get $row_start)) (i32.sub (local.get $width) (i32.const 1)))))
        ;; $above/$here/$below point at the pixel left of the current one, in each row.
        (local.set $here (i32.add (local.get $src) (local.get $row_start)))
        (local.set $above (i32.sub (local.get $here) (local.get $width)))
        (local.set $below (i32.add (local.get $here) (local.get $width)))
        (local.set $out (i32.add (i32.add (local.get $dst) (local.get $row_start)) (i32.const 1)))
        (local.set $column (i32.sub (local.get $width) (i32.const 2)))
        (loop $next_column
          (i32.store8
            (local.get $out)
            (i32.shr_u
              (i32.add
                (i32.add
                  (i32.add
                    (i32.add
                      (i32.load8_u offset=0 (local.get $above))
                      (i32.shl (i32.load8_u offset=1 (local.get $above)) (i32.const 1)))
                    (i32.load8_u offset=2 (local.get $above)))
                  (i32.add
                    (i32.add
                      (i32.shl (i32.load8_u offset=0 (local.get $here)) (i32.const 1))
                      (i32.shl (i32.load8_u offset=1 (local.get $here)) (i32.const 2)))
                    (i32.shl (i32.load8_u offset=2 (local.get $here)) (i32.const 1))))
                (i32.add
                  (i32.add
                    (i32.add
                      (i32.load8_u offset=0 (local.get $below))
                      (i32.shl (i32.load8_u offset=1 (local.get $below)) (i32.const 1)))
                    (i32.load8_u offset=2 (local.get $below)))
                  (i32.const 8)))
              (i32.const 4)))
          (local.set $above (i32.add (local.get $above) (i32.const 1)))
          (local.set $here (i32.add (local.get $here) (i32.const 1)))
          (local.set $below (i32.add (local.get $below) (i32.const 1)))
          (local.set $out (i32.add (local.get $out) (i32.const 1)))
          (local.set $column (i32.sub (local.get $column) (i32.const 1)))
          (br_if $next_column (local.get $column)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br_if $next_row (i32.lt_u (local.get $row) (i32.sub (local.get $height) (i32.const 1))))))
    (call $checksum (local.get $dst) (i32.mul (local.get $width) (local.get $height))))

  ;; ---- FIR filter ----

  (func (export "fir") (param $src i32) (param $dst i32) (param $count i32) (result i32)
    (local $index i32)
    (local $taps i32)
    (local $tap i32)
    (local $sample i32)
    (local $sum i32)
    (block $done
      (br_if $done (i32.eqz (local.get $count)))
      (loop $next_output
        (local.set $sum (i32.const 0))
        (local.set $tap (global.get $fir_taps))
        (local.set $sample (i32.add (local.get $src) (i32.shl (local.get $index) (i32.const 1))))
        ;; min(index + 1, 16) taps reach back into the input.
        (local.set $taps
          (select
            (i32.add (local.get $index) (i32.const 1))
            (global.get $fir_tap_count)
            (i32.lt_u (local.get $index) (global.get $fir_tap_count))))
        (loop $next_tap
          (local.set $sum
            (i32.add
              (local.get $sum)
              (i32.mul (i32.load16_s (local.get $tap)) (i32.load16_s (local.get $sample)))))
          (local.set $tap (i32.add (local.get $tap) (i32.const 2)))
          (local.set $sample (i32.sub (local.get $sample) (i32.const 2)))
          (local.set $taps (i32.sub (local.get $taps) (i32.const 1)))
          (br_if $next_tap (local.get $taps)))
        (i32.store16
          (i32.add (local.get $dst) (i32.shl (local.get $index) (i32.const 1)))
          (i32.shr_s (local.get $sum) (i32.const 15)))
        (local.set $index (i32.add (local.get $index) (i32.const 1)))
        (br_if $next_output (i32.lt_u (local.get $index) (local.get $count)))))
    (call $checksum (local.get $dst) (i32.shl (local.get $count) (i32.const 1))))

  ;; ---- heapsort ----

  ;; Sifts element $root down the max-heap of $end elements at $base.
  (func $sift_down (param $base i32) (param $root i32) (param $end i32)
    (local $child i32)
    (local $root_address i32)
    (local $child_address i32)
    (local $root_value i32)
    (local $child_value i32)
    (block $settled
      (loop $level
        (local.set $child (i32.add (i32.shl (local.get $root) (i32.const 1)) (i32.const 1)))
        (br_if $settled (i32.ge_u (local.get $child) (local.get $end)))
        (local.set $child_address
          (i32.add (local.get $base) (i32.shl (local.get $child) (i32.const 2))))
        (local.set $child_value (i32.load (local.get $child_address)))
        ;; Take the larger child.
        (if (i32.lt_u (i32.add (local.get $child) (i32.const 1)) (local.get $end))
          (then
            (if (i32.lt_s (local.get $child_value) (i32.load offset=4 (local.get $child_address)))
              (then
                (local.set $child (i32.add (local.get $child) (i32.const 1)))
                (local.set $child_address (i32.add (local.get $child_address) (i32.const 4)))
                (local.set $child_value (i32.load (local.get $child_address)))))))
        (local.set $root_address
          (i32.add (local.get $base) (i32.shl (local.get $root) (i32.const 2))))
        (local.set $root_value (i32.load (local.get $root_address)))
        (br_if $settled (i32.ge_s (local.get $root_value) (local.get $child_value)))
        (i32.store (local.get $root_address) (local.get $child_value))
        (i32.store (local.get $child_address) (local.get $root_value))
        (local.set $root (local.get $child))
        (br $level))))

  (func (export "sort") (param $ptr i32) (param $count i32) (result i32)
    (local $index i32)
    (local $last_address i32)
    (local $first i32)
    (block $sorted
      (br_if $sorted (i32.lt_u (local.get $count) (i32.const 2)))
      ;; Build the heap.
      (local.set $index (i32.shr_u (local.get $count) (i32.const 1)))
      (loop $heapify
        (local.set $index (i32.sub (local.get $index) (i32.const 1)))
        (call $sift_down (local.get $ptr) (local.get $index) (local.get $count))
        (br_if $heapify (local.get $index)))
      ;; Move the maximum to the end, shrink the heap.
      (local.set $index (i32.sub (local.get $count) (i32.const 1)))
      (loop $extract
        (local.set $last_address
          (i32.add (local.get $ptr) (i32.shl (local.get $index) (i32.const 2))))
        (local.set $first (i32.load (local.get $ptr)))
        (i32.store (local.get $ptr) (i32.load (local.get $last_address)))
        (i32.store (local.get $last_address) (local.get $first))
        (call $sift_down (local.get $ptr) (i32.const 0) (local.get $index))
        (local.set $index (i32.sub (local.get $index) (i32.const 1)))
        (br_if $extract (local.get $index))))
    (call $checksum (local.get $ptr) (i32.shl (local.get $count) (i32.const 2))))

  ;; ---- fib ----

  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; ---- a protocol receiver (a state machine shaped like a real plugin's) ----

  (func $next (param $state i32) (result i32)
    (i32.add (i32.mul (local.get $state) (i32.const 1664525)) (i32.const 1013904223)))

  (func (export "make_frames") (param $ptr i32) (param $len i32) (param $seed i32) (result i32)
    (local $end i32)
    (local $r i32)
    (local $type i32)
    (local $length i32)
    (local $check i32)
    (local $need i32)
    (local $frames i32)
    (local $byte i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $full
      (loop $frame
        (local.set $seed (call $next (local.get $seed)))
        (local.set $r (local.get $seed))
        (local.set $type (i32.and (i32.shr_u (local.get $r) (i32.const 8)) (i32.const 7)))
        (local.set $length (i32.and (i32.shr_u (local.get $r) (i32.const 12)) (i32.const 15)))
        ;; sync, type, length, payload, check, and the noise byte if any
        (local.set $need
          (i32.add
            (i32.add (local.get $length) (i32.const 4))
            (i32.eqz (i32.and (i32.shr_u (local.get $r) (i32.const 19)) (i32.const 3)))))
        (br_if $full
          (i32.gt_u (local.get $need) (i32.sub (local.get $end) (local.get $ptr))))
        (if (i32.eqz (i32.and (i32.shr_u (local.get $r) (i32.const 19)) (i32.const 3)))
          (then
            (i32.store8 (local.get $ptr) (i32.shr_u (local.get $r) (i32.const 24)))
            (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))))
        (i32.store8 (local.get $ptr) (i32.const 0x7E))
        (i32.store8 offset=1 (local.get $ptr) (local.get $type))
        (i32.store8 offset=2 (local.get $ptr) (local.get $length))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 3)))
        (local.set $check (i32.xor (local.get $type) (local.get $length)))
        (block $payload_done
          (br_if $payload_done (i32.eqz (local.get $length)))
          (loop $payload
            (local.set $seed (call $next (local.get $seed)))
            (local.set $byte (i32.shr_u (local.get $seed) (i32.const 24)))
            (i32.store8 (local.get $ptr) (local.get $byte))
            (local.set $check (i32.xor (local.get $check) (local.get $byte)))
            (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
            (local.set $length (i32.sub (local.get $length) (i32.const 1)))
            (br_if $payload (local.get $length))))
        (if (i32.eqz (i32.and (i32.shr_u (local.get $r) (i32.const 16)) (i32.const 7)))
          (then (local.set $check (i32.xor (local.get $check) (i32.const 0x55)))))
        (i32.store8 (local.get $ptr) (local.get $check))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (local.set $frames (i32.add (local.get $frames) (i32.const 1)))
        (br $frame)))
    (block $zeroed
      (loop $zero
        (br_if $zeroed (i32.ge_u (local.get $ptr) (local.get $end)))
        (i32.store8 (local.get $ptr) (i32.const 0))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $zero)))
    (local.get $frames))

  (func (export "parse_frames") (param $ptr i32) (param $len i32) (result i32)
    (local $end i32)
    (local $byte i32)
    (local $state i32)
    (local $type i32)
    (local $length i32)
    (local $remaining i32)
    (local $check i32)
    (local $sum i32)
    (local $errors i32)
    (local $a0 i32)
    (local $a1 i32)
    (local $a2 i32)
    (local $a3 i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (loop $next_byte
        (local.set $byte (i32.load8_u (local.get $ptr)))
        (block $consumed
          (block $on_check
            (block $on_payload
              (block $on_length
                (block $on_type
                  (block $on_hunt
                    (br_table $on_hunt $on_type $on_length $on_payload $on_check
                      (local.get $state)))
                  ;; HUNT
                  (if (i32.eq (local.get $byte) (i32.const 0x7E))
                    (then (local.set $state (i32.const 1))))
                  (br $consumed))
                ;; TYPE
                (local.set $type (local.get $byte))
                (local.set $check (local.get $byte))
                (local.set $state (i32.const 2))
                (br $consumed))
              ;; LENGTH
              (if (i32.gt_u (local.get $byte) (i32.const 15))
                (then
                  (local.set $errors (i32.add (local.get $errors) (i32.const 1)))
                  (local.set $state (i32.const 0))
                  (br $consumed)))
              (local.set $length (local.get $byte))
              (local.set $remaining (local.get $byte))
              (local.set $check (i32.xor (local.get $check) (local.get $byte)))
              (local.set $sum (i32.const 0))
              (local.set $state (select (i32.const 3) (i32.const 4) (local.get $byte)))
              (br $consumed))
            ;; PAYLOAD
            (local.set $check (i32.xor (local.get $check) (local.get $byte)))
            (local.set $sum (i32.add (local.get $sum) (local.get $byte)))
            (local.set $remaining (i32.sub (local.get $remaining) (i32.const 1)))
            (if (i32.eqz (local.get $remaining))
              (then (local.set $state (i32.const 4))))
            (br $consumed))
          ;; CHECK
          (local.set $state (i32.const 0))
          (if (i32.ne (local.get $byte) (local.get $check))
            (then
              (local.set $errors (i32.add (local.get $errors) (i32.const 1)))
              (br $consumed)))
          (block $handled
            (block $t7
              (block $t6
                (block $t5
                  (block $t4
                    (block $t3
                      (block $t2
                        (block $t1
                          (block $t0
                            (br_table $t0 $t1 $t2 $t3 $t4 $t5 $t6 $t7
                              (i32.and (local.get $type) (i32.const 7))))
                          (local.set $a0 (i32.add (local.get $a0) (i32.const 1)))
                          (br $handled))
                        (local.set $a1 (i32.add (local.get $a1) (local.get $sum)))
                        (br $handled))
                      (local.set $a2
                        (i32.xor (local.get $a2) (i32.shl (local.get $sum) (local.get $length))))
                      (br $handled))
                    (local.set $a3
                      (i32.add (i32.mul (local.get $a3) (i32.const 31)) (local.get $length)))
                    (br $handled))
                  (local.set $a0
                    (i32.add (local.get $a0) (i32.mul (local.get $sum) (i32.const 3))))
                  (br $handled))
                (local.set $a1 (i32.xor (local.get $a1) (local.get $length)))
                (br $handled))
              (local.set $a2 (i32.add (local.get $a2) (i32.const 1)))
              (br $handled))
            (local.set $a3 (i32.xor (local.get $a3) (local.get $sum)))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br_if $next_byte (i32.ne (local.get $ptr) (local.get $end)))))
    (i32.xor
      (i32.add
        (i32.mul
          (i32.add
            (i32.mul
              (i32.add (i32.mul (local.get $a0) (i32.const 31)) (local.get $a1))
              (i32.const 31))
            (local.get $a2))
          (i32.const 31))
        (local.get $a3))
      (local.get $errors)))

  ;; ---- a fixed-point PID loop ----

  (func (export "pid") (param $steps i32) (param $seed i32) (result i32)
    (local $step i32)
    (local $setpoint i32)
    (local $y i32)
    (local $error i32)
    (local $previous i32)
    (local $integral i32)
    (local $u i32)
    (local $hash i32)
    (local.set $hash (i32.const 0x811C9DC5))
    (block $done
      (br_if $done (i32.eqz (local.get $steps)))
      (loop $control
        (if (i32.eqz (i32.and (local.get $step) (i32.const 255)))
          (then
            (local.set $seed (call $next (local.get $seed)))
            (local.set $setpoint
              (i32.and (i32.shr_u (local.get $seed) (i32.const 12)) (i32.const 0xFFFFF)))))
        (local.set $error (i32.sub (local.get $setpoint) (local.get $y)))
        (local.set $integral (i32.add (local.get $integral) (local.get $error)))
        (if (i32.gt_s (local.get $integral) (i32.const 0x400000))
          (then (local.set $integral (i32.const 0x400000))))
        (if (i32.lt_s (local.get $integral) (i32.const -0x400000))
          (then (local.set $integral (i32.const -0x400000))))
        (local.set $u
          (i32.add
            (i32.add
              (i32.shr_s (i32.mul (local.get $error) (i32.const 128)) (i32.const 8))
              (i32.shr_s (i32.mul (local.get $integral) (i32.const 8)) (i32.const 8)))
            (i32.shr_s
              (i32.mul (i32.sub (local.get $error) (local.get $previous)) (i32.const 64))
              (i32.const 8))))
        (local.set $previous (local.get $error))
        (if (i32.gt_s (local.get $u) (i32.const 0x200000))
          (then (local.set $u (i32.const 0x200000))))
        (if (i32.lt_s (local.get $u) (i32.const -0x200000))
          (then (local.set $u (i32.const -0x200000))))
        (local.set $y
          (i32.add (local.get $y)
            (i32.shr_s (i32.sub (local.get $u) (local.get $y)) (i32.const 3))))
        (local.set $hash
          (i32.mul (i32.xor (local.get $hash) (local.get $y)) (i32.const 0x01000193)))
        (local.set $step (i32.add (local.get $step) (i32.const 1)))
        (br_if $control (i32.ne (local.get $step) (local.get $steps)))))
    (local.get $hash))

  ;; ---- invocation round trips ----

  (func (export "null"))
  (func (export "null4") (param $a i32) (param $b i32) (param $c i32) (param $d i32) (result i32)
    (i32.xor (i32.xor (local.get $a) (local.get $b)) (i32.xor (local.get $c) (local.get $d))))
)
