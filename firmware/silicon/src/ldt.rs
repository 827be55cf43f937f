//! The process LDT: descriptor slots and `modify_ldt(2)`.
//!
//! Every plugin gets four LDT entries (code, data, stack, context). Slots come from one
//! process-wide allocator (the LDT is per process, shared by all threads).

use std::sync::Mutex;

/// Entries in the LDT (Intel SDM vol. 3A, 3.5.1: at most 8192 descriptors).
pub const LDT_ENTRIES: usize = 8192;
/// `modify_ldt` function: write an entry (new-style semantics).
const MODIFY_LDT_WRITE: libc::c_long = 0x11;
/// Selector bit: the descriptor is in the LDT.
const SELECTOR_TI_LDT: u16 = 0b100;
/// Requested privilege level 3.
const SELECTOR_RPL3: u16 = 0b11;
/// Largest byte-granular limit (20 bits).
const BYTE_LIMIT_MAX: u32 = 0xF_FFFF;
/// Bytes per page for page-granular limits.
const PAGE_BYTES: u32 = 4096;

/// `struct user_desc` (linux/asm/ldt.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct UserDesc {
    entry_number: u32,
    base_addr: u32,
    limit: u32,
    flags: u32,
}

/// `user_desc` flag bits.
const SEG_32BIT: u32 = 1 << 0;
const CONTENTS_SHIFT: u32 = 1;
const READ_EXEC_ONLY: u32 = 1 << 3;
const LIMIT_IN_PAGES: u32 = 1 << 4;
const SEG_NOT_PRESENT: u32 = 1 << 5;
const USEABLE: u32 = 1 << 6;

pub use kplug_core::segments::{Segment, SegmentKind};

/// Why a descriptor could not be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdtError {
    /// All slots are taken.
    Full,
    /// The size cannot be expressed as a limit (over 1 MiB and not a page multiple, or 0).
    BadSize,
    /// `modify_ldt` failed (errno).
    Syscall(i32),
}

static SLOTS: Mutex<Vec<bool>> = Mutex::new(Vec::new());

/// The selector of LDT entry `index` at RPL 3.
pub fn selector(index: u16) -> u16 {
    (index << 3) | SELECTOR_TI_LDT | SELECTOR_RPL3
}

/// Allocates `count` free entries.
pub fn allocate(count: usize) -> Result<Vec<u16>, LdtError> {
    let mut slots = SLOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if slots.is_empty() {
        slots.resize(LDT_ENTRIES, false);
    }
    let free: Vec<u16> = slots
        .iter()
        .enumerate()
        .filter(|(_, used)| !**used)
        .map(|(index, _)| index as u16)
        .take(count)
        .collect();
    if free.len() < count {
        return Err(LdtError::Full);
    }
    for &index in &free {
        slots[index as usize] = true;
    }
    Ok(free)
}

/// Entries currently allocated (for leak checks).
pub fn allocated() -> usize {
    let slots = SLOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    slots.iter().filter(|used| **used).count()
}

fn write(desc: &UserDesc) -> Result<(), LdtError> {
    // SAFETY: `desc` is a valid `struct user_desc` of the size passed; modify_ldt only reads it.
    let result = unsafe {
        libc::syscall(
            libc::SYS_modify_ldt,
            MODIFY_LDT_WRITE,
            desc as *const UserDesc,
            core::mem::size_of::<UserDesc>(),
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(LdtError::Syscall(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ))
    }
}

/// Installs `segment` in entry `index`.
pub fn install(index: u16, segment: Segment) -> Result<(), LdtError> {
    let (limit, pages) = match segment.kind {
        SegmentKind::Empty => (BYTE_LIMIT_MAX, true),
        _ => {
            if segment.size == 0 || segment.size > 1 << 32 {
                return Err(LdtError::BadSize);
            }
            if segment.size <= u64::from(BYTE_LIMIT_MAX) + 1 {
                ((segment.size - 1) as u32, false)
            } else if segment.size.is_multiple_of(u64::from(PAGE_BYTES)) {
                ((segment.size / u64::from(PAGE_BYTES) - 1) as u32, true)
            } else {
                return Err(LdtError::BadSize);
            }
        }
    };
    let contents = match segment.kind {
        SegmentKind::Data => 0,
        SegmentKind::Empty => 1,
        SegmentKind::Code => 2,
    };
    let mut flags = SEG_32BIT | (contents << CONTENTS_SHIFT) | USEABLE;
    if segment.kind == SegmentKind::Code {
        // Execute-only: the code segment has base 0, so a readable one would read everything
        // below the plugin's code end.
        flags |= READ_EXEC_ONLY;
    }
    if pages {
        flags |= LIMIT_IN_PAGES;
    }
    write(&UserDesc {
        entry_number: u32::from(index),
        base_addr: segment.base,
        limit,
        flags,
    })
}

/// Clears entry `index` and returns it to the allocator.
pub fn free(index: u16) {
    // An empty descriptor: the kernel's LDT_empty pattern.
    let _ = write(&UserDesc {
        entry_number: u32::from(index),
        base_addr: 0,
        limit: 0,
        flags: READ_EXEC_ONLY | SEG_NOT_PRESENT,
    });
    let mut slots = SLOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(slot) = slots.get_mut(index as usize) {
        *slot = false;
    }
}
