//! The segment sizing policy: which segments a plugin gets, with which bases, sizes and kinds,
//! in each isolation mode. The board (GDT/LDT descriptors) and the harness (`modify_ldt`) turn
//! these into descriptors; neither decides sizes on its own.
//!
//! | segment | hardware mode | software mode |
//! | --- | --- | --- |
//! | code | execute-only, base 0, ending exactly with the code region | the same |
//! | data (linear memory) | exactly the memory; an empty memory is an expand-down segment that admits no offset | 4 GiB from the base: the generated code checks every access |
//! | stack | exactly the stack | 4 GiB from the base: every prologue checks its frame (see the README's isolation section for why that is complete) |
//! | context | exactly the context block | the same |
//!
//! **Why the code segment has base 0.** On AMD Zen every taken branch in a code segment with a
//! non-zero base costs about 14 cycles instead of under 1 (`kplug bench` measures it), which made
//! plugin code 3-18 times slower than native there; Intel parts do not charge it. With base 0
//! the code's addresses are linear addresses: the runtime adds the code region's base where the
//! code needs an absolute one (see `abi`, "Code addresses"). The limit still ends the segment
//! exactly with the code region, so a jump past it faults; a jump below the region (only a
//! compiler bug could make one) would run other code at CPL 3 with the plugin's own data, stack
//! and context segments, so it reads and writes nothing new, and the segment is execute-only so
//! that nothing below it can be read through CS.

use crate::Isolation;
use crate::instance::{InstallRequest, Regions};

/// A segment's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// Execute-only code.
    Code,
    /// Read/write data, expand-up.
    Data,
    /// Read/write data, expand-down with the largest limit: admits no offset at all (Intel SDM
    /// vol. 3A, 3.4.5.1). The segment of an empty linear memory in hardware mode.
    Empty,
}

/// One segment: its base, its size in bytes (up to 4 GiB, hence `u64`) and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Linear base.
    pub base: u32,
    /// Size in bytes, 0..=4 GiB (0 only for [`SegmentKind::Empty`]).
    pub size: u64,
    /// Type.
    pub kind: SegmentKind,
}

/// The size of a segment that does not limit: 4 GiB.
pub const FULL_SPAN: u64 = 1 << 32;

/// The largest size a byte-granular limit expresses (20 bits: 1 MiB); larger segments are
/// page-granular, so their sizes are multiples of [`LIMIT_PAGE_BYTES`] (Intel SDM vol. 3A,
/// 3.4.5, the G flag).
pub const BYTE_GRANULAR_MAX: u32 = 1 << 20;
/// The unit of a page-granular limit.
pub const LIMIT_PAGE_BYTES: u32 = 4096;

/// The smallest size at least `bytes` that a segment limit expresses exactly: `bytes` itself up
/// to 1 MiB, above that the next multiple of 4 KiB. `None` past 4 GiB - 4 KiB.
pub fn representable(bytes: u32) -> Option<u32> {
    if bytes <= BYTE_GRANULAR_MAX {
        Some(bytes)
    } else {
        bytes
            .checked_add(LIMIT_PAGE_BYTES - 1)
            .map(|end| end / LIMIT_PAGE_BYTES * LIMIT_PAGE_BYTES)
    }
}

impl Segment {
    /// Whether the segment spans 4 GiB (limits nothing).
    pub fn is_full_span(&self) -> bool {
        self.size == FULL_SPAN
    }
}

/// A plugin's four segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginSegments {
    /// CS.
    pub code: Segment,
    /// DS: the linear memory.
    pub data: Segment,
    /// SS: the plugin's own stack.
    pub stack: Segment,
    /// FS: the context block.
    pub context: Segment,
}

/// The data segment of a linear memory of `bytes` bytes at `base`.
pub fn data_segment(isolation: Isolation, base: u32, bytes: u32) -> Segment {
    match isolation {
        Isolation::Software => Segment {
            base,
            size: FULL_SPAN,
            kind: SegmentKind::Data,
        },
        Isolation::Hardware if bytes == 0 => Segment {
            base,
            size: 0,
            kind: SegmentKind::Empty,
        },
        Isolation::Hardware => Segment {
            base,
            size: u64::from(bytes),
            kind: SegmentKind::Data,
        },
    }
}

/// The code segment of a code region of `bytes` bytes at the linear address `base`: execute-only,
/// base 0, ending with the region (see the module docs for why base 0). The region starts on a
/// page and is a whole number of pages, so a page-granular limit ends exactly with it.
pub fn code_segment(base: u32, bytes: u32) -> Segment {
    Segment {
        base: 0,
        size: u64::from(base) + u64::from(bytes),
        kind: SegmentKind::Code,
    }
}

/// The stack segment of a stack of `bytes` bytes at `base`.
pub fn stack_segment(isolation: Isolation, base: u32, bytes: u32) -> Segment {
    Segment {
        base,
        size: match isolation {
            Isolation::Hardware => u64::from(bytes),
            Isolation::Software => FULL_SPAN,
        },
        kind: SegmentKind::Data,
    }
}

/// The segments of the plugin `request` describes, installed at `regions` (flat addresses on a
/// 32-bit platform).
pub fn plugin_segments(request: &InstallRequest, regions: &Regions) -> PluginSegments {
    let base = |pointer: *mut u8| pointer as usize as u32;
    PluginSegments {
        code: code_segment(base(regions.code), request.code_bytes),
        data: data_segment(
            request.isolation,
            base(regions.memory),
            request.memory_bytes,
        ),
        stack: stack_segment(request.isolation, base(regions.stack), request.stack_bytes),
        context: Segment {
            base: base(regions.context),
            size: u64::from(request.context_bytes),
            kind: SegmentKind::Data,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes over 1 MiB round up to whole pages.
    #[test]
    fn sizes_are_representable() {
        assert_eq!(representable(100), Some(100));
        assert_eq!(representable(1 << 20), Some(1 << 20));
        assert_eq!(representable((1 << 20) + 1), Some((1 << 20) + 4096));
        assert_eq!(representable(u32::MAX), None);
    }

    /// The code segment starts at 0 and ends with the code region, for any region.
    #[test]
    fn code_segments_are_based_at_zero() {
        let code = code_segment(0x0040_3000, 0x2000);
        assert_eq!(
            (code.base, code.size, code.kind),
            (0, 0x0040_5000, SegmentKind::Code)
        );
        assert_eq!(code_segment(0xFFFF_F000, 0x1000).size, 1 << 32);
    }

    /// Hardware mode limits data and stack exactly; software mode spans 4 GiB; an empty
    /// memory admits nothing in hardware mode.
    #[test]
    fn sizes_follow_the_mode() {
        let hardware = data_segment(Isolation::Hardware, 0x1000, 65536);
        assert_eq!((hardware.size, hardware.kind), (65536, SegmentKind::Data));
        assert_eq!(
            data_segment(Isolation::Hardware, 0x1000, 0).kind,
            SegmentKind::Empty
        );
        assert!(data_segment(Isolation::Software, 0x1000, 0).is_full_span());
        assert_eq!(stack_segment(Isolation::Hardware, 0, 4096).size, 4096);
        assert!(stack_segment(Isolation::Software, 0, 4096).is_full_span());
    }
}
