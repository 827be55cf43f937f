;; memory.size and memory.grow: growth within the declared maximum returns the old size in pages
;; and zero-fills the new pages; growth past the maximum (or past 65536 pages) returns -1 and
;; changes nothing. Code that caches the memory bound must see the new bound at once: in the
;; same function right after the grow, in a caller after a callee grew, and inside a loop.
;;
;; Memories without a declared maximum stay within 4 pages in total, the firmware's default
;; plugin limit, so the results do not depend on the limit a runner chooses above that.

(module
  (memory 1 3)
  (data (i32.const 0) "\2a")

  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))

  ;; Grows by one page and immediately uses the last word of the new memory.
  (func (export "grow_then_touch") (param $value i32) (result i32)
    (local $end i32)
    (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1))
      (then (return (i32.const -1))))
    (local.set $end (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 4)))
    (i32.store (local.get $end) (local.get $value))
    (i32.load (local.get $end)))
)

(assert_return (invoke "size") (i32.const 1))
(assert_return (invoke "load8" (i32.const 0)) (i32.const 42))
(assert_trap (invoke "load" (i32.const 65536)) "out of bounds memory access")
(assert_return (invoke "grow" (i32.const 0)) (i32.const 1))
(assert_return (invoke "size") (i32.const 1))
(assert_return (invoke "grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke "size") (i32.const 2))
;; The new page is zero and in bounds; the old contents are kept.
(assert_return (invoke "load" (i32.const 65536)) (i32.const 0))
(assert_return (invoke "load" (i32.const 131068)) (i32.const 0))
(assert_return (invoke "load8" (i32.const 0)) (i32.const 42))
(assert_trap (invoke "load" (i32.const 131069)) "out of bounds memory access")
(invoke "store" (i32.const 131068) (i32.const 0x12345678))
(assert_return (invoke "load" (i32.const 131068)) (i32.const 0x12345678))
;; Past the maximum: -1, and nothing changes.
(assert_return (invoke "grow" (i32.const 2)) (i32.const -1))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "grow" (i32.const 0x10000)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 0x10001)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 0x7fffffff)) (i32.const -1))
(assert_return (invoke "grow" (i32.const -1)) (i32.const -1))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "load" (i32.const 131068)) (i32.const 0x12345678))
(assert_trap (invoke "load" (i32.const 131072)) "out of bounds memory access")
;; Up to the maximum exactly, in the same function as the access.
(assert_return (invoke "grow_then_touch" (i32.const 77)) (i32.const 77))
(assert_return (invoke "size") (i32.const 3))
(assert_return (invoke "load" (i32.const 196604)) (i32.const 77))
(assert_return (invoke "grow_then_touch" (i32.const 78)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 1)) (i32.const -1))
(assert_return (invoke "grow" (i32.const 0)) (i32.const 3))
(assert_return (invoke "size") (i32.const 3))
(assert_trap (invoke "load" (i32.const 196605)) "out of bounds memory access")

;; A callee grows; the caller, which read memory before the call, sees the new bound after it.
(module
  (memory 1 2)
  (data (i32.const 0) "\05")
  (func $grow_one (result i32) (memory.grow (i32.const 1)))
  (func (export "read_grow_read") (param $addr i32) (result i32)
    (local $before i32)
    (local.set $before (i32.load8_u (i32.const 0)))
    (drop (call $grow_one))
    (i32.add (local.get $before) (i32.load (local.get $addr))))
  (func (export "size") (result i32) (memory.size))
)

(assert_return (invoke "read_grow_read" (i32.const 65536)) (i32.const 5))
(assert_return (invoke "size") (i32.const 2))
;; The second grow fails; the access past two pages traps.
(assert_trap (invoke "read_grow_read" (i32.const 131072)) "out of bounds memory access")
(assert_return (invoke "size") (i32.const 2))

;; Growing inside a loop that also accesses memory.
(module
  (memory 0 4)
  ;; Grows one page at a time, storing the page number at the start of each new page;
  ;; returns the sum of what it reads back.
  (func (export "fill_pages") (param $pages i32) (result i32)
    (local $page i32) (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $page) (local.get $pages)))
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (i32.store (i32.mul (local.get $page) (i32.const 65536)) (i32.add (local.get $page) (i32.const 1)))
        (local.set $sum (i32.add (local.get $sum) (i32.load (i32.mul (local.get $page) (i32.const 65536)))))
        (local.set $page (i32.add (local.get $page) (i32.const 1)))
        (br $next)))
    (local.get $sum))
  (func (export "size") (result i32) (memory.size))
)

(assert_return (invoke "size") (i32.const 0))
(assert_return (invoke "fill_pages" (i32.const 3)) (i32.const 6))
(assert_return (invoke "size") (i32.const 3))
(assert_return (invoke "fill_pages" (i32.const 3)) (i32.const 1))
(assert_return (invoke "size") (i32.const 4))

;; No maximum: grows within 4 pages; impossible sizes still fail.
(module
  (memory 0)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
)

(assert_return (invoke "size") (i32.const 0))
(assert_trap (invoke "load" (i32.const 0)) "out of bounds memory access")
(assert_return (invoke "grow" (i32.const 1)) (i32.const 0))
(assert_return (invoke "load" (i32.const 65535)) (i32.const 0))
(assert_return (invoke "grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke "size") (i32.const 2))
(assert_return (invoke "grow" (i32.const 0x10000)) (i32.const -1))
(assert_return (invoke "grow" (i32.const -1)) (i32.const -1))
(assert_return (invoke "size") (i32.const 2))

;; A maximum of zero pages.
(module
  (memory 0 0)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
)

(assert_return (invoke "grow" (i32.const 0)) (i32.const 0))
(assert_return (invoke "grow" (i32.const 1)) (i32.const -1))
