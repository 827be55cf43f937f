//! The harness gives the x87 back to the host: a plugin that resets the FPU for its floats
//! (control word 0x027F, precision 53 bits) and returns, traps with values on the x87 stack, or
//! calls an import, leaves the host's control word and an empty x87 stack behind, and the
//! host's import code runs under the host's control word (see `trampoline.rs`, "The FPU").
//!
//! The jit does not compile float operators yet, so the plugin's float code is the float
//! lowering's own entry sequence ([`float::reset_fpu`]) and a few x87 instructions, appended to
//! a compiled module's code, with its exports pointed at them. Without the trampoline's restore
//! every check here fails (the control word stays 0x027F, the stack keeps the trapped values).
#![cfg(all(target_arch = "x86", target_os = "linux"))]

use kplug_core::compiler::encoder::Encoder;
use kplug_core::compiler::float;
use kplug_core::{CompileOptions, ImportHost, Isolation, Outcome, Plugin, compile};
use kplug_silicon::Silicon;
use plugin_format::message::Value;
use plugin_format::plugin::Limits;

/// The x87 environment as `fnstenv` stores it (control, status and tag words first).
fn environment() -> [u32; 7] {
    let mut environment = [0u32; 7];
    // SAFETY: stores 28 bytes into `environment` and masks every x87 exception, which the host's
    // control word (0x037F) already does.
    unsafe { core::arch::asm!("fnstenv [{0}]", in(reg) environment.as_mut_ptr()) };
    environment
}

/// The current x87 control word.
fn control_word() -> u16 {
    let mut word = 0u16;
    // SAFETY: stores two bytes into `word`.
    unsafe { core::arch::asm!("fnstcw [{0}]", in(reg) &mut word as *mut u16) };
    word
}

/// An import host that records the control word its `now_us` runs under.
#[derive(Default)]
struct Recorder {
    control_words: Vec<u16>,
}

impl ImportHost for Recorder {
    fn log(&mut self, _: &[u8]) {}
    fn emit(&mut self, _: &[u8]) {}
    fn now_us(&mut self) -> u32 {
        self.control_words.push(control_word());
        0
    }
    fn ticks_ms(&mut self) -> u32 {
        0
    }
    fn gpio_write(&mut self, _: u32, _: bool) {}
    fn gpio_read(&mut self, _: u32) -> bool {
        false
    }
}

/// `jmp rel32` (E9) from `at` to `target`.
fn jump(code: &mut Vec<u8>, target: u32) {
    let after = code.len() as u32 + 5;
    code.push(0xE9);
    code.extend_from_slice(&target.wrapping_sub(after).to_le_bytes());
}

#[test]
fn the_host_gets_its_fpu_back() {
    let wasm = wat::parse_str(
        r#"(module
            (import "env" "now_us" (func $now (result i32)))
            (func (export "returns") (result i32) i32.const 7)
            (func (export "traps") (result i32) unreachable)
            (func (export "imports") (result i32) call $now))"#,
    )
    .unwrap();
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let mut module = compile(&wasm, &CompileOptions::new(isolation)).expect("compiles");
        // Function 0 is the import; 1, 2, 3 the exports, in order.
        let imports_body = module.functions[3].code_offset;
        let routine = |module: &mut kplug_core::CompiledModule, emit: &dyn Fn(&mut Encoder)| {
            let mut enc = Encoder::new();
            float::reset_fpu(&mut enc);
            emit(&mut enc);
            let offset = module.code.len() as u32;
            module.code.extend_from_slice(enc.asm.code());
            offset
        };
        // returns: a clean FPU of its own, nothing on the stack, 7.
        module.functions[1].code_offset = routine(&mut module, &|enc| {
            enc.mov_ri(kplug_core::compiler::encoder::Reg::Eax, 7);
            enc.ret(0);
        });
        // traps: two values on the x87 stack when it faults.
        module.functions[2].code_offset = routine(&mut module, &|enc| {
            enc.fld1();
            enc.fld1();
            enc.ud2();
        });
        // imports: the compiled body (`call $now`) after the reset.
        let offset = routine(&mut module, &|_| {});
        jump(&mut module.code, imports_body);
        module.functions[3].code_offset = offset;

        let mut platform = Silicon::new();
        let mut host = Recorder::default();
        let limits = Limits {
            max_memory_pages: 0,
            stack_bytes: 16 * 1024,
            budget_us: 0,
        }
        .check_without_budget()
        .expect("within the board's limits");
        let mut plugin = Plugin::install(&mut platform, module, limits).expect("installs");
        plugin.link(&mut platform).expect("links");
        let host_control_word = control_word();
        let clean = environment();
        assert_eq!(
            clean[2] & 0xFFFF,
            0xFFFF,
            "the host starts with an empty x87 stack"
        );

        let outcome = plugin
            .invoke(&mut platform, &mut host, "returns", &[])
            .unwrap();
        assert!(matches!(&outcome, Outcome::Returned(values) if values[..] == [Value::I32(7)]));
        assert_eq!(
            control_word(),
            host_control_word,
            "{isolation:?}: after a return"
        );

        let outcome = plugin
            .invoke(&mut platform, &mut host, "traps", &[])
            .unwrap();
        assert!(matches!(outcome, Outcome::Trapped(_)), "{outcome:?}");
        let after_trap = environment();
        assert_eq!(
            after_trap[0] & 0xFFFF,
            u32::from(host_control_word),
            "{isolation:?}: after a trap"
        );
        assert_eq!(
            after_trap[2] & 0xFFFF,
            0xFFFF,
            "{isolation:?}: x87 stack empty after a trap"
        );
        assert_eq!(
            (after_trap[1] >> 11) & 7,
            0,
            "{isolation:?}: TOP = 0 after a trap"
        );

        let outcome = plugin
            .invoke(&mut platform, &mut host, "imports", &[])
            .unwrap();
        assert!(matches!(outcome, Outcome::Returned(_)), "{outcome:?}");
        assert_eq!(
            host.control_words,
            [host_control_word],
            "{isolation:?}: the import ran under the host's control word"
        );
        host.control_words.clear();
        assert_eq!(
            control_word(),
            host_control_word,
            "{isolation:?}: after an import"
        );
        assert_ne!(
            host_control_word,
            float::CONTROL_WORD,
            "the check can see a difference"
        );
        plugin.uninstall(&mut platform);
    }
}
