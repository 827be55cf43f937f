;; hostile/grow.wat: memory.grow beyond the limit (fault suite, issue 4).
;;
;; The memory starts at 1 page and declares a maximum of 2. Growing past the maximum (or past the
;; plugin's `--memory` limit, whichever is lower; the firmware default, 4 pages, is higher) must
;; return -1 and leave the memory exactly as it was: same size, same contents. It is not a trap.
;;
;; Memory: min 1, max 2 pages, exported as "memory". Data: "SENTINEL" at 0x0000 and at 0xFFF8
;; (the last 8 bytes of the first page).
;;
;; Exports (all values i32):
;;   size() -> pages                  memory.size
;;   grow(pages) -> old size or -1    memory.grow
;;   grow_beyond_limit() -> -1        memory.grow 2 from 1 page (3 > max 2)
;;   grow_huge() -> -1                memory.grow 65536 (4 GiB)
;;   grow_all_ones() -> -1            memory.grow 0xFFFFFFFF
;;   check_intact() -> 1              1 when both sentinels are intact, else 0
;;   read_page2_last() -> byte        i32.load8_u at 131071: traps "out of bounds memory access"
;;                                    until the memory has grown to 2 pages, then 0
;;
;; Run it:
;;   kplug run --local plugins/hostile/grow.wat grow_beyond_limit     # -> -1
;;   kplug upload plugins/hostile/grow.wat && kplug invoke grow grow_huge && kplug invoke grow check_intact
(module
  (memory (export "memory") 1 2)

  (data (i32.const 0x0000) "SENTINEL")
  (data (i32.const 0xFFF8) "SENTINEL")

  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
  (func (export "grow_beyond_limit") (result i32) (memory.grow (i32.const 2)))
  (func (export "grow_huge") (result i32) (memory.grow (i32.const 0x10000)))
  (func (export "grow_all_ones") (result i32) (memory.grow (i32.const -1)))

  ;; "SENT" and "INEL" as little-endian i32.
  (func $sentinel_at (param $addr i32) (result i32)
    (i32.and
      (i32.eq (i32.load offset=0 (local.get $addr)) (i32.const 0x544E4553))
      (i32.eq (i32.load offset=4 (local.get $addr)) (i32.const 0x4C454E49))))
  (func (export "check_intact") (result i32)
    (i32.and
      (call $sentinel_at (i32.const 0x0000))
      (call $sentinel_at (i32.const 0xFFF8))))

  (func (export "read_page2_last") (result i32) (i32.load8_u (i32.const 131071)))
)
