//! The privilege transitions between the firmware (CPL 0) and a plugin (CPL 3), in assembly.
//!
//! - **Entry** (`kplug_enter_plugin`): save the firmware's callee-saved registers, EFLAGS and
//!   ESP; load FS (context) and DS (linear memory) with the plugin's LDT selectors; `lret` to
//!   CPL 3, which loads CS:EIP = code:entry stub (the code segment has base 0, so EIP is the
//!   stub's linear address) and SS:ESP = the plugin's stack in one
//!   instruction (Intel SDM vol. 3A, 5.8.6 "Returning from a Called Procedure"). ES, which holds
//!   a DPL-0 selector, is nulled by the CPU on the way out, so the plugin holds no firmware
//!   selector.
//! - **Exit** (`kplug_exit_gate`, reached through the exit call gate, EAX = result) and **abort**
//!   (`kplug_abort_to_host`, from a fault or the budget check in an interrupt handler): reload the
//!   firmware's segments, restore its ESP, registers and EFLAGS, and return from
//!   `kplug_enter_plugin` with EDX:EAX = status:result.
//! - **Imports and `memory.grow`**: one ring-0 stub per gate. The call gate copies the plugin's
//!   arguments to the ring-0 stack (SDM 5.8.5 "Stack Switching"); the stub switches DS/ES to the
//!   firmware's, calls the registered gate dispatcher ([`set_gate_dispatch`]) with the symbol id
//!   and a pointer to the gate
//!   frame, restores the plugin's DS/ES and returns with `lret 4*N`, popping the arguments from
//!   both stacks. A refused argument aborts the invocation instead.
//!
//! Interrupts taken while the plugin runs arrive on the TSS's ring-0 stack, a dedicated region
//! (`PLUGIN_KERNEL_STACK`), never on the firmware's live stack.

use core::arch::global_asm;
use core::sync::atomic::{AtomicPtr, Ordering};

use plugin_format::symbols::SymbolId;

use crate::arch::gdt::KERNEL_DATA;

/// Status: the export returned; EAX holds its result.
pub const STATUS_RETURNED: u32 = 0;
/// Status: the invocation was aborted (fault, budget, refused import argument); the reason is
/// in `super::ABORT`.
pub const STATUS_ABORTED: u32 = 1;

/// Gate id of `memory.grow` (symbol ids start at 1).
pub const GROW_GATE_ID: u32 = 0;

/// What `kplug_enter_plugin` loads. Selectors are LDT selectors with RPL 3.
#[repr(C)]
pub struct EntryRegisters {
    pub context_selector: u32,
    pub data_selector: u32,
    pub stack_selector: u32,
    pub stack_pointer: u32,
    pub code_selector: u32,
    /// The entry stub's linear address: the code segment's base is 0, so EIP is the code
    /// region's address plus `abi::ENTRY_ANCHOR`.
    pub entry_point: u32,
}

/// What a gate stub calls: `(gate id, gate frame) -> (abort << 32) | result`.
pub type GateDispatch = extern "C" fn(u32, *const u32) -> u64;

/// The dispatcher the gate stubs call through (the platform's, see [`set_gate_dispatch`]); until
/// one is registered, every gate aborts the invocation.
static GATE_DISPATCH: AtomicPtr<()> = AtomicPtr::new(refuse_gate as *mut ());

/// Refuses every gate call: the invocation is aborted.
extern "C" fn refuse_gate(_id: u32, _frame: *const u32) -> u64 {
    u64::from(STATUS_ABORTED) << 32
}

/// Registers the function every gate stub calls.
pub fn set_gate_dispatch(dispatch: GateDispatch) {
    GATE_DISPATCH.store(dispatch as *mut (), Ordering::SeqCst);
}

/// Firmware ESP saved by the entry, restored by exit and abort.
#[unsafe(no_mangle)]
static mut KPLUG_HOST_ESP: u32 = 0;

global_asm!(
    ".global kplug_enter_plugin",
    "kplug_enter_plugin:",
    "    pushfl",
    "    pushl %ebp",
    "    pushl %ebx",
    "    pushl %esi",
    "    pushl %edi",
    "    movl 24(%esp), %eax",
    "    movl %esp, KPLUG_HOST_ESP",
    "    movw {context}(%eax), %fs",
    "    movw {data_selector}(%eax), %dx",
    "    pushl {stack}(%eax)",
    "    pushl {stack_pointer}(%eax)",
    "    pushl {code}(%eax)",
    "    pushl {entry}(%eax)",
    "    movw %dx, %ds",
    "    lretl",
    "",
    ".global kplug_exit_gate",
    "kplug_exit_gate:",
    "    xorl %edx, %edx",
    "    jmp kplug_return_to_host",
    "",
    ".global kplug_abort_to_host",
    "kplug_abort_to_host:",
    "    movl ${aborted}, %edx",
    "    xorl %eax, %eax",
    "kplug_return_to_host:",
    "    movw ${data}, %cx",
    "    movw %cx, %ds",
    "    movw %cx, %es",
    "    movw %cx, %fs",
    "    movw %cx, %ss",
    "    movl KPLUG_HOST_ESP, %esp",
    "    popl %edi",
    "    popl %esi",
    "    popl %ebx",
    "    popl %ebp",
    "    popfl",
    "    ret",
    data = const KERNEL_DATA.bits(),
    aborted = const STATUS_ABORTED,
    context = const core::mem::offset_of!(EntryRegisters, context_selector),
    data_selector = const core::mem::offset_of!(EntryRegisters, data_selector),
    stack = const core::mem::offset_of!(EntryRegisters, stack_selector),
    stack_pointer = const core::mem::offset_of!(EntryRegisters, stack_pointer),
    code = const core::mem::offset_of!(EntryRegisters, code_selector),
    entry = const core::mem::offset_of!(EntryRegisters, entry_point),
    options(att_syntax),
);

/// The common body of a gate stub: save the plugin's DS/ES, switch to the firmware's data
/// segment, call the registered dispatcher ([`set_gate_dispatch`]) with the gate id and a pointer
/// to the gate frame, then
/// abort or restore and return far popping the arguments (`lret 4*N`).
macro_rules! gate_stub_body {
    () => {
        concat!(
            "    pushl %ds\n",
            "    pushl %es\n",
            "    movw ${data}, %ax\n",
            "    movw %ax, %ds\n",
            "    movw %ax, %es\n",
            "    leal 8(%esp), %eax\n",
            "    pushl %eax\n",
            "    pushl ${id}\n",
            "    call *{dispatch}\n",
            "    addl $8, %esp\n",
            "    testl %edx, %edx\n",
            "    jnz kplug_abort_to_host\n",
            "    popl %es\n",
            "    popl %ds\n",
            "    lretl ${pop}\n",
        )
    };
}

/// One ring-0 stub per firmware symbol, generated from the symbol table
/// (`plugin_format::for_each_symbol!`): its id and the bytes its gate copies come from the same
/// definition the linker resolves against, and `kplug_gate_table` lists the stubs by symbol.
macro_rules! symbol_gate_stubs {
    ($(($variant:ident, $id:literal, $name:literal, [$($param:ident),*], [$($result:ident),*],
        $doc:literal)),* $(,)?) => {
        $(
            global_asm!(
                concat!(".global kplug_gate_", $name),
                concat!("kplug_gate_", $name, ":"),
                gate_stub_body!(),
                data = const KERNEL_DATA.bits(),
                id = const $id,
                pop = const 4 * <[&str]>::len(&[$(stringify!($param)),*]),
                dispatch = sym GATE_DISPATCH,
                options(att_syntax),
            );
        )*
        global_asm!(
            ".section .rodata",
            ".p2align 2",
            ".global kplug_gate_table",
            "kplug_gate_table:",
            $( concat!("    .long kplug_gate_", $name), )*
            ".text",
        );
        /// The symbol id of each entry of `kplug_gate_table`.
        const GATE_SYMBOLS: &[u16] = &[$($id),*];
    };
}

plugin_format::for_each_symbol!(symbol_gate_stubs);

// `memory.grow`'s gate: one parameter (the delta).
global_asm!(
    ".global kplug_gate_grow",
    "kplug_gate_grow:",
    gate_stub_body!(),
    data = const KERNEL_DATA.bits(),
    id = const GROW_GATE_ID,
    pop = const 4 * GROW_PARAMETERS,
    dispatch = sym GATE_DISPATCH,
    options(att_syntax),
);

/// `memory.grow`'s parameter dwords.
const GROW_PARAMETERS: usize = 1;

unsafe extern "C" {
    /// Enters the plugin described by `registers`; returns (status << 32) | result.
    pub fn kplug_enter_plugin(registers: *const EntryRegisters) -> u64;
    /// Ends the running invocation with `STATUS_ABORTED`. Call only from a ring-0 context
    /// entered from the plugin (an exception, an interrupt or a gate), holding no locks.
    pub fn kplug_abort_to_host() -> !;
    fn kplug_exit_gate();
    fn kplug_gate_grow();
    /// The symbol gate stubs, in the order of `GATE_SYMBOLS`.
    static kplug_gate_table: [u32; GATE_SYMBOLS.len()];
}

/// Address of the exit gate's handler.
pub fn exit_handler() -> u32 {
    kplug_exit_gate as *const () as u32
}

/// The parameter dwords gate `id`'s stub pops (the symbol's parameter count, from the table the
/// stubs were generated from).
pub fn gate_parameters(id: u32) -> Option<usize> {
    if id == GROW_GATE_ID {
        return Some(GROW_PARAMETERS);
    }
    let symbol = SymbolId::from_u16(u16::try_from(id).ok()?)?;
    let symbol = plugin_format::symbols::SYMBOLS
        .iter()
        .find(|entry| entry.id == symbol)?;
    Some(symbol.signature.params.len())
}

/// Address of gate `id`'s handler and its parameter count.
pub fn gate_handler(id: u32) -> Option<(u32, u8)> {
    let handler = if id == GROW_GATE_ID {
        kplug_gate_grow as *const () as u32
    } else {
        let index = GATE_SYMBOLS
            .iter()
            .position(|&symbol| u32::from(symbol) == id)?;
        // SAFETY: `kplug_gate_table` is a read-only table of stub addresses with one entry
        // per `GATE_SYMBOLS` entry (both generated by `symbol_gate_stubs!`).
        unsafe { kplug_gate_table[index] }
    };
    let parameters = u8::try_from(gate_parameters(id)?).ok()?;
    Some((handler, parameters))
}
