//! Per-plugin local descriptor tables: exactly the plugin's code, data (linear memory), stack and
//! context segments at DPL 3, plus the call gates for its exit, `memory.grow` and the imports it
//! linked (Intel SDM vol. 3A, 3.5.1 "Segment Descriptor Tables", 5.8.3 "Call Gates").
//!
//! Each LDT is reached through its own descriptor in the GDT (slots [`FIRST_LDT_SLOT`]..), so
//! switching plugins is one `lldt`.

#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::vec;

use x86::Ring;
use x86::segmentation::{
    BuildDescriptor, CodeSegmentType, DataSegmentType, Descriptor, DescriptorBuilder,
    GateDescriptorBuilder, LdtDescriptorBuilder, SegmentDescriptorBuilder, SegmentSelector,
};

use kplug_core::segments::{Segment, SegmentKind};

use crate::arch::gdt::KERNEL_CODE;

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

/// The DPL-3 descriptor of `segment` (sizes come from `kplug_core::segments`, the one sizing
/// policy; above 1 MiB they are page multiples, so a page-granular limit stays exact).
pub fn descriptor(segment: &Segment) -> u64 {
    let limit = segment.size.saturating_sub(1);
    let (limit, pages) = if segment.kind == SegmentKind::Empty || segment.is_full_span() {
        (0xF_FFFF, true)
    } else if limit > 0xF_FFFF {
        ((limit >> 12) as u32, true)
    } else {
        (limit as u32, false)
    };
    let builder = match segment.kind {
        SegmentKind::Code => {
            // Execute-only: the code segment has base 0, so a readable one would read
            // everything below the plugin's code end.
            DescriptorBuilder::code_descriptor(segment.base, limit, CodeSegmentType::Execute)
        }
        SegmentKind::Data => {
            DescriptorBuilder::data_descriptor(segment.base, limit, DataSegmentType::ReadWrite)
        }
        // An expand-down segment with the largest limit: its valid range (limit, 0xFFFFFFFF]
        // is empty (SDM 3.4.5.1).
        SegmentKind::Empty => DescriptorBuilder::data_descriptor(
            segment.base,
            limit,
            DataSegmentType::ReadWriteExpand,
        ),
    };
    let builder = builder.present().dpl(Ring::Ring3).db();
    let descriptor: Descriptor = if pages {
        builder.limit_granularity_4kb().finish()
    } else {
        builder.finish()
    };
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
