//! Module-level code, outside any function: the entry stub every call into the module goes
//! through (and its FPU hook) and the import thunks.

use super::{DynamicLabel, Mem, ModuleCode, Reg};
use crate::abi;

/// Binds the entry stub's FPU hook once every function is compiled: straight to the stub's
/// call, or — when a float lowering asked for an FPU reset — to a block at the end of the code
/// that resets the FPU and jumps back to the call.
pub fn finish_entry_hook(code: &mut ModuleCode) {
    let Some(hook) = code.entry_hook.take() else {
        return;
    };
    match code.fpu_reset {
        Some(reset) => {
            code.enc.asm.align_with_padding(16);
            code.enc.bind(hook);
            reset(&mut code.enc);
            let call = code.enc.new_label();
            code.enc.asm.bind_at(call, abi::ENTRY_CALL_OFFSET);
            code.enc.jmp(call);
        }
        None => code.enc.asm.bind_at(hook, abi::ENTRY_CALL_OFFSET),
    }
}

/// The entry stub at [`abi::ENTRY_ANCHOR`] (layout in [`crate::abi`]); its FPU hook is bound by
/// [`finish_entry_hook`].
pub fn emit_entry_stub(code: &mut ModuleCode) {
    let enc = &mut code.enc;
    debug_assert_eq!(enc.offset(), abi::ENTRY_ANCHOR);
    let hook = enc.new_label();
    enc.jmp(hook);
    code.entry_hook = Some(hook);
    debug_assert_eq!(enc.offset(), abi::ENTRY_CALL_OFFSET);
    enc.call_context(abi::ENTRY_TARGET_OFFSET);
    enc.store32(Mem::Context(abi::RESULT_HIGH_OFFSET), Reg::Edx);
    enc.call_far_context(abi::EXIT_OFFSET);
    debug_assert_eq!(enc.offset(), abi::ENTRY_STUB_UD2_OFFSET);
    enc.ud2();
    enc.asm.align_with_padding(16);
}

/// An import's thunk at `label`: a near-callable body that pushes the caller's `param_bytes` of
/// arguments again and far-calls the import's gate through the context word at
/// `import_offset` (tables and exports of imports call it like a function).
pub fn emit_import_thunk(
    code: &mut ModuleCode,
    label: DynamicLabel,
    param_bytes: u32,
    import_offset: u32,
) {
    let enc = &mut code.enc;
    enc.bind(label);
    let bytes = param_bytes as i32;
    for _ in 0..bytes / 4 {
        enc.push_stack_argument(bytes);
    }
    enc.call_far_context(import_offset as i32);
    enc.ret(param_bytes as u16);
}
