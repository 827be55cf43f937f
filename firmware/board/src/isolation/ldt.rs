//! Per-plugin local descriptor tables: exactly the plugin's code, data (linear memory), stack and
//! context segments at DPL 3, plus the call gates for its exit, `memory.grow` and the imports it
//! linked (Intel SDM vol. 3A, 3.5.1 "Segment Descriptor Tables", 5.8.3 "Call Gates").
//!
//! Each LDT is reached through its own descriptor in the GDT (slots [`FIRST_LDT_SLOT`]..), so
//! switching plugins is one `lldt`.

use alloc::boxed::Box;
use alloc::vec;

use x86::Ring;
use x86::segmentation::{
    BuildDescriptor, CodeSegmentType, DataSegmentType, Descriptor, DescriptorBuilder,
    GateDescriptorBuilder, LdtDescriptorBuilder, SegmentDescriptorBuilder, SegmentSelector,
};

use crate::gdt::KERNEL_CODE;

/// LDT index of the plugin's code segment.
pub const CODE_INDEX: u16 = 0;
/// LDT index of the plugin's data segment (its linear memory).
pub const DATA_INDEX: u16 = 1;
/// LDT index of the plugin's stack segment.
pub const STACK_INDEX: u16 = 2;
/// LDT index of the plugin's context block.
pub const CONTEXT_INDEX: u16 = 3;
/// LDT index of the exit gate.
pub const EXIT_GATE_INDEX: u16 = 4;
/// LDT index of the `memory.grow` gate.
pub const GROW_GATE_INDEX: u16 = 5;
/// LDT index of the first import gate.
pub const FIRST_IMPORT_GATE_INDEX: u16 = 6;

/// A selector into the current LDT with RPL 3.
pub const fn ldt_selector(index: u16) -> SegmentSelector {
    // TI (bit 2) = 1 selects the LDT (SDM 3.4.2).
    SegmentSelector::from_raw((index << 3) | 0b100 | 3)
}

/// Builds DPL-3 descriptors.
pub fn code_segment(base: u32, bytes: u32) -> u64 {
    let descriptor: Descriptor = DescriptorBuilder::code_descriptor(
        base,
        bytes.saturating_sub(1),
        CodeSegmentType::ExecuteRead,
    )
    .present()
    .dpl(Ring::Ring3)
    .db()
    .finish();
    descriptor.as_u64()
}

/// A DPL-3 read/write data segment of `bytes` bytes (byte granular up to 1 MiB, page granular
/// above, which rounds the limit up to a 4 KiB multiple; linear memory sizes are multiples of
/// 64 KiB, so the limit stays exact).
pub fn data_segment(base: u32, bytes: u32) -> u64 {
    let limit = bytes.saturating_sub(1);
    let builder = if limit > 0xFFFFF {
        DescriptorBuilder::data_descriptor(base, limit >> 12, DataSegmentType::ReadWrite)
            .limit_granularity_4kb()
    } else {
        DescriptorBuilder::data_descriptor(base, limit, DataSegmentType::ReadWrite)
    };
    let descriptor: Descriptor = builder.present().dpl(Ring::Ring3).db().finish();
    descriptor.as_u64()
}

/// A DPL-3 data segment that admits no offset at all (an empty linear memory): an expand-down
/// segment with limit 0xFFFFFFFF, whose valid range (limit, 0xFFFFFFFF] is empty (SDM 3.4.5.1).
pub fn empty_data_segment(base: u32) -> u64 {
    full_span_data_segment(base, DataSegmentType::ReadWriteExpand)
}

/// A data segment covering 4 GiB from `base`: software mode, where generated code checks bounds.
pub fn unlimited_data_segment(base: u32) -> u64 {
    full_span_data_segment(base, DataSegmentType::ReadWrite)
}

/// A DPL-3 data segment of type `kind` with the largest limit (0xFFFFF pages).
fn full_span_data_segment(base: u32, kind: DataSegmentType) -> u64 {
    let descriptor: Descriptor = DescriptorBuilder::data_descriptor(base, 0xFFFFF, kind)
        .present()
        .dpl(Ring::Ring3)
        .db()
        .limit_granularity_4kb()
        .finish();
    descriptor.as_u64()
}

/// A DPL-3 call gate to the ring-0 handler at `handler`, copying `parameters` dwords from the
/// plugin's stack (SDM 5.8.3, figure 5-8: the count sits in bits 32..37).
pub fn call_gate(handler: u32, parameters: u8) -> u64 {
    let descriptor: Descriptor =
        <DescriptorBuilder as GateDescriptorBuilder<u32>>::call_gate_descriptor(
            KERNEL_CODE,
            handler,
        )
        .present()
        .dpl(Ring::Ring3)
        .finish();
    descriptor.as_u64() | (u64::from(parameters & 0x1F) << 32)
}

/// The GDT descriptor of an LDT at `base` with `entries` entries.
pub fn ldt_descriptor(base: u32, entries: usize) -> u64 {
    let descriptor: Descriptor = <DescriptorBuilder as LdtDescriptorBuilder<u32>>::ldt_descriptor(
        base,
        (entries * 8 - 1) as u32,
    )
    .present()
    .dpl(Ring::Ring0)
    .finish();
    descriptor.as_u64()
}

/// One plugin's LDT. Its storage never moves while the GDT points at it.
pub struct Ldt {
    entries: Box<[u64]>,
}

impl Ldt {
    /// An LDT with room for `imports` import gates, all entries not present.
    pub fn new(imports: usize) -> Ldt {
        let entries = vec![0u64; FIRST_IMPORT_GATE_INDEX as usize + imports.max(1)];
        Ldt {
            entries: entries.into_boxed_slice(),
        }
    }

    /// Writes entry `index`.
    pub fn set(&mut self, index: u16, descriptor: u64) {
        self.entries[usize::from(index)] = descriptor;
    }

    /// Clears entry `index` (not present: loading or calling it faults).
    pub fn clear(&mut self, index: u16) {
        self.entries[usize::from(index)] = 0;
    }

    /// Where the table is, for its GDT descriptor.
    pub fn base(&self) -> u32 {
        self.entries.as_ptr() as u32
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
