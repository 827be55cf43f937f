//! A small `no_std` code buffer with the methods the `dynasm!` macro calls.
//!
//! `dynasmrt` (the macro's usual runtime) needs `std`; the macro itself only calls methods on the
//! value it is given (`push`, `push_i8`, `push_i32`, `extend`, `dynamic_label`, `dynamic_reloc`,
//! ...), so this type is all the firmware needs. Labels are dynamic only: the compiler allocates
//! them with [`Assembler::new_label`], binds them with `=>label:` in `dynasm!` (or
//! [`Assembler::bind`]) and jumps to them with `=>label`. Relocations are resolved by
//! [`Assembler::finish`], which also pads the buffer with `0xCC` (`int3`).

use alloc::vec::Vec;

/// `int3`: what unused code bytes are filled with.
pub const PADDING_BYTE: u8 = 0xCC;

/// A code label, allocated by [`Assembler::new_label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamicLabel(u32);

/// The low six bits of dynasm's relocation byte: the field size.
const RELOC_ENCODING_MASK: u8 = 0x3F;
/// dynasm's relocation kinds, in the top two bits.
const RELOC_KIND_SHIFT: u8 = 6;
/// A relative field: target - (location of the reference point).
const RELOC_KIND_RELATIVE: u8 = 0;
/// An absolute field (target offset in the code segment).
const RELOC_KIND_ABSOLUTE: u8 = 3;

/// One pending reference to a label.
#[derive(Debug, Clone, Copy)]
struct Relocation {
    label: DynamicLabel,
    /// Offset of the field in the buffer.
    field: u32,
    /// Offset the relative value is measured from.
    reference: u32,
    /// Added to the target.
    addend: i32,
    /// Field size in bytes (1, 2 or 4).
    size: u8,
    /// Relative or absolute.
    absolute: bool,
}

/// Why [`Assembler::finish`] failed: a compiler bug, never bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssemblerError {
    /// A label was referenced but never bound.
    UnboundLabel,
    /// A relative displacement does not fit its field.
    DisplacementOutOfRange,
    /// dynasm asked for a relocation kind this buffer does not implement.
    UnsupportedRelocation,
    /// A buffer could not grow (the allocator refused): the code is incomplete.
    OutOfMemory,
}

/// The code buffer.
#[derive(Debug, Default)]
pub struct Assembler {
    code: Vec<u8>,
    labels: Vec<Option<u32>>,
    relocations: Vec<Relocation>,
    error: Option<AssemblerError>,
}

impl Assembler {
    /// An empty buffer.
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// The current offset (where the next byte goes).
    pub fn offset(&self) -> u32 {
        self.code.len() as u32
    }

    /// The bytes emitted so far (relocations unresolved).
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// Makes room for `bytes` more code bytes; on failure records
    /// [`AssemblerError::OutOfMemory`] and returns false (every later write is dropped).
    fn reserve(&mut self, bytes: usize) -> bool {
        if self.error == Some(AssemblerError::OutOfMemory) {
            return false;
        }
        if self.code.try_reserve(bytes).is_err() {
            self.error = Some(AssemblerError::OutOfMemory);
            return false;
        }
        true
    }

    /// Allocates a new, unbound label.
    pub fn new_label(&mut self) -> DynamicLabel {
        if self.labels.try_reserve(1).is_err() {
            self.error = Some(AssemblerError::OutOfMemory);
            return DynamicLabel(u32::MAX);
        }
        self.labels.push(None);
        DynamicLabel(self.labels.len() as u32 - 1)
    }

    /// Binds `label` to the current offset.
    pub fn bind(&mut self, label: DynamicLabel) {
        let offset = self.offset();
        self.dynamic_label(label);
        debug_assert_eq!(self.label_offset(label), Some(offset));
    }

    /// Binds `label` to `offset`, an offset already emitted (for a forward reference whose
    /// target turns out to be behind: the entry stub's FPU hook).
    pub fn bind_at(&mut self, label: DynamicLabel, offset: u32) {
        let emitted = self.offset();
        match self.labels.get_mut(label.0 as usize) {
            Some(slot @ None) if offset <= emitted => *slot = Some(offset),
            _ => self.error = Some(AssemblerError::UnboundLabel),
        }
    }

    /// The offset `label` is bound to, if it is bound.
    pub fn label_offset(&self, label: DynamicLabel) -> Option<u32> {
        self.labels.get(label.0 as usize).copied().flatten()
    }

    /// Overwrites a little-endian `u32` at `at` (for immediates patched after the fact).
    pub fn patch_u32(&mut self, at: u32, value: u32) {
        let at = at as usize;
        if let Some(field) = self.code.get_mut(at..at + 4) {
            field.copy_from_slice(&value.to_le_bytes());
        }
    }

    /// Records a relocation (fallibly).
    fn add_relocation(&mut self, relocation: Relocation) {
        if self.relocations.try_reserve(1).is_err() {
            self.error = Some(AssemblerError::OutOfMemory);
            return;
        }
        self.relocations.push(relocation);
    }

    /// Appends `value` as a 4-byte absolute reference to `label` (jump tables).
    pub fn absolute_label_u32(&mut self, label: DynamicLabel) {
        let field = self.offset();
        self.push_u32(0);
        self.add_relocation(Relocation {
            label,
            field,
            reference: 0,
            addend: 0,
            size: 4,
            absolute: true,
        });
    }

    /// Pads with `0xCC` up to a multiple of `alignment`.
    pub fn align_with_padding(&mut self, alignment: u32) {
        while !self.offset().is_multiple_of(alignment) {
            if !self.reserve(1) {
                return;
            }
            self.code.push(PADDING_BYTE);
        }
    }

    /// Resolves every relocation and returns the code, padded with `0xCC` to a multiple of 16.
    pub fn finish(self) -> Result<Vec<u8>, AssemblerError> {
        self.finish_relocatable().map(|(code, _)| code)
    }

    /// As [`Assembler::finish`], with the offsets of the absolute fields: 32-bit code offsets
    /// that become linear addresses once the runtime adds the code's base (see `abi`, "Code
    /// addresses").
    pub fn finish_relocatable(mut self) -> Result<(Vec<u8>, Vec<u32>), AssemblerError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut absolute = Vec::new();
        for relocation in core::mem::take(&mut self.relocations) {
            if relocation.absolute {
                absolute
                    .try_reserve(1)
                    .map_err(|_| AssemblerError::OutOfMemory)?;
                absolute.push(relocation.field);
            }
            let target = self
                .label_offset(relocation.label)
                .ok_or(AssemblerError::UnboundLabel)?;
            let value = if relocation.absolute {
                i64::from(target) + i64::from(relocation.addend)
            } else {
                i64::from(target) - i64::from(relocation.reference) + i64::from(relocation.addend)
            };
            let field = relocation.field as usize;
            match relocation.size {
                1 => {
                    let byte =
                        i8::try_from(value).map_err(|_| AssemblerError::DisplacementOutOfRange)?;
                    self.code[field] = byte as u8;
                }
                2 => {
                    let half =
                        i16::try_from(value).map_err(|_| AssemblerError::DisplacementOutOfRange)?;
                    self.code[field..field + 2].copy_from_slice(&half.to_le_bytes());
                }
                _ => {
                    let word = value as u32;
                    self.code[field..field + 4].copy_from_slice(&word.to_le_bytes());
                }
            }
        }
        self.align_with_padding(16);
        if let Some(error) = self.error {
            return Err(error);
        }
        Ok((self.code, absolute))
    }

    // ---- The methods `dynasm!` calls. ----

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        self.extend(&[byte]);
    }

    /// Appends a signed byte.
    pub fn push_i8(&mut self, value: i8) {
        self.extend(&[value as u8]);
    }

    /// Appends a little-endian `u16`.
    pub fn push_u16(&mut self, value: u16) {
        self.extend(&value.to_le_bytes());
    }

    /// Appends a little-endian `i16`.
    pub fn push_i16(&mut self, value: i16) {
        self.extend(&value.to_le_bytes());
    }

    /// Appends a little-endian `u32`.
    pub fn push_u32(&mut self, value: u32) {
        self.extend(&value.to_le_bytes());
    }

    /// Appends a little-endian `i32`.
    pub fn push_i32(&mut self, value: i32) {
        self.extend(&value.to_le_bytes());
    }

    /// Appends bytes (dropped once a reservation has failed).
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.reserve(bytes.len()) {
            self.code.extend_from_slice(bytes);
        }
    }

    /// Binds a dynamic label (`=>label:` in `dynasm!`).
    pub fn dynamic_label(&mut self, label: DynamicLabel) {
        let offset = self.offset();
        match self.labels.get_mut(label.0 as usize) {
            Some(slot @ None) => *slot = Some(offset),
            _ => self.error = Some(AssemblerError::UnboundLabel),
        }
    }

    /// Records a reference to a dynamic label (`=>label` in `dynasm!`). dynasm calls this right
    /// after the field: the field starts `field_offset` bytes back, relative values are measured
    /// from `ref_offset` bytes back.
    pub fn dynamic_reloc(
        &mut self,
        label: DynamicLabel,
        target_offset: isize,
        field_offset: u8,
        ref_offset: u8,
        kind: u8,
    ) {
        let here = self.offset();
        let size = match kind & RELOC_ENCODING_MASK {
            0 => 1,
            1 => 2,
            2 => 4,
            _ => {
                self.error = Some(AssemblerError::UnsupportedRelocation);
                return;
            }
        };
        let absolute = match kind >> RELOC_KIND_SHIFT {
            RELOC_KIND_RELATIVE => false,
            RELOC_KIND_ABSOLUTE => true,
            _ => {
                self.error = Some(AssemblerError::UnsupportedRelocation);
                return;
            }
        };
        self.add_relocation(Relocation {
            label,
            field: here - u32::from(field_offset),
            reference: here - u32::from(ref_offset),
            addend: target_offset as i32,
            size,
            absolute,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forward and a backward relative reference resolve to target - end of field.
    #[test]
    fn relative_relocations_resolve() {
        let mut asm = Assembler::new();
        let forward = asm.new_label();
        let back = asm.new_label();
        asm.bind(back);
        asm.push(0xE9);
        asm.push_i32(0);
        asm.dynamic_reloc(forward, 0, 4, 0, 2);
        asm.push(0xE9);
        asm.push_i32(0);
        asm.dynamic_reloc(back, 0, 4, 0, 2);
        asm.bind(forward);
        let code = asm.finish().unwrap();
        assert_eq!(&code[1..5], &5i32.to_le_bytes());
        assert_eq!(&code[6..10], &(-10i32).to_le_bytes());
        assert_eq!(code.len(), 16);
        assert!(code[10..].iter().all(|&byte| byte == PADDING_BYTE));
    }

    /// An unbound label is reported, not silently left as zero.
    #[test]
    fn unbound_label_is_an_error() {
        let mut asm = Assembler::new();
        let label = asm.new_label();
        asm.push(0xE9);
        asm.push_i32(0);
        asm.dynamic_reloc(label, 0, 4, 0, 2);
        assert_eq!(asm.finish(), Err(AssemblerError::UnboundLabel));
    }
}
