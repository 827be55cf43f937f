;; crc32.wat: CRC-32 (ISO-HDLC, the zlib/Ethernet CRC: reflected polynomial 0xEDB88320, initial
;; value and final XOR 0xFFFFFFFF) over bytes in the plugin's linear memory.
;;
;; Two implementations that must agree: a table-driven one (the 256-entry table is computed by the
;; start function, so this plugin also exercises `start`) and a bitwise one. The check value,
;; the CRC of the ASCII bytes "123456789", is 0xCBF43926 (i32 -873187034).
;;
;; Memory: 1 page (64 KiB), exported as "memory". Layout:
;;   0x0000  CRC table, 256 little-endian i32 (written by the start function)
;;   0x0400  "123456789" (a data segment)
;;   0x1000  free for buffers (up to 0x10000)
;;
;; Exports (all values i32):
;;   crc32(ptr, len) -> crc                 table-driven CRC-32 of len bytes at ptr
;;   crc32_bitwise(ptr, len) -> crc         the same, bit by bit
;;   crc32_update(crc, ptr, len) -> crc     continues a CRC (like zlib's crc32(crc, buf, len)):
;;                                          crc32(p, a+b) == crc32_update(crc32(p, a), p+a, b)
;;   check() -> crc                         crc32 of "123456789": 0xCBF43926
;;   check_bitwise() -> crc                 crc32_bitwise of "123456789": 0xCBF43926
;;   fill(ptr, len, seed) -> len            writes len pattern bytes: state = seed; per byte:
;;                                          state = state*1664525 + 1013904223 (wrapping),
;;                                          byte = state >> 24 (unsigned)
;;   memory
;;
;; Imports: none.
;;
;; Run it:
;;   kplug run --local plugins/crc32.wat check          # -> -873187034 (0xCBF43926)
;;   kplug upload plugins/crc32.wat
;;   kplug invoke crc32 fill 4096 1024 7
;;   kplug invoke crc32 crc32 4096 1024
(module
  (memory (export "memory") 1)

  ;; Where the table lives.
  (global $table i32 (i32.const 0x0000))
  ;; Where the check string lives, and its length.
  (global $check_string i32 (i32.const 0x0400))
  (global $check_length i32 (i32.const 9))

  (data (i32.const 0x0400) "123456789")

  ;; Start function: table[n] = the CRC register after 8 shifts of n.
  (func $build_table
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
        (i32.add (global.get $table) (i32.shl (local.get $index) (i32.const 2)))
        (local.get $value))
      (local.set $index (i32.add (local.get $index) (i32.const 1)))
      (br_if $entry (i32.lt_u (local.get $index) (i32.const 256)))))
  (start $build_table)

  ;; Continues the finalised CRC $crc over $len bytes at $ptr (table-driven).
  (func $crc32_update (export "crc32_update") (param $crc i32) (param $ptr i32) (param $len i32) (result i32)
    (local $end i32)
    (local.set $crc (i32.xor (local.get $crc) (i32.const -1)))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (loop $byte
        (local.set $crc
          (i32.xor
            (i32.load
              (i32.add
                (global.get $table)
                (i32.shl
                  (i32.and
                    (i32.xor (local.get $crc) (i32.load8_u (local.get $ptr)))
                    (i32.const 0xFF))
                  (i32.const 2))))
            (i32.shr_u (local.get $crc) (i32.const 8))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br_if $byte (i32.ne (local.get $ptr) (local.get $end)))))
    (i32.xor (local.get $crc) (i32.const -1)))

  ;; Table-driven CRC-32 of $len bytes at $ptr.
  (func $crc32 (export "crc32") (param $ptr i32) (param $len i32) (result i32)
    (call $crc32_update (i32.const 0) (local.get $ptr) (local.get $len)))

  ;; Bitwise CRC-32 of $len bytes at $ptr.
  (func $crc32_bitwise (export "crc32_bitwise") (param $ptr i32) (param $len i32) (result i32)
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

  ;; The CRC of "123456789": 0xCBF43926.
  (func (export "check") (result i32)
    (call $crc32 (global.get $check_string) (global.get $check_length)))

  ;; The bitwise CRC of "123456789": 0xCBF43926.
  (func (export "check_bitwise") (result i32)
    (call $crc32_bitwise (global.get $check_string) (global.get $check_length)))

  ;; Writes $len pattern bytes at $ptr. Returns $len.
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
)
