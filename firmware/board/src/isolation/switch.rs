//! The privilege transitions between the firmware (CPL 0) and a plugin (CPL 3), in assembly.
//!
//! - **Entry** (`kplug_enter_plugin`): save the firmware's callee-saved registers, EFLAGS and
//!   ESP; load FS (context) and DS (linear memory) with the plugin's LDT selectors; `lret` to
//!   CPL 3, which loads CS:EIP = code:0 (the entry stub) and SS:ESP = the plugin's stack in one
//!   instruction (Intel SDM vol. 3A, 5.8.6 "Returning from a Called Procedure"). ES, which holds
//!   a DPL-0 selector, is nulled by the CPU on the way out, so the plugin holds no firmware
//!   selector.
//! - **Exit** (`kplug_exit_gate`, reached through the exit call gate, EAX = result) and **abort**
//!   (`kplug_abort_to_host`, from a fault or the budget check in an interrupt handler): reload the
//!   firmware's segments, restore its ESP, registers and EFLAGS, and return from
//!   `kplug_enter_plugin` with EDX:EAX = status:result.
//! - **Imports and `memory.grow`**: one ring-0 stub per gate. The call gate copies the plugin's
//!   arguments to the ring-0 stack (SDM 5.8.5 "Stack Switching"); the stub switches DS/ES to the
//!   firmware's, calls [`super::gate_dispatch`] with the symbol id and a pointer to the gate
//!   frame, restores the plugin's DS/ES and returns with `lret 4*N`, popping the arguments from
//!   both stacks. A refused argument aborts the invocation instead.
//!
//! Interrupts taken while the plugin runs arrive on the TSS's ring-0 stack, a dedicated region
//! (`PLUGIN_KERNEL_STACK`), never on the firmware's live stack.

use core::arch::global_asm;

use crate::gdt::KERNEL_DATA;

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
    "    movw 0(%eax), %fs",
    "    movw 4(%eax), %dx",
    "    pushl 8(%eax)",
    "    pushl 12(%eax)",
    "    pushl 16(%eax)",
    "    pushl $0",
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
    options(att_syntax),
);

/// One ring-0 stub per gate: `gate_stub!(name, gate id, parameter dwords)`.
macro_rules! gate_stubs {
    ($(($name:literal, $id:expr, $parameters:literal)),* $(,)?) => {
        global_asm!(
            $(
                concat!(".global ", $name),
                concat!($name, ":"),
                "    pushl %ds",
                "    pushl %es",
                "    movw ${data}, %ax",
                "    movw %ax, %ds",
                "    movw %ax, %es",
                "    leal 8(%esp), %eax",
                "    pushl %eax",
                concat!("    pushl $", stringify!($id)),
                "    call {dispatch}",
                "    addl $8, %esp",
                "    testl %edx, %edx",
                "    jnz kplug_abort_to_host",
                "    popl %es",
                "    popl %ds",
                concat!("    lretl $(4 * ", $parameters, ")"),
            )*
            data = const KERNEL_DATA.bits(),
            dispatch = sym super::gate_dispatch,
            options(att_syntax),
        );
        /// Parameter dwords of every gate, by gate id, as the stubs pop them.
        pub const GATE_PARAMETERS: &[(u32, u8)] = &[$(($id, $parameters)),*];
    };
}

gate_stubs!(
    ("kplug_gate_grow", 0, 1),
    ("kplug_gate_log", 1, 2),
    ("kplug_gate_now_us", 2, 0),
    ("kplug_gate_ticks_ms", 3, 0),
    ("kplug_gate_gpio_write", 4, 2),
    ("kplug_gate_gpio_read", 5, 1),
    ("kplug_gate_emit", 6, 2),
);

unsafe extern "C" {
    /// Enters the plugin described by `registers`; returns (status << 32) | result.
    pub fn kplug_enter_plugin(registers: *const EntryRegisters) -> u64;
    /// Ends the running invocation with `STATUS_ABORTED`. Call only from a ring-0 context
    /// entered from the plugin (an exception, an interrupt or a gate), holding no locks.
    pub fn kplug_abort_to_host() -> !;
    fn kplug_exit_gate();
    fn kplug_gate_grow();
    fn kplug_gate_log();
    fn kplug_gate_now_us();
    fn kplug_gate_ticks_ms();
    fn kplug_gate_gpio_write();
    fn kplug_gate_gpio_read();
    fn kplug_gate_emit();
}

/// Address of the exit gate's handler.
pub fn exit_handler() -> u32 {
    kplug_exit_gate as *const () as u32
}

/// The parameter dwords gate `id`'s stub pops.
pub fn gate_parameters(id: u32) -> Option<usize> {
    GATE_PARAMETERS
        .iter()
        .find(|(gate, _)| *gate == id)
        .map(|(_, parameters)| usize::from(*parameters))
}

/// Address of gate `id`'s handler and its parameter count.
pub fn gate_handler(id: u32) -> Option<(u32, u8)> {
    let handler: unsafe extern "C" fn() = match id {
        0 => kplug_gate_grow,
        1 => kplug_gate_log,
        2 => kplug_gate_now_us,
        3 => kplug_gate_ticks_ms,
        4 => kplug_gate_gpio_write,
        5 => kplug_gate_gpio_read,
        6 => kplug_gate_emit,
        _ => return None,
    };
    let parameters = GATE_PARAMETERS.iter().find(|(gate, _)| *gate == id)?.1;
    Some((handler as *const () as u32, parameters))
}
