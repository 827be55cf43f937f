;; Linear memory loads and stores at every i32 width: load, load8_s/u, load16_s/u, store,
;; store8, store16.
;;
;; Covers sign and zero extension, little-endian byte order, unaligned accesses (with and
;; without alignment hints), the last byte of memory, accesses one byte out of bounds at each
;; width, static offsets, and addr + offset sums that carry past 4 GiB (on i386 they wrap to a
;; small in-bounds address: a JIT must catch the carry). A store that is out of bounds writes
;; nothing, not even its in-bounds bytes.

(module
  (memory 1)
  (data (i32.const 0) "\01\02\03\04\05\06\07\08\80\90\a0\b0\c0\d0\e0\f0")
  (data (i32.const 65532) "\fc\fd\fe\ff")

  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
  (func (export "load8_u") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load16_s") (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (export "load16_u") (param i32) (result i32) (i32.load16_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "store16") (param i32 i32) (i32.store16 (local.get 0) (local.get 1)))

  ;; Alignment hints below the natural alignment are legal and change nothing.
  (func (export "load_align1") (param i32) (result i32) (i32.load align=1 (local.get 0)))
  (func (export "load16_u_align1") (param i32) (result i32) (i32.load16_u align=1 (local.get 0)))
  (func (export "store_align2") (param i32 i32) (i32.store align=2 (local.get 0) (local.get 1)))

  ;; Static offsets.
  (func (export "load_offset_4") (param i32) (result i32) (i32.load offset=4 (local.get 0)))
  (func (export "load8_u_offset_8") (param i32) (result i32) (i32.load8_u offset=8 (local.get 0)))
  (func (export "load16_s_offset_1") (param i32) (result i32) (i32.load16_s offset=1 (local.get 0)))
  (func (export "load8_u_offset_65535") (param i32) (result i32) (i32.load8_u offset=65535 (local.get 0)))
  (func (export "load_offset_65532") (param i32) (result i32) (i32.load offset=65532 (local.get 0)))
  (func (export "store_offset_4") (param i32 i32) (i32.store offset=4 (local.get 0) (local.get 1)))

  ;; Offsets that make addr + offset carry past 4 GiB for small addresses.
  (func (export "load_offset_max") (param i32) (result i32) (i32.load offset=4294967295 (local.get 0)))
  (func (export "load8_u_offset_max") (param i32) (result i32) (i32.load8_u offset=4294967295 (local.get 0)))
  (func (export "load16_s_offset_max") (param i32) (result i32) (i32.load16_s offset=4294967295 (local.get 0)))
  (func (export "load_offset_minus_4") (param i32) (result i32) (i32.load offset=4294967292 (local.get 0)))
  (func (export "store8_offset_max") (param i32 i32) (i32.store8 offset=4294967295 (local.get 0) (local.get 1)))
  (func (export "store_offset_minus_4") (param i32 i32) (i32.store offset=4294967292 (local.get 0) (local.get 1)))

  ;; Constant addresses.
  (func (export "load_const_last") (result i32) (i32.load (i32.const 65532)))
  (func (export "load_const_past") (result i32) (i32.load (i32.const 65533)))
  (func (export "load8_const_past") (result i32) (i32.load8_u (i32.const 65536)))

  ;; Address computed from an index: base + 4 * index.
  (func (export "load_indexed") (param $index i32) (result i32)
    (i32.load (i32.add (i32.const 0) (i32.shl (local.get $index) (i32.const 2)))))
)

;; Little-endian, sign and zero extension.
(assert_return (invoke "load" (i32.const 0)) (i32.const 0x04030201))
(assert_return (invoke "load" (i32.const 8)) (i32.const 0xb0a09080))
(assert_return (invoke "load" (i32.const 12)) (i32.const 0xf0e0d0c0))
(assert_return (invoke "load8_s" (i32.const 0)) (i32.const 1))
(assert_return (invoke "load8_u" (i32.const 0)) (i32.const 1))
(assert_return (invoke "load8_s" (i32.const 8)) (i32.const -128))
(assert_return (invoke "load8_u" (i32.const 8)) (i32.const 128))
(assert_return (invoke "load8_s" (i32.const 15)) (i32.const -16))
(assert_return (invoke "load8_u" (i32.const 15)) (i32.const 240))
(assert_return (invoke "load16_s" (i32.const 0)) (i32.const 0x0201))
(assert_return (invoke "load16_u" (i32.const 0)) (i32.const 0x0201))
(assert_return (invoke "load16_s" (i32.const 8)) (i32.const -28544))
(assert_return (invoke "load16_u" (i32.const 8)) (i32.const 0x9080))
(assert_return (invoke "load16_s" (i32.const 14)) (i32.const -3872))
(assert_return (invoke "load16_u" (i32.const 14)) (i32.const 0xf0e0))

;; Unaligned.
(assert_return (invoke "load" (i32.const 1)) (i32.const 0x05040302))
(assert_return (invoke "load" (i32.const 3)) (i32.const 0x07060504))
(assert_return (invoke "load" (i32.const 6)) (i32.const 0x90800807))
(assert_return (invoke "load16_s" (i32.const 7)) (i32.const -32760))
(assert_return (invoke "load16_u" (i32.const 7)) (i32.const 0x8008))
(assert_return (invoke "load_align1" (i32.const 5)) (i32.const 0x80080706))
(assert_return (invoke "load16_u_align1" (i32.const 9)) (i32.const 0xa090))

;; Memory beyond the data segments is zero.
(assert_return (invoke "load" (i32.const 16)) (i32.const 0))
(assert_return (invoke "load" (i32.const 32768)) (i32.const 0))
(assert_return (invoke "load" (i32.const 65528)) (i32.const 0))

;; The last bytes of memory.
(assert_return (invoke "load8_u" (i32.const 65535)) (i32.const 0xff))
(assert_return (invoke "load8_s" (i32.const 65535)) (i32.const -1))
(assert_return (invoke "load16_u" (i32.const 65534)) (i32.const 0xfffe))
(assert_return (invoke "load16_s" (i32.const 65534)) (i32.const -2))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0xfffefdfc))
(assert_return (invoke "load_const_last") (i32.const 0xfffefdfc))
(assert_return (invoke "load" (i32.const 65531)) (i32.const 0xfefdfc00))

;; One byte out of bounds, at each width.
(assert_trap (invoke "load8_u" (i32.const 65536)) "out of bounds memory access")
(assert_trap (invoke "load8_s" (i32.const 65536)) "out of bounds memory access")
(assert_trap (invoke "load16_u" (i32.const 65535)) "out of bounds memory access")
(assert_trap (invoke "load16_s" (i32.const 65535)) "out of bounds memory access")
(assert_trap (invoke "load" (i32.const 65533)) "out of bounds memory access")
(assert_trap (invoke "load" (i32.const 65534)) "out of bounds memory access")
(assert_trap (invoke "load" (i32.const 65535)) "out of bounds memory access")
(assert_trap (invoke "load" (i32.const 65536)) "out of bounds memory access")
(assert_trap (invoke "load_const_past") "out of bounds memory access")
(assert_trap (invoke "load8_const_past") "out of bounds memory access")
(assert_trap (invoke "store8" (i32.const 65536) (i32.const 0)) "out of bounds memory access")
(assert_trap (invoke "store16" (i32.const 65535) (i32.const 0)) "out of bounds memory access")
(assert_trap (invoke "store" (i32.const 65533) (i32.const 0)) "out of bounds memory access")
;; Far out of bounds, and "negative" addresses.
(assert_trap (invoke "load" (i32.const 0x7fffffff)) "out of bounds memory access")
(assert_trap (invoke "load" (i32.const 0x80000000)) "out of bounds memory access")
(assert_trap (invoke "load" (i32.const -1)) "out of bounds memory access")
(assert_trap (invoke "load" (i32.const -4)) "out of bounds memory access")
(assert_trap (invoke "load8_u" (i32.const -1)) "out of bounds memory access")
(assert_trap (invoke "load16_s" (i32.const -2)) "out of bounds memory access")
(assert_trap (invoke "store" (i32.const -4) (i32.const 0)) "out of bounds memory access")
(assert_trap (invoke "store8" (i32.const -1) (i32.const 0)) "out of bounds memory access")
;; The trapping stores wrote nothing, even the bytes that were in bounds.
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0xfffefdfc))
(assert_return (invoke "load" (i32.const 0)) (i32.const 0x04030201))

;; Static offsets.
(assert_return (invoke "load_offset_4" (i32.const 0)) (i32.const 0x08070605))
(assert_return (invoke "load_offset_4" (i32.const 4)) (i32.const 0xb0a09080))
(assert_return (invoke "load8_u_offset_8" (i32.const 1)) (i32.const 0x90))
(assert_return (invoke "load16_s_offset_1" (i32.const 7)) (i32.const 0xffff9080))
(assert_return (invoke "load16_s_offset_1" (i32.const 8)) (i32.const 0xffffa090))
(assert_return (invoke "load8_u_offset_65535" (i32.const 0)) (i32.const 0xff))
(assert_trap (invoke "load8_u_offset_65535" (i32.const 1)) "out of bounds memory access")
(assert_return (invoke "load_offset_65532" (i32.const 0)) (i32.const 0xfffefdfc))
(assert_trap (invoke "load_offset_65532" (i32.const 1)) "out of bounds memory access")
(assert_trap (invoke "load_offset_4" (i32.const 65530)) "out of bounds memory access")
(assert_trap (invoke "load_offset_4" (i32.const -4)) "out of bounds memory access")

;; addr + offset past 4 GiB: never wraps.
(assert_trap (invoke "load_offset_max" (i32.const 0)) "out of bounds memory access")
(assert_trap (invoke "load_offset_max" (i32.const 1)) "out of bounds memory access")
(assert_trap (invoke "load_offset_max" (i32.const 2)) "out of bounds memory access")
(assert_trap (invoke "load8_u_offset_max" (i32.const 1)) "out of bounds memory access")
(assert_trap (invoke "load8_u_offset_max" (i32.const 100)) "out of bounds memory access")
(assert_trap (invoke "load16_s_offset_max" (i32.const 1)) "out of bounds memory access")
(assert_trap (invoke "load_offset_minus_4" (i32.const 4)) "out of bounds memory access")
(assert_trap (invoke "load_offset_minus_4" (i32.const 8)) "out of bounds memory access")
(assert_trap (invoke "load_offset_minus_4" (i32.const 65536)) "out of bounds memory access")
(assert_trap (invoke "load_offset_4" (i32.const 0xfffffffc)) "out of bounds memory access")
(assert_trap (invoke "store8_offset_max" (i32.const 1) (i32.const 0x55)) "out of bounds memory access")
(assert_trap (invoke "store_offset_minus_4" (i32.const 4) (i32.const 0x55555555)) "out of bounds memory access")
;; Nothing landed at the wrapped addresses 0 and 4.
(assert_return (invoke "load" (i32.const 0)) (i32.const 0x04030201))
(assert_return (invoke "load" (i32.const 4)) (i32.const 0x08070605))

;; Stores: each width writes exactly its bytes, little-endian.
(invoke "store" (i32.const 100) (i32.const 0))
(invoke "store" (i32.const 104) (i32.const 0))
(invoke "store8" (i32.const 100) (i32.const 0x1234))
(assert_return (invoke "load" (i32.const 100)) (i32.const 0x34))
(invoke "store16" (i32.const 100) (i32.const 0xabcdef))
(assert_return (invoke "load" (i32.const 100)) (i32.const 0xcdef))
(invoke "store" (i32.const 100) (i32.const 0x89abcdef))
(assert_return (invoke "load8_u" (i32.const 100)) (i32.const 0xef))
(assert_return (invoke "load8_u" (i32.const 103)) (i32.const 0x89))
(assert_return (invoke "load8_s" (i32.const 103)) (i32.const -119))
(assert_return (invoke "load16_s" (i32.const 102)) (i32.const -30293))
(assert_return (invoke "load16_u" (i32.const 101)) (i32.const 0xabcd))
(assert_return (invoke "load" (i32.const 104)) (i32.const 0))
;; Unaligned stores.
(invoke "store" (i32.const 201) (i32.const 0x11223344))
(assert_return (invoke "load" (i32.const 200)) (i32.const 0x22334400))
(assert_return (invoke "load" (i32.const 204)) (i32.const 0x11))
(invoke "store16" (i32.const 203) (i32.const 0xffff))
(assert_return (invoke "load" (i32.const 200)) (i32.const 0xff334400))
(assert_return (invoke "load" (i32.const 204)) (i32.const 0xff))
(invoke "store_align2" (i32.const 301) (i32.const -1))
(assert_return (invoke "load" (i32.const 300)) (i32.const 0xffffff00))
(invoke "store_offset_4" (i32.const 400) (i32.const 0x0badf00d))
(assert_return (invoke "load" (i32.const 404)) (i32.const 0x0badf00d))
;; Negative values through the narrow widths.
(invoke "store8" (i32.const 500) (i32.const -2))
(assert_return (invoke "load8_s" (i32.const 500)) (i32.const -2))
(assert_return (invoke "load8_u" (i32.const 500)) (i32.const 254))
(invoke "store16" (i32.const 502) (i32.const 0x80000000))
(assert_return (invoke "load16_u" (i32.const 502)) (i32.const 0))
(invoke "store16" (i32.const 502) (i32.const -32768))
(assert_return (invoke "load16_s" (i32.const 502)) (i32.const -32768))
;; The last bytes of memory are writable.
(invoke "store" (i32.const 65532) (i32.const 0x01020304))
(assert_return (invoke "load8_u" (i32.const 65535)) (i32.const 1))
(invoke "store8" (i32.const 65535) (i32.const 0x99))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0x99020304))
(invoke "store16" (i32.const 65534) (i32.const 0x7777))
(assert_return (invoke "load" (i32.const 65532)) (i32.const 0x77770304))
;; Indexed addresses.
(assert_return (invoke "load_indexed" (i32.const 0)) (i32.const 0x04030201))
(assert_return (invoke "load_indexed" (i32.const 3)) (i32.const 0xf0e0d0c0))
(assert_return (invoke "load_indexed" (i32.const 16383)) (i32.const 0x77770304))
(assert_trap (invoke "load_indexed" (i32.const 16384)) "out of bounds memory access")
(assert_trap (invoke "load_indexed" (i32.const 0x3fffffff)) "out of bounds memory access")
;; The address arithmetic itself wraps (it is plain i32 arithmetic): 0x40000000 * 4 = 0.
(assert_return (invoke "load_indexed" (i32.const 0x40000000)) (i32.const 0x04030201))

;; A memory of zero pages: every access is out of bounds.
(module
  (memory 0)
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32) (i32.store8 (local.get 0) (i32.const 1)))
)

(assert_trap (invoke "load" (i32.const 0)) "out of bounds memory access")
(assert_trap (invoke "store" (i32.const 0)) "out of bounds memory access")

;; Two pages: the page boundary is not a limit, the end of page two is.
(module
  (memory 2)
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
)

(invoke "store" (i32.const 65534) (i32.const 0x44332211))
(assert_return (invoke "load" (i32.const 65534)) (i32.const 0x44332211))
(assert_return (invoke "load" (i32.const 65536)) (i32.const 0x4433))
(assert_return (invoke "load" (i32.const 131068)) (i32.const 0))
(assert_trap (invoke "load" (i32.const 131069)) "out of bounds memory access")
(assert_trap (invoke "store" (i32.const 131072) (i32.const 0)) "out of bounds memory access")
