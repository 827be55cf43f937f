;; grayscale.wat: the paper's sample plugin, a 24-bit RGB -> 8-bit grayscale image transcoder.
;;
;; It works on frames held in its own linear memory: RGB pixels are 3 bytes (R, G, B), gray
;; pixels 1 byte, and gray = (77*R + 150*G + 29*B) >> 8 (integer BT.601 luma weights that sum
;; to 256, so white stays 255). This is the transcoder of "Kernel Plugins: When A VM Is Too
;; Much" (Ganev et al., VM'04), which the benchmarks of issue 5 time against the paper.
;;
;; Memory: 2 pages (128 KiB), exported as "memory". The suggested layout, used by `demo`:
;;   0x00000  RGB frame (up to 65536 bytes: a 160x120 frame is 57600 bytes)
;;   0x10000  gray frame (a 160x120 frame is 19200 bytes)
;; Larger frames: grow the memory (`--memory` sets the plugin's page limit).
;;
;; Exports (all values i32):
;;   transcode(src, dst, pixels) -> pixels   RGB at src -> gray at dst; dst may equal src
;;   fill_frame(ptr, pixels, seed) -> bytes  writes a deterministic test frame of 3*pixels bytes:
;;                                           state = seed; per byte: state = state*1664525 +
;;                                           1013904223 (wrapping), byte = state >> 24 (unsigned)
;;   checksum(ptr, len) -> hash              32-bit FNV-1a of len bytes (basis 0x811C9DC5,
;;                                           prime 0x01000193), to check output without reading
;;                                           memory
;;   demo(pixels, seed) -> hash              fill_frame at 0, transcode to 0x10000, checksum of
;;                                           the gray frame
;;   send_gray(src, dst, pixels) -> bytes    transcode, then emit the gray frame to the host
;;   send_raw(src, pixels) -> bytes          emit the raw RGB frame to the host (the baseline of
;;                                           the paper's macro scenario)
;;   memory
;;
;; Imports: env.emit(ptr, len) (used only by send_gray and send_raw).
;;
;; Run it:
;;   kplug run --local plugins/grayscale.wat demo 19200 1
;;   kplug upload plugins/grayscale.wat --budget-us 500
;;   kplug invoke grayscale fill_frame 0 19200 1
;;   kplug invoke grayscale transcode 0 65536 19200
;;   kplug invoke grayscale checksum 65536 19200
(module
  (import "env" "emit" (func $emit (param i32 i32)))

  (memory (export "memory") 2)

  ;; The suggested frame layout (see the header).
  (global $demo_src i32 (i32.const 0x00000))
  (global $demo_dst i32 (i32.const 0x10000))

  ;; RGB at $src -> gray at $dst, $pixels pixels. Returns $pixels.
  (func $transcode (export "transcode") (param $src i32) (param $dst i32) (param $pixels i32) (result i32)
    (local $remaining i32)
    (local.set $remaining (local.get $pixels))
    (block $done
      (br_if $done (i32.eqz (local.get $remaining)))
      (loop $pixel
        (i32.store8
          (local.get $dst)
          (i32.shr_u
            (i32.add
              (i32.add
                (i32.mul (i32.load8_u offset=0 (local.get $src)) (i32.const 77))
                (i32.mul (i32.load8_u offset=1 (local.get $src)) (i32.const 150)))
              (i32.mul (i32.load8_u offset=2 (local.get $src)) (i32.const 29)))
            (i32.const 8)))
        (local.set $src (i32.add (local.get $src) (i32.const 3)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $remaining (i32.sub (local.get $remaining) (i32.const 1)))
        (br_if $pixel (local.get $remaining))))
    (local.get $pixels))

  ;; Writes 3*$pixels bytes of the deterministic test frame at $ptr. Returns the byte count.
  (func $fill_frame (export "fill_frame") (param $ptr i32) (param $pixels i32) (param $seed i32) (result i32)
    (local $bytes i32)
    (local $end i32)
    (local $state i32)
    (local.set $bytes (i32.mul (local.get $pixels) (i32.const 3)))
    (local.set $end (i32.add (local.get $ptr) (local.get $bytes)))
    (local.set $state (local.get $seed))
    (block $done
      (br_if $done (i32.eqz (local.get $bytes)))
      (loop $byte
        (local.set $state
          (i32.add (i32.mul (local.get $state) (i32.const 1664525)) (i32.const 1013904223)))
        (i32.store8 (local.get $ptr) (i32.shr_u (local.get $state) (i32.const 24)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br_if $byte (i32.ne (local.get $ptr) (local.get $end)))))
    (local.get $bytes))

  ;; 32-bit FNV-1a over $len bytes at $ptr.
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

  ;; One-call demo: test frame at 0x00000, gray frame at 0x10000, returns the gray checksum.
  (func (export "demo") (param $pixels i32) (param $seed i32) (result i32)
    (drop (call $fill_frame (global.get $demo_src) (local.get $pixels) (local.get $seed)))
    (drop (call $transcode (global.get $demo_src) (global.get $demo_dst) (local.get $pixels)))
    (call $checksum (global.get $demo_dst) (local.get $pixels)))

  ;; Transcodes and sends the gray frame to the host. Returns the bytes sent.
  (func (export "send_gray") (param $src i32) (param $dst i32) (param $pixels i32) (result i32)
    (drop (call $transcode (local.get $src) (local.get $dst) (local.get $pixels)))
    (call $emit (local.get $dst) (local.get $pixels))
    (local.get $pixels))

  ;; Sends the raw RGB frame to the host. Returns the bytes sent.
  (func (export "send_raw") (param $src i32) (param $pixels i32) (result i32)
    (local $bytes i32)
    (local.set $bytes (i32.mul (local.get $pixels) (i32.const 3)))
    (call $emit (local.get $src) (local.get $bytes))
    (local.get $bytes))
)
