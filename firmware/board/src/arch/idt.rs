//! The interrupt descriptor table, the entry stubs of all 48 vectors, and the trap frame.
//!
//! Every stub pushes a uniform [`TrapFrame`] and calls the [`Handlers`] the platform registered
//! at [`init`]: its exception handler for vectors 0-31 (the trap path, `platform/trap.rs`) and
//! its IRQ handler for the PIC's IRQs at 32-47. The vectors for which
//! `kplug_core::trap::pushes_error_code` holds (Intel SDM vol. 3A, 6.13 "Error Code") push an
//! error code; the stubs of the others push a zero so that the frame has one shape.

use core::arch::global_asm;
use core::cell::UnsafeCell;

use x86::Ring;
use x86::dtables::DescriptorTablePointer;
use x86::segmentation::{BuildDescriptor, Descriptor, DescriptorBuilder, GateDescriptorBuilder};

use crate::arch::gdt::{GdtLoaded, KERNEL_CODE};

/// First vector of the remapped PIC's IRQs.
pub const IRQ_BASE: u8 = board_support::pic::PIC1_OFFSET;
/// Number of vectors with stubs: 32 exceptions and 16 IRQs.
const STUB_COUNT: usize = 48;
const IDT_ENTRIES: usize = 256;

/// The registers saved on entry to every vector, in the order the stub pushes them.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TrapFrame {
    pub gs: u32,
    pub fs: u32,
    pub es: u32,
    pub ds: u32,
    pub edi: u32,
    pub esi: u32,
    pub ebp: u32,
    /// ESP as `pushad` saw it (inside the frame); not restored.
    pub esp_at_entry: u32,
    pub ebx: u32,
    pub edx: u32,
    pub ecx: u32,
    pub eax: u32,
    pub vector: u32,
    pub error_code: u32,
    pub eip: u32,
    pub cs: u32,
    pub eflags: u32,
    /// Only present when the interrupt came from ring 3.
    pub user_esp: u32,
    /// Only present when the interrupt came from ring 3.
    pub user_ss: u32,
}

impl TrapFrame {
    /// Whether the interrupted code ran at CPL 3.
    pub fn interrupted_user_code(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// One stub per vector: pushes a zero error code unless the CPU pushed one (the rule is
/// `kplug_core::trap::pushes_error_code`, the one the trap path decodes frames with), then the
/// vector number, and joins the common path.
macro_rules! stubs {
    ($($vector:literal)*) => {
        $(
            global_asm!(
                concat!(".global kplug_vector_", $vector),
                concat!("kplug_vector_", $vector, ":"),
                ".if {pushes_error_code} == 0",
                "    push 0",
                ".endif",
                concat!("    push ", $vector),
                "    jmp kplug_trap_common",
                pushes_error_code = const kplug_core::trap::pushes_error_code($vector) as u8,
            );
        )*
        global_asm!(
            ".p2align 2",
            "kplug_vector_table:",
            ".global kplug_vector_table",
            $( concat!("    .long kplug_vector_", $vector), )*
        );
    };
}

stubs!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
       32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47);

// AT&T syntax: LLVM's Intel parser assembles `push ds` as a 16-bit push.
global_asm!(
    "kplug_trap_common:",
    "    pushal",
    "    pushl %ds",
    "    pushl %es",
    "    pushl %fs",
    "    pushl %gs",
    "    movw ${data}, %ax",
    "    movw %ax, %ds",
    "    movw %ax, %es",
    "    cld",
    "    pushl %esp",
    "    call {dispatch}",
    "    addl $4, %esp",
    "    popl %gs",
    "    popl %fs",
    "    popl %es",
    "    popl %ds",
    "    popal",
    "    addl $8, %esp",
    "    iretl",
    data = const crate::arch::gdt::KERNEL_DATA.bits(),
    dispatch = sym dispatch_entry,
    options(att_syntax),
);

/// The local APIC's spurious-interrupt vector: its low 4 bits must be 1s (Intel SDM vol. 3A,
/// 10.9). Spurious interrupts need no EOI, so its stub only returns.
pub const APIC_SPURIOUS_VECTOR: u8 = 0xFF;

global_asm!(
    ".global kplug_vector_apic_spurious",
    "kplug_vector_apic_spurious:",
    "    iretd",
);

unsafe extern "C" {
    fn kplug_vector_apic_spurious();
    static kplug_vector_table: [u32; STUB_COUNT];
}

struct Idt(UnsafeCell<[u64; IDT_ENTRIES]>);
// SAFETY: written once during single-core init before `lidt`; read only by the CPU afterwards.
unsafe impl Sync for Idt {}
static IDT: Idt = Idt(UnsafeCell::new([0; IDT_ENTRIES]));

/// Proof that the IDT is loaded: the PIC may be unmasked and interrupts enabled only after.
pub struct IdtLoaded(());

/// What the layer above does on each vector.
#[derive(Clone, Copy)]
pub struct Handlers {
    /// Exceptions 0-31.
    pub exception: fn(&mut TrapFrame),
    /// The PIC's IRQ `n` (0-15).
    pub irq: fn(u8, &mut TrapFrame),
}

struct HandlerCell(UnsafeCell<Option<Handlers>>);
// SAFETY: written once by `init`, before `lidt`, on a single core; only read afterwards.
unsafe impl Sync for HandlerCell {}
static HANDLERS: HandlerCell = HandlerCell(UnsafeCell::new(None));

/// Fills the IDT with interrupt gates (IF cleared on entry) to the stubs, registers `handlers`
/// and loads it.
pub fn init(_: &GdtLoaded, handlers: Handlers) -> IdtLoaded {
    // SAFETY: single-core init, before `lidt`: no vector can read the cell yet.
    unsafe { *HANDLERS.0.get() = Some(handlers) };
    // SAFETY: single-core init, before `lidt`; nothing else references the table yet.
    let table = unsafe { &mut *IDT.0.get() };
    for vector in 0..STUB_COUNT {
        // SAFETY: `kplug_vector_table` is a read-only table of stub addresses defined above.
        let handler = unsafe { kplug_vector_table[vector] };
        // Breakpoint and overflow may be raised by `int3`/`into` from any ring; the rest only
        // by the CPU or the PIC, so a plugin's `int n` to them is a #GP.
        let dpl = if vector == 3 || vector == 4 {
            Ring::Ring3
        } else {
            Ring::Ring0
        };
        let gate: Descriptor =
            <DescriptorBuilder as GateDescriptorBuilder<u32>>::interrupt_descriptor(
                KERNEL_CODE,
                handler,
            )
            .present()
            .dpl(dpl)
            .finish();
        table[vector] = gate.as_u64();
    }
    let spurious: Descriptor =
        <DescriptorBuilder as GateDescriptorBuilder<u32>>::interrupt_descriptor(
            KERNEL_CODE,
            kplug_vector_apic_spurious as *const () as u32,
        )
        .present()
        .dpl(Ring::Ring0)
        .finish();
    table[usize::from(APIC_SPURIOUS_VECTOR)] = spurious.as_u64();
    let pointer = DescriptorTablePointer {
        limit: (IDT_ENTRIES * 8 - 1) as u16,
        base: IDT.0.get() as *const u64,
    };
    // SAFETY: every present gate points at a stub that saves state and iret's; vectors
    // 48-255 are not present, so raising them is a #GP (handled).
    unsafe { x86::dtables::lidt(&pointer) };
    IdtLoaded(())
}

extern "C" fn dispatch_entry(frame: &mut TrapFrame) {
    // SAFETY: written before `lidt` (see `init`), only read here.
    let Some(handlers) = (unsafe { *HANDLERS.0.get() }) else {
        return;
    };
    let vector = frame.vector as u8;
    if vector >= IRQ_BASE {
        (handlers.irq)(vector - IRQ_BASE, frame);
    } else {
        (handlers.exception)(frame);
    }
}
