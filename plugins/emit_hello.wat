;; emit_hello.wat: sends bytes to the host with `emit` and writes the firmware log with `log`.
;;
;; `emit(ptr, len)` turns `len` bytes of the plugin's memory into a plugin-output event that
;; `kplug` prints (or saves); `log(ptr, len)` writes text to the firmware log. The firmware checks
;; each (ptr, len) against the plugin's memory at the boundary, so `emit_range` with a range
;; outside memory ends the call with an `import rejected an argument` trap.
;;
;; Memory: 1 page, exported as "memory". Layout:
;;   0x0000  "emit_hello: saying hello" (log text)
;;   0x0100  "hello from kplug\n" (17 bytes, the greeting)
;;   0x0200  scratch for number formatting (11 bytes)
;;
;; Exports (all values i32):
;;   hello() -> 17                 logs "emit_hello: saying hello", emits "hello from kplug\n"
;;   emit_number(n) -> len         emits n as unsigned decimal followed by "\n"; returns its length
;;   count(n) -> bytes             emits "0\n1\n...(n-1)\n" (one emit per line); returns the total
;;   emit_range(ptr, len) -> len   emits any range of memory as is
;;   memory
;;
;; Imports (module env): emit(ptr, len), log(ptr, len).
;;
;; Run it:
;;   kplug upload plugins/emit_hello.wat
;;   kplug invoke emit_hello hello             # the host prints "hello from kplug"
;;   kplug invoke emit_hello count 5
;;   kplug run --local plugins/emit_hello.wat emit_number 4294967295
(module
  (import "env" "emit" (func $emit (param i32 i32)))
  (import "env" "log" (func $log (param i32 i32)))

  (memory (export "memory") 1)

  ;; Where the scratch buffer ends (numbers are formatted backwards from here).
  (global $scratch_end i32 (i32.const 0x020B))

  (data (i32.const 0x0000) "emit_hello: saying hello")
  (data (i32.const 0x0100) "hello from kplug\n")

  ;; Logs, then emits the greeting. Returns its length.
  (func (export "hello") (result i32)
    (call $log (i32.const 0x0000) (i32.const 24))
    (call $emit (i32.const 0x0100) (i32.const 17))
    (i32.const 17))

  ;; Emits $n as unsigned decimal and a newline. Returns the bytes emitted.
  (func $emit_number (export "emit_number") (param $n i32) (result i32)
    (local $cursor i32)
    (local.set $cursor (global.get $scratch_end))
    (i32.store8 (local.get $cursor) (i32.const 0x0A))
    (loop $digit
      (local.set $cursor (i32.sub (local.get $cursor) (i32.const 1)))
      (i32.store8
        (local.get $cursor)
        (i32.add (i32.const 0x30) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (call $emit
      (local.get $cursor)
      (i32.sub (i32.add (global.get $scratch_end) (i32.const 1)) (local.get $cursor)))
    (i32.sub (i32.add (global.get $scratch_end) (i32.const 1)) (local.get $cursor)))

  ;; Emits the numbers 0..$n-1, one line each. Returns the total bytes emitted.
  (func (export "count") (param $n i32) (result i32)
    (local $index i32)
    (local $total i32)
    (block $done
      (loop $line
        (br_if $done (i32.ge_u (local.get $index) (local.get $n)))
        (local.set $total (i32.add (local.get $total) (call $emit_number (local.get $index))))
        (local.set $index (i32.add (local.get $index) (i32.const 1)))
        (br $line)))
    (local.get $total))

  ;; Emits $len bytes at $ptr. Returns $len.
  (func (export "emit_range") (param $ptr i32) (param $len i32) (result i32)
    (call $emit (local.get $ptr) (local.get $len))
    (local.get $len))
)
