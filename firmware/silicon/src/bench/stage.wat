;; stage.wat: the trivial channel stage of `kplug bench`'s dispatch figures (issue 12), run by the
;; core's PluginService::run_channel in the silicon harness (firmware/silicon/src/bench/dispatch.rs).
;;
;; Its input area is 4096 bytes at 0 (the stage buffer ABI: input_ptr/input_capacity), and
;; `pass(len)` returns the buffer unchanged, so a chain of these stages costs only the dispatch:
;; the buffer written into each stage's memory, the entry and the exit, the output read back.
(module
  (memory 1)
  (func (export "input_ptr") (result i32) (i32.const 0))
  (func (export "input_capacity") (result i32) (i32.const 4096))
  (func (export "pass") (param $len i32) (result i32) (local.get $len)))
