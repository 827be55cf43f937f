//! The flat-side trampolines between the harness (flat segments) and a plugin (LDT segments).
//!
//! The invocation round trip pays for exactly these transitions (costs measured on this
//! machine's CPU by `kplug-silicon bench`, "transitions"):
//!
//! | step | instruction | why it is needed |
//! | --- | --- | --- |
//! | in | `mov fs, ctx` (skipped when this thread's FS already holds this plugin's descriptor) | the generated code reaches globals, tables, imports through FS |
//! | in | `mov ds, data` | linear memory is DS |
//! | in | `mov ss, fs:[PLUGIN_SS]` + `mov esp, ...` | the plugin runs on its own stack segment (stores to linear memory can never reach return addresses; stack exhaustion is a limit fault) |
//! | in | `jmp far fs:[PLUGIN_ENTRY]` | CS = the plugin's code segment (position-independent code, limit) |
//! | out | `call far fs:[EXIT]` (in the entry stub) | back to flat CS (on the board this is the call gate back to ring 0, so the stub is the same code everywhere) |
//! | out | `mov ds, flat` | Rust needs flat DS |
//! | out | `mov ss, flat` + `mov esp, fs:[HOST_ESP]` | back to the harness stack |
//!
//! The far jump in and the far call out are the cheapest far-transfer pair on this CPU class
//! (a far call in and `retf` out costs more), and SS is loaded with `mov ss` followed by
//! `mov esp` (`mov ss` holds off interrupts for one instruction, so the pair is atomic) rather
//! than `lss`, which is slower here. ES and GS are never touched (the generated code uses
//! neither; GS is glibc's TLS), and FS is not restored (i386 Linux code does not use FS). On the
//! board the in-path is one `retf` to CPL 3 (CS and SS:ESP together) plus the DS load, and the
//! out-path one call gate.
//!
//! # The FPU
//!
//! The x87 belongs to the running plugin (a float-using module resets it on entry: control word
//! 0x027F, precision 53 bits), but the host is i386 Linux code that uses the x87 too (float
//! results in ST0, `u64` conversions through `fild`/`fadd`, both sensitive to the precision
//! control). So `kplug_enter` keeps the host's control word just below its saved registers,
//! where the saved host ESP points, and every way back restores it: the normal exit reloads it
//! (the plugin's x87 stack is empty at every return); `kplug_recover` (a signal) and an import
//! trap also `fninit` first, since a fault can strike between two loads of one float operator;
//! the import path runs the host's dispatcher under the host's control word and gives the
//! plugin its own back. On the board there is nothing to restore: the firmware is soft-float.
//!
//! Imports and `memory.grow` come in through [`IMPORT_STUB_BYTES`]-byte stubs (one per import
//! slot, plus one for grow) that load the slot number and run the common path: switch to the
//! harness stack saved in the context, flat DS, call [`kplug_import_dispatch`](crate::platform::kplug_import_dispatch)
//! (`crate::platform`), restore the plugin's DS and SS:ESP, pop the arguments (`retf 4*N`
//! semantics) and return far.

use core::arch::global_asm;
use kplug_core::abi;

// Context-block offsets are the ABI's constants (`const` operands below), so `abi.rs`'s
// compile-time checks cover every offset this assembly uses.

/// Bytes per import stub.
pub const IMPORT_STUB_BYTES: usize = 16;
/// Number of import stubs (the most imports one plugin may link).
pub const IMPORT_STUBS: usize = plugin_format::limits::MAX_IMPORTS as usize;
/// The pseudo slot `memory.grow` uses.
pub const GROW_SLOT: u32 = 0xFFFF;
/// `kplug_enter`'s status: the plugin returned.
pub const STATUS_RETURNED: u32 = 0;
/// `kplug_enter`'s status: a signal aborted the plugin.
pub const STATUS_FAULT: u32 = 1;
/// `kplug_enter`'s status: an import or `memory.grow` trapped.
pub const STATUS_IMPORT_TRAP: u32 = 2;
/// What the dispatcher returns in EDX to ask for an import trap.
pub const DISPATCH_TRAP: u32 = u32::MAX;

global_asm!(
    ".text",
    ".globl kplug_enter",
    ".p2align 4",
    "kplug_enter:",
    "push ebp",
    "push ebx",
    "push esi",
    "push edi",
    // The host's x87 control word, below the saved registers: the saved host ESP points at
    // it, so every way out finds it (see "The FPU" in the module docs).
    "sub esp, 4",
    "fnstcw word ptr [esp]",
    "mov eax, [esp + 24]",
    // FS is not used by i386 Linux code, so it stays loaded between invocations of the same
    // installed plugin: the caller says whether to reload it (a selector alone is not enough,
    // an LDT entry is reused by later plugins with other bases and limits).
    "cmp dword ptr [esp + 28], 0",
    "je 3f",
    "mov fs, ax",
    "3:",
    "mov fs:[{host_esp}], esp",
    "mov word ptr fs:[{host_ss}], ss",
    // DS first, then SS and ESP with two `mov`s (`mov ss` holds off interrupts and traps for
    // the next instruction, so the pair is atomic): measured ~10 cycles cheaper per direction
    // than `lss` on this CPU class.
    "mov eax, fs:[{data_selector}]",
    "mov ds, eax",
    "mov ecx, fs:[{plugin_ss}]",
    "mov edx, fs:[{plugin_esp}]",
    "mov ss, ecx",
    "mov esp, edx",
    "jmp fword ptr fs:[{plugin_entry}]",
    "",
    ".globl kplug_exit",
    ".p2align 4",
    "kplug_exit:",
    "mov ecx, fs:[{host_esp}]",
    "mov edx, fs:[{host_ss}]",
    "mov ds, edx",
    "mov ss, edx",
    "mov esp, ecx",
    // A plugin returns with an empty x87 stack (every float operator leaves it empty); only
    // its control word differs from the host's.
    "fldcw word ptr [esp]",
    "add esp, 4",
    "mov edx, {status_returned}",
    "pop edi",
    "pop esi",
    "pop ebx",
    "pop ebp",
    "ret",
    "",
    ".globl kplug_recover",
    ".p2align 4",
    "kplug_recover:",
    // The signal's return restored the plugin's FPU state as it was at the fault (registers
    // possibly still on the x87 stack): start the host from a clean FPU with its control word.
    "fninit",
    "fldcw word ptr [esp]",
    "add esp, 4",
    "mov edx, {status_fault}",
    "xor eax, eax",
    "pop edi",
    "pop esi",
    "pop ebx",
    "pop ebp",
    "ret",
    "",
    ".p2align 4",
    "kplug_import_common:",
    "mov ecx, esp",
    "mov edx, ss",
    // `mov ss` + `mov esp` rather than `lss`, as in kplug_enter.
    "mov ss, word ptr fs:[{host_ss}]",
    "mov esp, fs:[{host_esp}]",
    // The host code runs under the host's control word; the plugin's is kept below it.
    "sub esp, 4",
    "fnstcw word ptr [esp]",
    "fldcw word ptr [esp + 4]",
    "push edx",
    "push ecx",
    // Align the stack for the Rust call (16 bytes at the call), remembering where we were.
    "mov edx, esp",
    "and esp, -16",
    "sub esp, 4",
    "push edx",
    "push ecx",
    "push eax",
    "mov ecx, ss",
    "mov ds, ecx",
    "call {dispatch}",
    "add esp, 8",
    "pop esp",
    "cmp edx, {dispatch_trap}",
    "je 2f",
    "fldcw word ptr [esp + 8]",
    "mov ecx, fs:[{data_selector}]",
    "mov ds, ecx",
    // The plugin's SS:ESP saved above (EDX holds the bytes to pop, so only ECX is free).
    "mov ecx, [esp]",
    "mov ss, word ptr [esp + 4]",
    "mov esp, ecx",
    // Move the return frame up over the arguments, CS first (the areas overlap).
    "mov ecx, [esp + 4]",
    "mov [esp + edx + 4], ecx",
    "mov ecx, [esp]",
    "mov [esp + edx], ecx",
    "add esp, edx",
    "retf",
    "2:",
    "mov esp, fs:[{host_esp}]",
    "fninit",
    "fldcw word ptr [esp]",
    "add esp, 4",
    "mov edx, {status_import_trap}",
    "xor eax, eax",
    "pop edi",
    "pop esi",
    "pop ebx",
    "pop ebp",
    "ret",
    "",
    ".globl kplug_grow_stub",
    ".p2align 4",
    "kplug_grow_stub:",
    "mov eax, {grow_slot}",
    "jmp kplug_import_common",
    "",
    ".globl kplug_import_stubs",
    ".p2align 4",
    "kplug_import_stubs:",
    ".set kplug_stub_index, 0",
    ".rept {stubs}",
    ".p2align 4",
    "mov eax, kplug_stub_index",
    "jmp kplug_import_common",
    ".set kplug_stub_index, kplug_stub_index + 1",
    ".endr",
    dispatch = sym crate::platform::kplug_import_dispatch,
    host_esp = const abi::HOST_ESP_OFFSET,
    host_ss = const abi::HOST_SS_OFFSET,
    data_selector = const abi::DATA_SELECTOR_OFFSET,
    plugin_ss = const abi::PLUGIN_SS_OFFSET,
    plugin_esp = const abi::PLUGIN_ESP_OFFSET,
    plugin_entry = const abi::PLUGIN_ENTRY_OFFSET,
    grow_slot = const GROW_SLOT,
    stubs = const IMPORT_STUBS,
    status_returned = const STATUS_RETURNED,
    status_fault = const STATUS_FAULT,
    status_import_trap = const STATUS_IMPORT_TRAP,
    dispatch_trap = const DISPATCH_TRAP as i32,
);

unsafe extern "C" {
    /// Enters the plugin whose context segment is `context_selector` (its context block must
    /// hold the entry target, the plugin's SS:ESP with the arguments stored, the data selector
    /// and the entry/exit far pointers). FS is loaded only if `reload_context` is non-zero
    /// (otherwise it must already hold this plugin's context descriptor). Returns
    /// `status << 32 | eax`.
    pub fn kplug_enter(context_selector: u32, reload_context: u32) -> u64;
    /// The exit trampoline (target of the context's exit far pointer).
    pub fn kplug_exit();
    /// Where the signal handler resumes an aborted invocation (ESP = the saved host ESP).
    pub fn kplug_recover();
    /// The `memory.grow` stub.
    pub fn kplug_grow_stub();
    /// The first of [`IMPORT_STUBS`] import stubs, [`IMPORT_STUB_BYTES`] apart.
    pub fn kplug_import_stubs();
}
