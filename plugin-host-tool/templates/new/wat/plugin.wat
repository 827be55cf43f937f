;; {{name}}: a kplug plugin in WebAssembly text, made by `kplug new {{name}} --lang wat`.
;;   kplug run --local {{name}}.wat add 40 2
;;   kplug upload {{name}}.wat && kplug invoke {{name}} add 40 2
;; Imports come from the firmware symbol table (module "env"; `kplug upload --help` and the
;; README list them); pointers and lengths are offsets and byte counts in this module's memory.
(module
  (import "env" "log" (func $log (param i32 i32)))
  (import "env" "emit" (func $emit (param i32 i32)))
  (memory (export "memory") 1 4)
  (data (i32.const 0) "{{name}}: add")
  (data (i32.const 64) "hello from {{name}}")

  ;; a + b, wrapping; logs a line.
  (func (export "add") (param $a i32) (param $b i32) (result i32)
    (call $log (i32.const 0) (i32.const {{add_line_length}}))
    (i32.add (local.get $a) (local.get $b)))

  ;; Sends a greeting to the host as plugin output; returns its length.
  (func (export "hello") (result i32)
    (call $emit (i32.const 64) (i32.const {{hello_length}}))
    (i32.const {{hello_length}})))
