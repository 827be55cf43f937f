;; hostile/scanner.wat: a plugin that reads past its own memory looking for other plugins' data
;; (fault suite, issue 4: inter-plugin isolation).
;;
;; A plugin's addresses are offsets into its own linear memory; there is no address at which it
;; can see another plugin's memory, code or stack, or the firmware's. A scan therefore traps
;; "out of bounds memory access" at exactly the first address past its own memory, and a hunt
;; for a value that only another plugin holds never finds it. The scanner records the address it
;; is about to read at 0x0000 before each read, so after the trap `last_address` tells where it
;; stopped (65536 for a scan that ran off the end of its one page).
;;
;; Memory: exactly 1 page (min 1, max 1), exported as "memory". 0x0000: the progress record.
;;
;; Exports (all values i32):
;;   scan(start, count) -> sum       sums count bytes from start (load8_u), recording progress
;;   scan_past_end() -> never        scan(65536 - 256, 1 MiB): traps at 65536
;;   hunt(magic) -> address          reads every aligned i32 from 4 upward until one equals magic;
;;                                   returns its address, or traps at 65536 when its own memory
;;                                   does not hold magic (magic must not be 0: the rest of
;;                                   its memory is zero)
;;   hunt_below(magic) -> never      the same, downward from 0xFFFFFFFC ("negative" addresses):
;;                                   traps at once
;;   hunt_offset(magic) -> never     reads through a 64 KiB offset (load offset=65536 from 0 up):
;;                                   traps at once
;;   plant(magic, address)           stores magic in its own memory (a positive control for hunt)
;;   last_address() -> address       the address recorded before the last read
;;
;; Run it:
;;   kplug upload plugins/crc32.wat                       # a neighbour holding "123456789"
;;   kplug upload plugins/hostile/scanner.wat
;;   kplug invoke scanner hunt 875770417                  # "1234" as i32: trap, out of bounds
;;   kplug invoke scanner last_address                    # -> 65536
(module
  (memory (export "memory") 1 1)

  ;; Where the progress record lives.
  (global $progress i32 (i32.const 0x0000))

  (func $scan (export "scan") (param $start i32) (param $count i32) (result i32)
    (local $sum i32)
    (block $done
      (loop $byte
        (br_if $done (i32.eqz (local.get $count)))
        (i32.store (global.get $progress) (local.get $start))
        (local.set $sum (i32.add (local.get $sum) (i32.load8_u (local.get $start))))
        (local.set $start (i32.add (local.get $start) (i32.const 1)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $byte)))
    (local.get $sum))

  (func (export "scan_past_end") (result i32)
    (call $scan (i32.const 65280) (i32.const 0x100000)))

  (func (export "hunt") (param $magic i32) (result i32)
    (local $address i32)
    (local.set $address (i32.const 4))
    (loop $word
      (i32.store (global.get $progress) (local.get $address))
      (if (i32.eq (i32.load (local.get $address)) (local.get $magic))
        (then (return (local.get $address))))
      (local.set $address (i32.add (local.get $address) (i32.const 4)))
      (br $word))
    (unreachable))

  (func (export "hunt_below") (param $magic i32) (result i32)
    (local $address i32)
    (local.set $address (i32.const 0xFFFFFFFC))
    (loop $word
      (i32.store (global.get $progress) (local.get $address))
      (if (i32.eq (i32.load (local.get $address)) (local.get $magic))
        (then (return (local.get $address))))
      (local.set $address (i32.sub (local.get $address) (i32.const 4)))
      (br $word))
    (unreachable))

  (func (export "hunt_offset") (param $magic i32) (result i32)
    (local $address i32)
    (loop $word
      (i32.store (global.get $progress) (i32.add (local.get $address) (i32.const 65536)))
      (if (i32.eq (i32.load offset=65536 (local.get $address)) (local.get $magic))
        (then (return (i32.add (local.get $address) (i32.const 65536)))))
      (local.set $address (i32.add (local.get $address) (i32.const 4)))
      (br $word))
    (unreachable))

  (func (export "plant") (param $magic i32) (param $address i32)
    (i32.store (local.get $address) (local.get $magic)))

  (func (export "last_address") (result i32)
    (i32.load (global.get $progress)))
)
