//! String instructions for bulk memory (`memory.copy`, `memory.fill`, `memory.init`): `rep
//! movs`/`rep stos`, the direction flag, and ES, which they write through.
//!
//! `movs` reads `DS:[ESI]` (or another segment given by a prefix) and writes `ES:[EDI]`; `stos`
//! writes `ES:[EDI]` (Intel SDM vol. 2B, "MOVS", "STOS"; the ES of the destination cannot be
//! overridden). The ABI leaves ES alone, so the masm saves it, copies DS into it around a string
//! instruction and restores it. Every byte here is a fixed one-byte opcode or prefix, emitted
//! raw, each named.

// dynasm's expansion converts dynamic register numbers with `.into()`.
#![allow(clippy::useless_conversion)]

use super::{Encoder, Reg, Width};
use dynasm::dynasm;

/// `push es`
const OPCODE_PUSH_ES: u8 = 0x06;
/// `pop es`
const OPCODE_POP_ES: u8 = 0x07;
/// `push ds`
const OPCODE_PUSH_DS: u8 = 0x1E;
/// The `rep` prefix (repeat ECX times).
const PREFIX_REP: u8 = 0xF3;
/// The FS segment-override prefix (the source of a `movs` from the context block).
const PREFIX_FS: u8 = 0x64;
/// `movsb`
const OPCODE_MOVSB: u8 = 0xA4;
/// `movsd`
const OPCODE_MOVSD: u8 = 0xA5;
/// `stosb`
const OPCODE_STOSB: u8 = 0xAA;
/// `stosd`
const OPCODE_STOSD: u8 = 0xAB;
/// `cld`
const OPCODE_CLD: u8 = 0xFC;
/// `std`
const OPCODE_STD: u8 = 0xFD;

/// Where a `movs` reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringSource {
    /// `DS:[ESI]`: the plugin's linear memory.
    Data,
    /// `FS:[ESI]`: the plugin's context block (passive data segments live there: the code
    /// segment is execute-only).
    Context,
}

impl Encoder {
    /// `push es ; push ds ; pop es`: saves ES and points it at the linear memory.
    pub fn enter_string_segment(&mut self) {
        self.asm
            .extend(&[OPCODE_PUSH_ES, OPCODE_PUSH_DS, OPCODE_POP_ES]);
    }

    /// `pop es`: restores the ES saved by [`Encoder::enter_string_segment`].
    pub fn leave_string_segment(&mut self) {
        self.asm.push(OPCODE_POP_ES);
    }

    /// `rep movsb` / `rep movsd` (with an `fs:` source for [`StringSource::Context`]).
    pub fn rep_movs(&mut self, width: Width, source: StringSource) {
        if source == StringSource::Context {
            self.asm.push(PREFIX_FS);
        }
        let opcode = match width {
            Width::Byte => OPCODE_MOVSB,
            _ => OPCODE_MOVSD,
        };
        self.asm.extend(&[PREFIX_REP, opcode]);
    }

    /// `rep stosb` / `rep stosd`
    pub fn rep_stos(&mut self, width: Width) {
        let opcode = match width {
            Width::Byte => OPCODE_STOSB,
            _ => OPCODE_STOSD,
        };
        self.asm.extend(&[PREFIX_REP, opcode]);
    }

    /// `lea dst, [base + index + disp]`
    pub fn lea_indexed(&mut self, dst: Reg, base: Reg, index: Reg, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; lea Rd(dst.code()), [Rd(base.code()) + Rd(index.code()) + disp]);
    }

    /// `std` (`down` = true: string instructions count down) or `cld`.
    pub fn direction(&mut self, down: bool) {
        self.asm.push(if down { OPCODE_STD } else { OPCODE_CLD });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::golden::assert_disassembly;

    /// Each string instruction, the ES save/restore and the direction flag.
    #[test]
    fn string_instructions() {
        let mut enc = Encoder::new();
        enc.enter_string_segment();
        enc.rep_movs(Width::Dword, StringSource::Data);
        enc.rep_movs(Width::Byte, StringSource::Data);
        enc.rep_movs(Width::Dword, StringSource::Context);
        enc.rep_movs(Width::Byte, StringSource::Context);
        enc.rep_stos(Width::Dword);
        enc.rep_stos(Width::Byte);
        enc.direction(true);
        enc.direction(false);
        enc.leave_string_segment();
        enc.lea_indexed(Reg::Esi, Reg::Esi, Reg::Ecx, -4);
        let mut code = enc.asm.finish().unwrap();
        while code.last() == Some(&crate::compiler::assembler::PADDING_BYTE) {
            code.pop();
        }
        assert_disassembly(
            &code,
            &[
                "push es",
                "push ds",
                "pop es",
                "rep movsd [edi],[esi]",
                "rep movsb [edi],[esi]",
                "rep movsd es:[edi],fs:[esi]",
                "rep movsb es:[edi],fs:[esi]",
                "rep stosd [edi]",
                "rep stosb [edi]",
                "std",
                "cld",
                "pop es",
                "lea esi,[esi+ecx-4]",
            ],
        );
    }
}
