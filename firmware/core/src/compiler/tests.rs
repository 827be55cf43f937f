//! Tests of the module-level code: the entry stub and its FPU hook.

use super::encoder::Encoder;
use super::golden::assert_disassembly;
use super::*;
use masm::{emit_entry_stub, finish_entry_hook};

/// Without floats the hook jumps straight to the call; with an FPU reset requested, the stub
/// jumps to a block that runs it and comes back to the call.
#[test]
fn entry_stub_and_fpu_hook() {
    let mut code = ModuleCode::default();
    emit_entry_stub(&mut code);
    finish_entry_hook(&mut code);
    let bytes = code.enc.asm.finish().unwrap();
    assert_disassembly(
        &bytes[..abi::ENTRY_STUB_UD2_OFFSET as usize + 2],
        &[
            "jmp 5",
            "call dword ptr fs:[0]",
            "mov fs:[40h],edx",
            "call far fword ptr fs:[10h]",
            "ud2",
        ],
    );

    let mut code = ModuleCode::default();
    emit_entry_stub(&mut code);
    code.fpu_reset = Some(|enc: &mut Encoder| enc.cdq());
    finish_entry_hook(&mut code);
    let bytes = code.enc.asm.finish().unwrap();
    assert_disassembly(
        &bytes[..0x26],
        &[
            "jmp 00000020h",
            "call dword ptr fs:[0]",
            "mov fs:[40h],edx",
            "call far fword ptr fs:[10h]",
            "ud2",
            "int3",
            "int3",
            "int3",
            "int3",
            "cdq",
            "jmp 5",
        ],
    );
}

/// A compiled module's entry stub resets the FPU exactly when the module uses it: a float
/// operator that reaches the x87 points the hook at `fninit`, eight `fldz`, `fninit`, `fldcw`
/// and back to the call; a module whose floats are only bit operations, and one without floats,
/// go straight to the call.
#[test]
fn float_modules_reset_the_fpu_on_entry() {
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};
    for (wat, resets) in [
        (
            "(module (func (export \"f\") (param f32) (result f32) (f32.sqrt (local.get 0))))",
            true,
        ),
        (
            "(module (func (export \"f\") (param f64 f64) (result i32) (f64.lt (local.get 0) (local.get 1))))",
            true,
        ),
        (
            "(module (func (export \"f\") (param f32) (result f32) (f32.neg (local.get 0))))",
            false,
        ),
        (
            "(module (func (export \"f\") (param i32) (result i32) (local.get 0)))",
            false,
        ),
    ] {
        let module = compile(
            &wat::parse_str(wat).unwrap(),
            &CompileOptions::new(Isolation::Hardware),
        )
        .unwrap();
        let anchor = abi::ENTRY_ANCHOR as usize;
        let hook = Decoder::with_ip(
            32,
            &module.code[anchor..],
            anchor as u64,
            DecoderOptions::NONE,
        )
        .decode()
        .near_branch_target() as usize;
        if !resets {
            assert_eq!(hook, abi::ENTRY_CALL_OFFSET as usize, "{wat}");
            continue;
        }
        let mnemonics: Vec<Mnemonic> =
            Decoder::with_ip(32, &module.code[hook..], hook as u64, DecoderOptions::NONE)
                .into_iter()
                .take(12)
                .map(|instruction| instruction.mnemonic())
                .collect();
        let mut expected = alloc::vec![Mnemonic::Fninit];
        expected.extend([Mnemonic::Fldz; 8]);
        expected.push(Mnemonic::Fninit);
        assert_eq!(mnemonics[..10], expected[..], "{wat}");
        assert!(
            mnemonics[10..].contains(&Mnemonic::Fldcw),
            "{wat}: {mnemonics:?}"
        );
    }
}
