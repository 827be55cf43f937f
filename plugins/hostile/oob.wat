;; hostile/oob.wat: out-of-bounds memory accesses at every width (fault suite, issue 4).
;;
;; Every access below that leaves the plugin's one page of memory must end the call with the trap
;; "out of bounds memory access" and must not read or write anything, including accesses whose
;; address + offset carries past 4 GiB: on i386 that sum wraps to a small, in-bounds address, so
;; a JIT that adds them in 32 bits would wrongly succeed. A store that straddles the end of memory
;; must write none of its bytes.
;;
;; Memory: exactly 1 page (min 1, max 1), exported as "memory". Data:
;;   0x0000  "KPLG"              (a store that wrapped to address 0 would overwrite it)
;;   0xFFFC  DE AD BE EF         (the last 4 bytes of memory)
;;
;; Exports (all values i32):
;;   in bounds, for checks:
;;     last_byte() -> 0xEF             load8_u of 65535, the last byte of memory
;;     last_word() -> 0xEFBEADDE       i32.load of 65532 (-272716322)
;;     first_word() -> 0x474C504B      i32.load of 0 ("KPLG", 1196183627)
;;   parametrised (offset 0), for any address:
;;     load32(addr) load16_s(addr) load16_u(addr) load8_s(addr) load8_u(addr) -> value
;;     store32(addr, value) store16(addr, value) store8(addr, value)
;;   parametrised with offset = 2^32 - 4: every call traps. For addr >= 4 the effective address
;;   carries past 4 GiB (addr 4 is "address 0" modulo 2^32, addr 8 is "address 4", ...); for
;;   addr < 4 it lies just below 4 GiB
;;     load32_wrap(addr) load16_s_wrap(addr) load16_u_wrap(addr) load8_s_wrap(addr)
;;     load8_u_wrap(addr) -> value;  store32_wrap(addr, value) store16_wrap(addr, value)
;;     store8_wrap(addr, value)
;;   scenarios, no arguments, each traps "out of bounds memory access":
;;     load32_past_end    i32.load at 65533 (its last byte is 65536)
;;     load16_past_end    i32.load16_u at 65535
;;     load8_past_end     i32.load8_u at 65536
;;     store32_past_end   i32.store at 65533 (must leave 65533..65535 unchanged)
;;     store16_past_end   i32.store16 at 65535 (must leave 65535 unchanged)
;;     store8_past_end    i32.store8 at 65536
;;     load_wrap_around   i32.load at 4 with offset 2^32 - 4 (wraps to 0 on i386)
;;     store_wrap_around  i32.store at 4 with offset 2^32 - 4 (must leave "KPLG" at 0)
;;     load_negative      i32.load8_u at -1 (0xFFFFFFFF)
;;     load_far           i32.load at 0x7FFFFFFF
;;
;; Run it:
;;   kplug run --local plugins/hostile/oob.wat load_wrap_around   # trap: out of bounds
;;   kplug upload plugins/hostile/oob.wat && kplug invoke oob store32_past_end
(module
  (memory (export "memory") 1 1)

  (data (i32.const 0x0000) "KPLG")
  (data (i32.const 0xFFFC) "\de\ad\be\ef")

  (func (export "last_byte") (result i32) (i32.load8_u (i32.const 65535)))
  (func (export "last_word") (result i32) (i32.load (i32.const 65532)))
  (func (export "first_word") (result i32) (i32.load (i32.const 0)))

  (func (export "load32") (param $addr i32) (result i32) (i32.load (local.get $addr)))
  (func (export "load16_s") (param $addr i32) (result i32) (i32.load16_s (local.get $addr)))
  (func (export "load16_u") (param $addr i32) (result i32) (i32.load16_u (local.get $addr)))
  (func (export "load8_s") (param $addr i32) (result i32) (i32.load8_s (local.get $addr)))
  (func (export "load8_u") (param $addr i32) (result i32) (i32.load8_u (local.get $addr)))
  (func (export "store32") (param $addr i32) (param $value i32)
    (i32.store (local.get $addr) (local.get $value)))
  (func (export "store16") (param $addr i32) (param $value i32)
    (i32.store16 (local.get $addr) (local.get $value)))
  (func (export "store8") (param $addr i32) (param $value i32)
    (i32.store8 (local.get $addr) (local.get $value)))

  (func (export "load32_wrap") (param $addr i32) (result i32)
    (i32.load offset=4294967292 (local.get $addr)))
  (func (export "load16_s_wrap") (param $addr i32) (result i32)
    (i32.load16_s offset=4294967292 (local.get $addr)))
  (func (export "load16_u_wrap") (param $addr i32) (result i32)
    (i32.load16_u offset=4294967292 (local.get $addr)))
  (func (export "load8_s_wrap") (param $addr i32) (result i32)
    (i32.load8_s offset=4294967292 (local.get $addr)))
  (func (export "load8_u_wrap") (param $addr i32) (result i32)
    (i32.load8_u offset=4294967292 (local.get $addr)))
  (func (export "store32_wrap") (param $addr i32) (param $value i32)
    (i32.store offset=4294967292 (local.get $addr) (local.get $value)))
  (func (export "store16_wrap") (param $addr i32) (param $value i32)
    (i32.store16 offset=4294967292 (local.get $addr) (local.get $value)))
  (func (export "store8_wrap") (param $addr i32) (param $value i32)
    (i32.store8 offset=4294967292 (local.get $addr) (local.get $value)))

  (func (export "load32_past_end") (result i32) (i32.load (i32.const 65533)))
  (func (export "load16_past_end") (result i32) (i32.load16_u (i32.const 65535)))
  (func (export "load8_past_end") (result i32) (i32.load8_u (i32.const 65536)))
  (func (export "store32_past_end") (i32.store (i32.const 65533) (i32.const 0x11223344)))
  (func (export "store16_past_end") (i32.store16 (i32.const 65535) (i32.const 0x5566)))
  (func (export "store8_past_end") (i32.store8 (i32.const 65536) (i32.const 0x77)))
  (func (export "load_wrap_around") (result i32)
    (i32.load offset=4294967292 (i32.const 4)))
  (func (export "store_wrap_around")
    (i32.store offset=4294967292 (i32.const 4) (i32.const 0x21212121)))
  (func (export "load_negative") (result i32) (i32.load8_u (i32.const -1)))
  (func (export "load_far") (result i32) (i32.load (i32.const 0x7FFFFFFF)))
)
