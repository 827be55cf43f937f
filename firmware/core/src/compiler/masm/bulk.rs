//! Bulk memory: `memory.copy`, `memory.fill`, `memory.init` and `data.drop`, lowered to `rep
//! movs`/`rep stos` under the plugin's data segment.
//!
//! # The bounds rules, in both isolation modes
//!
//! The spec traps when `address + length` passes the memory's (or the data segment's) end, even
//! for a length of 0, and it traps **before any byte is written**. A segment limit would fault
//! in the middle of a `rep movs`, after part of the range was written, so both modes check the
//! whole range first against the current size in the context block
//! ([`abi::MEMORY_BYTES_OFFSET`]), with the carry of the addition checked too. In hardware mode
//! the limit stays as a second line: nothing past it is ever reached.
//!
//! # Registers
//!
//! The string instructions want the count in ECX, the source in ESI and the destination in EDI.
//! The operands are spilled to their slots first (like a call's arguments; constants stay
//! immediates), EAX/ECX/EDX are
//! cleared of stack values, and ESI/EDI — which may hold pinned locals or stack values — are
//! pushed and popped around the sequence, so they come back unchanged and no callee-saved
//! promise changes. ES is saved, set to DS and restored (see
//! [`crate::compiler::encoder::bulk`]). The pushes (ESI, EDI, ES: 12 bytes) are counted in the
//! frame's outgoing area, so the software stack check covers them.
//!
//! # Overlap
//!
//! `memory.copy` copies forwards unless the destination starts inside the source range
//! (`dst - src < n`, unsigned), where it copies backwards (`std`, then `cld` again: the ABI's
//! direction flag is clear at every operator boundary). Both directions move dwords first and
//! the 0–3 remaining bytes after; a copy onto itself is skipped.
//!
//! # Passive data segments
//!
//! A passive segment's bytes are placed in the plugin's context block, after everything else
//! (the code segment is execute-only), and `memory.init` copies them with an `fs:` source. Each
//! data segment has a hidden global: its low word is the segment's current length (the
//! segment's length for a passive segment, 0 for an active one, dropped at instantiation as the
//! spec says, and 0 after `data.drop`), its high word the context offset of the segment's
//! bytes. So the runtime keeps passive segments available without knowing about them, in memory
//! bounded by the module's size.

use super::{Masm, Operand, Value, bit};
use crate::abi::{self, TrapKind};
use crate::compiler::encoder::bulk::StringSource;
use crate::compiler::encoder::{Alu, Cond, Mem, Reg, Shift, Width};
use crate::error::CompileError;

/// Bytes a bulk operation pushes (ESI, EDI, ES).
const PUSHED_BYTES: u32 = 12;

/// A data segment as `memory.init` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSegmentRef {
    /// Context offset of its hidden global: the current length, then the context offset of
    /// its bytes (see the module docs).
    pub length_offset: u32,
}

/// Offset of the bytes' context offset in a data segment's hidden global.
pub const DATA_BYTES_OFFSET_WORD: u32 = 4;

impl Masm<'_> {
    /// Moves the top three operands to their slots (constants stay immediates) and frees
    /// EAX/ECX/EDX of stack values; returns the operands (deepest first), popped.
    pub(super) fn bulk_operands(&mut self) -> Result<[Operand; 3], CompileError> {
        let height = self.height();
        let first = height
            .checked_sub(3)
            .ok_or(CompileError::Internal("value stack underflow"))?;
        let mut operands = [Operand::Imm(0); 3];
        for (operand, depth) in operands.iter_mut().zip(first..height) {
            *operand = match self.stack[depth].value {
                Value::Imm(imm) => Operand::Imm(imm as i32),
                _ => {
                    self.spill_at(depth)?;
                    Operand::Mem(self.slot_mem(depth))
                }
            };
        }
        for _ in 0..3 {
            self.pop_entry()?;
        }
        self.clobber(bit(Reg::Eax) | bit(Reg::Ecx) | bit(Reg::Edx))?;
        self.note_outgoing(PUSHED_BYTES);
        Ok(operands)
    }

    /// Loads a bulk operand into `reg`.
    pub(super) fn load_operand(&mut self, reg: Reg, operand: Operand) {
        match operand {
            Operand::Imm(imm) => self.out.enc.mov_ri(reg, imm),
            Operand::Mem(mem) => self.out.enc.load32(reg, mem),
            Operand::Reg(source) => self.out.enc.mov_rr(reg, source),
        }
    }

    /// Traps unless `start + ECX` (with `start` in a register) is at most the 32-bit word at
    /// `end`; clobbers EAX.
    fn check_range(&mut self, start: Reg, end: Mem) -> Result<(), CompileError> {
        self.check_range_or(start, end, TrapKind::OutOfBounds)
    }

    /// [`Masm::check_range`], trapping with `kind` (tables trap as out-of-bounds table
    /// accesses).
    pub(super) fn check_range_or(
        &mut self,
        start: Reg,
        end: Mem,
        kind: TrapKind,
    ) -> Result<(), CompileError> {
        let trap = self.trap_label(kind)?;
        let enc = &mut self.out.enc;
        enc.mov_rr(Reg::Eax, start);
        enc.alu_rr(Alu::Add, Reg::Eax, Reg::Ecx);
        enc.jcc(Cond::Below, trap);
        enc.alu_rm(Alu::Cmp, Reg::Eax, end);
        enc.jcc(Cond::Above, trap);
        Ok(())
    }

    /// ECX bytes from `[ESI]` to `ES:[EDI]`, counting up: dwords, then the remaining bytes
    /// (EAX keeps the count).
    fn copy_up(&mut self, source: StringSource) {
        let enc = &mut self.out.enc;
        enc.mov_rr(Reg::Eax, Reg::Ecx);
        enc.shift_ri(Shift::Shr, Reg::Ecx, 2);
        enc.rep_movs(Width::Dword, source);
        enc.mov_rr(Reg::Ecx, Reg::Eax);
        enc.alu_ri(Alu::And, Reg::Ecx, 3);
        enc.rep_movs(Width::Byte, source);
    }

    /// `memory.copy` (operands: destination, source, length).
    pub fn memory_copy(&mut self) -> Result<(), CompileError> {
        let [destination, source, length] = self.bulk_operands()?;
        let memory_end = Mem::Context(abi::MEMORY_BYTES_OFFSET);
        self.out.enc.push_r(Reg::Esi);
        self.out.enc.push_r(Reg::Edi);
        self.load_operand(Reg::Ecx, length);
        self.load_operand(Reg::Esi, source);
        self.load_operand(Reg::Edi, destination);
        self.check_range(Reg::Esi, memory_end)?;
        self.check_range(Reg::Edi, memory_end)?;
        let done = self.new_label();
        let backwards = self.new_label();
        let enc = &mut self.out.enc;
        enc.enter_string_segment();
        enc.mov_rr(Reg::Eax, Reg::Edi);
        enc.alu_rr(Alu::Sub, Reg::Eax, Reg::Esi);
        enc.jcc(Cond::Equal, done);
        enc.alu_rr(Alu::Cmp, Reg::Eax, Reg::Ecx);
        enc.jcc(Cond::Below, backwards);
        self.copy_up(StringSource::Data);
        let enc = &mut self.out.enc;
        enc.jmp(done);
        // Backwards: from the last dword down, then the 0-3 bytes below it, last byte first.
        enc.bind(backwards);
        enc.direction(true);
        enc.lea_indexed(Reg::Esi, Reg::Esi, Reg::Ecx, -4);
        enc.lea_indexed(Reg::Edi, Reg::Edi, Reg::Ecx, -4);
        enc.mov_rr(Reg::Eax, Reg::Ecx);
        enc.shift_ri(Shift::Shr, Reg::Ecx, 2);
        enc.rep_movs(Width::Dword, StringSource::Data);
        enc.alu_ri(Alu::Add, Reg::Esi, 3);
        enc.alu_ri(Alu::Add, Reg::Edi, 3);
        enc.mov_rr(Reg::Ecx, Reg::Eax);
        enc.alu_ri(Alu::And, Reg::Ecx, 3);
        enc.rep_movs(Width::Byte, StringSource::Data);
        enc.direction(false);
        enc.bind(done);
        enc.leave_string_segment();
        enc.pop_r(Reg::Edi);
        enc.pop_r(Reg::Esi);
        Ok(())
    }

    /// `memory.fill` (operands: destination, byte value, length).
    pub fn memory_fill(&mut self) -> Result<(), CompileError> {
        let [destination, value, length] = self.bulk_operands()?;
        self.out.enc.push_r(Reg::Edi);
        self.load_operand(Reg::Ecx, length);
        self.load_operand(Reg::Edi, destination);
        self.check_range(Reg::Edi, Mem::Context(abi::MEMORY_BYTES_OFFSET))?;
        let enc = &mut self.out.enc;
        // The byte repeated in every byte of EAX.
        match value {
            Operand::Imm(imm) => enc.mov_ri(Reg::Eax, i32::from_ne_bytes([imm as u8; 4])),
            Operand::Mem(mem) => {
                enc.load(Reg::Eax, mem, Width::Byte, false);
                enc.imul_rri(Reg::Eax, Reg::Eax, 0x0101_0101);
            }
            Operand::Reg(_) => return Err(CompileError::Internal("bulk operand in a register")),
        }
        enc.enter_string_segment();
        enc.mov_rr(Reg::Edx, Reg::Ecx);
        enc.shift_ri(Shift::Shr, Reg::Ecx, 2);
        enc.rep_stos(Width::Dword);
        enc.mov_rr(Reg::Ecx, Reg::Edx);
        enc.alu_ri(Alu::And, Reg::Ecx, 3);
        enc.rep_stos(Width::Byte);
        enc.leave_string_segment();
        enc.pop_r(Reg::Edi);
        Ok(())
    }

    /// `memory.init` of `segment` (operands: destination, offset in the segment, length).
    pub fn memory_init(&mut self, segment: DataSegmentRef) -> Result<(), CompileError> {
        let [destination, offset, length] = self.bulk_operands()?;
        self.out.enc.push_r(Reg::Esi);
        self.out.enc.push_r(Reg::Edi);
        self.load_operand(Reg::Ecx, length);
        self.load_operand(Reg::Esi, offset);
        self.load_operand(Reg::Edi, destination);
        self.check_range(Reg::Esi, Mem::Context(segment.length_offset as i32))?;
        self.check_range(Reg::Edi, Mem::Context(abi::MEMORY_BYTES_OFFSET))?;
        let enc = &mut self.out.enc;
        let bytes = (segment.length_offset + DATA_BYTES_OFFSET_WORD) as i32;
        enc.alu_rm(Alu::Add, Reg::Esi, Mem::Context(bytes));
        enc.enter_string_segment();
        self.copy_up(StringSource::Context);
        let enc = &mut self.out.enc;
        enc.leave_string_segment();
        enc.pop_r(Reg::Edi);
        enc.pop_r(Reg::Esi);
        Ok(())
    }

    /// `data.drop` of the segment whose hidden length global is at context offset
    /// `length_offset`.
    pub fn data_drop(&mut self, length_offset: u32) -> Result<(), CompileError> {
        self.out
            .enc
            .store_imm(Mem::Context(length_offset as i32), 0, Width::Dword);
        Ok(())
    }
}
