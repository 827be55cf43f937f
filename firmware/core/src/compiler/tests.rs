//! Tests of the module-level code: the entry stub and its FPU hook.

use super::encoder::Encoder;
use super::golden::assert_disassembly;
use super::*;

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
