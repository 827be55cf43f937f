//! The firmware's global descriptor table and task-state segment.
//!
//! Layout (selectors): 0x08 flat code and 0x10 flat data at DPL 0, 0x18 the TSS, 0x20 the boot
//! probe's small data segment. The GDT holds no DPL-3 data segment: a plugin can load no selector
//! but those of its own LDT (ARCHITECTURE.md, "Isolation model"). Descriptors are built with the
//! `x86` crate (Intel SDM vol. 3A, 3.4.5 "Segment Descriptors").

use core::cell::UnsafeCell;

use x86::Ring;
use x86::bits32::task::TaskStateSegment;
use x86::dtables::DescriptorTablePointer;
use x86::segmentation::{
    BuildDescriptor, CodeSegmentType, DataSegmentType, Descriptor, DescriptorBuilder,
    GateDescriptorBuilder, SegmentDescriptorBuilder, SegmentSelector,
};

/// Flat 4 GiB code segment, DPL 0.
pub const KERNEL_CODE: SegmentSelector = SegmentSelector::new(1, Ring::Ring0);
/// Flat 4 GiB data segment, DPL 0.
pub const KERNEL_DATA: SegmentSelector = SegmentSelector::new(2, Ring::Ring0);
/// The task-state segment (ring-0 stack for interrupts from ring 3).
pub const TSS: SegmentSelector = SegmentSelector::new(3, Ring::Ring0);
/// The boot probe's data segment: see `probe.rs`.
pub const PROBE_DATA: SegmentSelector = SegmentSelector::new(4, Ring::Ring0);

/// GDT index of the first plugin LDT descriptor; plugin slot `n` uses index `FIRST_LDT_SLOT + n`.
const FIRST_LDT_SLOT: usize = 5;
const GDT_ENTRIES: usize = FIRST_LDT_SLOT + plugin_format::limits::MAX_PLUGINS;

/// A descriptor table the firmware writes before loading it and then only through `set`.
struct Table<const N: usize>(UnsafeCell<[u64; N]>);

// SAFETY: the firmware is single-core; the table is written during init and by `set`, which is
// only called with interrupts off (see its callers).
unsafe impl<const N: usize> Sync for Table<N> {}

static GDT: Table<GDT_ENTRIES> = Table(UnsafeCell::new([0; GDT_ENTRIES]));

struct TssCell(UnsafeCell<TaskStateSegment>);
// SAFETY: as `Table`; the CPU reads the TSS only on privilege changes.
unsafe impl Sync for TssCell {}
static TASK_STATE: TssCell = TssCell(UnsafeCell::new(TaskStateSegment::new()));

/// Proof that the firmware's GDT is loaded (an init-order token, see STYLE.md).
pub struct GdtLoaded(());

fn set(index: usize, descriptor: Descriptor) {
    // SAFETY: single-core, and callers run with interrupts off or before they are enabled; the
    // index is bounds-checked by the array access.
    unsafe { (*GDT.0.get())[index] = descriptor.as_u64() };
}

/// Builds the GDT and TSS, loads them, and reloads every segment register.
pub fn init() -> GdtLoaded {
    set(
        KERNEL_CODE.index() as usize,
        DescriptorBuilder::code_descriptor(0, 0xFFFFF, CodeSegmentType::ExecuteRead)
            .present()
            .dpl(Ring::Ring0)
            .db()
            .limit_granularity_4kb()
            .finish(),
    );
    set(
        KERNEL_DATA.index() as usize,
        DescriptorBuilder::data_descriptor(0, 0xFFFFF, DataSegmentType::ReadWrite)
            .present()
            .dpl(Ring::Ring0)
            .db()
            .limit_granularity_4kb()
            .finish(),
    );
    // SAFETY: single-core init; the TSS is not yet in use by the CPU.
    let tss = unsafe { &mut *TASK_STATE.0.get() };
    tss.ss0 = KERNEL_DATA.bits();
    tss.iobp_offset = core::mem::size_of::<TaskStateSegment>() as u16; // no I/O bitmap: IOPL rules
    set(
        TSS.index() as usize,
        <DescriptorBuilder as GateDescriptorBuilder<u32>>::tss_descriptor(
            tss as *const _ as u64,
            core::mem::size_of::<TaskStateSegment>() as u64 - 1,
            true,
        )
        .present()
        .dpl(Ring::Ring0)
        .finish(),
    );
    let pointer = DescriptorTablePointer {
        limit: (GDT_ENTRIES * 8 - 1) as u16,
        base: GDT.0.get() as *const u64,
    };
    // SAFETY: the table holds valid flat code/data descriptors at the selectors reloaded below,
    // which map the same memory as the boot GDT's, so execution continues unchanged.
    unsafe {
        x86::dtables::lgdt(&pointer);
        x86::bits32::segmentation::load_cs(KERNEL_CODE);
        x86::segmentation::load_ds(KERNEL_DATA);
        x86::segmentation::load_es(KERNEL_DATA);
        x86::segmentation::load_fs(KERNEL_DATA);
        x86::segmentation::load_gs(KERNEL_DATA);
        x86::segmentation::load_ss(KERNEL_DATA);
        x86::task::load_tr(TSS);
    }
    GdtLoaded(())
}

/// Installs the boot probe's data segment: base `base`, byte-granular limit `limit`.
pub fn set_probe_segment(_: &GdtLoaded, base: u32, limit: u32) {
    set(
        PROBE_DATA.index() as usize,
        DescriptorBuilder::data_descriptor(base, limit, DataSegmentType::ReadWrite)
            .present()
            .dpl(Ring::Ring0)
            .db()
            .finish(),
    );
}

/// Sets the ring-0 stack the CPU switches to on an interrupt or gate from ring 3.
pub fn set_kernel_stack(_: &GdtLoaded, top: u32) {
    // SAFETY: single-core; the CPU only reads esp0 on a privilege change, which cannot happen
    // while the firmware (ring 0) runs this store.
    unsafe { (*TASK_STATE.0.get()).esp0 = top };
}

fn ldt_selector(slot: usize) -> SegmentSelector {
    SegmentSelector::new((FIRST_LDT_SLOT + slot) as u16, Ring::Ring0)
}

/// Installs (or with 0, clears) the LDT descriptor of plugin slot `slot`.
pub fn set_ldt(_: &GdtLoaded, slot: usize, descriptor: u64) {
    crate::arch::cpu::without_interrupts(|| {
        // SAFETY: single-core, interrupts off; the index is bounds-checked by the array access.
        unsafe { (*GDT.0.get())[FIRST_LDT_SLOT + slot] = descriptor };
    });
}

/// Makes plugin slot `slot`'s LDT the current one.
pub fn load_ldt(_: &GdtLoaded, slot: usize) {
    // SAFETY: the slot's descriptor was installed by `set_ldt` with a valid LDT descriptor.
    unsafe { x86::dtables::load_ldtr(ldt_selector(slot)) };
}

/// Loads the null LDT: no plugin segment is reachable afterwards.
pub fn unload_ldt(_: &GdtLoaded) {
    // SAFETY: a null LDT selector is always valid to load (Intel SDM vol. 3A, 3.5.1).
    unsafe { x86::dtables::load_ldtr(SegmentSelector::from_raw(0)) };
}
