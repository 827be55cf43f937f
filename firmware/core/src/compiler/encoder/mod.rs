//! The i386 encoder: the only module that contains `dynasm!` (`.arch x86`).
//!
//! Each method emits one instruction (or a fixed short sequence) into the [`Assembler`]. Operands
//! come from [`masm`](super::masm): registers ([`Reg`]), immediates and memory operands
//! ([`Mem`]). Which segment a memory operand uses is part of the ABI (see [`crate::abi`]):
//! frame operands are `[ebp+disp]` (SS), linear-memory operands `[base+disp]` (DS) and context
//! operands `fs:[disp]` (the context block).
//!
//! Segment-register loads are emitted as raw bytes (`8E /r`): dynasm 5's table encodes
//! `mov sreg, r/m16` with the store opcode `8C`.

// dynasm's expansion converts dynamic register numbers with `.into()`.
#![allow(clippy::useless_conversion)]

pub mod bulk;
pub mod x87;

use super::assembler::{Assembler, DynamicLabel};
use dynasm::dynasm;

/// A general-purpose register, by its i386 encoding number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reg {
    /// EAX (0): results, dividend.
    Eax = 0,
    /// ECX (1): shift counts.
    Ecx = 1,
    /// EDX (2): division high half / remainder.
    Edx = 2,
    /// EBX (3).
    Ebx = 3,
    /// ESP (4): the stack pointer (SS).
    Esp = 4,
    /// EBP (5): the frame pointer (SS).
    Ebp = 5,
    /// ESI (6).
    Esi = 6,
    /// EDI (7).
    Edi = 7,
}

impl Reg {
    /// The encoding number.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Whether the low byte is addressable (AL, CL, DL, BL).
    pub const fn has_byte(self) -> bool {
        (self as u8) < 4
    }
}

/// A condition code (the low nibble of `Jcc`/`SETcc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cond {
    /// Overflow.
    Overflow = 0x0,
    /// No overflow.
    NoOverflow = 0x1,
    /// Unsigned below (carry).
    Below = 0x2,
    /// Unsigned above or equal (no carry).
    AboveEqual = 0x3,
    /// Equal / zero.
    Equal = 0x4,
    /// Not equal / not zero.
    NotEqual = 0x5,
    /// Unsigned below or equal.
    BelowEqual = 0x6,
    /// Unsigned above.
    Above = 0x7,
    /// Sign (negative).
    Sign = 0x8,
    /// No sign (not negative).
    NoSign = 0x9,
    /// Signed less.
    Less = 0xC,
    /// Signed greater or equal.
    GreaterEqual = 0xD,
    /// Signed less or equal.
    LessEqual = 0xE,
    /// Signed greater.
    Greater = 0xF,
}

impl Cond {
    /// The condition that holds exactly when `self` does not.
    pub const fn invert(self) -> Cond {
        match self {
            Cond::Overflow => Cond::NoOverflow,
            Cond::NoOverflow => Cond::Overflow,
            Cond::Sign => Cond::NoSign,
            Cond::NoSign => Cond::Sign,
            Cond::Below => Cond::AboveEqual,
            Cond::AboveEqual => Cond::Below,
            Cond::Equal => Cond::NotEqual,
            Cond::NotEqual => Cond::Equal,
            Cond::BelowEqual => Cond::Above,
            Cond::Above => Cond::BelowEqual,
            Cond::Less => Cond::GreaterEqual,
            Cond::GreaterEqual => Cond::Less,
            Cond::LessEqual => Cond::Greater,
            Cond::Greater => Cond::LessEqual,
        }
    }

    /// The condition for the same comparison with its operands swapped.
    pub const fn swap(self) -> Cond {
        match self {
            Cond::Below => Cond::Above,
            Cond::Above => Cond::Below,
            Cond::AboveEqual => Cond::BelowEqual,
            Cond::BelowEqual => Cond::AboveEqual,
            Cond::Less => Cond::Greater,
            Cond::Greater => Cond::Less,
            Cond::LessEqual => Cond::GreaterEqual,
            Cond::GreaterEqual => Cond::LessEqual,
            other => other,
        }
    }
}

/// A memory operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mem {
    /// `[ebp + disp]`, in the stack segment (locals, spill slots, parameters).
    Frame(i32),
    /// `[base + disp]`, in the data segment (linear memory).
    Data(Reg, i32),
    /// `fs:[disp]`, in the context block.
    Context(i32),
}

impl Mem {
    /// The operand `bytes` further on in the same segment (the high word of a 64-bit home).
    pub const fn offset_by(self, bytes: i32) -> Mem {
        match self {
            Mem::Frame(disp) => Mem::Frame(disp + bytes),
            Mem::Data(base, disp) => Mem::Data(base, disp + bytes),
            Mem::Context(disp) => Mem::Context(disp + bytes),
        }
    }
}

/// A two-operand ALU operation (the `/digit` of opcodes 81/83 and the row of 01..3B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Alu {
    /// `add`
    Add = 0,
    /// `or`
    Or = 1,
    /// `adc` (add with carry)
    Adc = 2,
    /// `sbb` (subtract with borrow)
    Sbb = 3,
    /// `and`
    And = 4,
    /// `sub`
    Sub = 5,
    /// `xor`
    Xor = 6,
    /// `cmp`
    Cmp = 7,
}

/// A shift or rotate (the `/digit` of C1/D3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Shift {
    /// `rol`
    Rol = 0,
    /// `ror`
    Ror = 1,
    /// `shl`
    Shl = 4,
    /// `shr`
    Shr = 5,
    /// `sar`
    Sar = 7,
}

/// A memory access width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Word,
    /// 32 bits.
    Dword,
}

impl Width {
    /// Size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Width::Byte => 1,
            Width::Word => 2,
            Width::Dword => 4,
        }
    }
}

/// The `fs` segment-override prefix.
const PREFIX_FS: u8 = 0x64;
/// Bytes of one jump-table entry ([`Encoder::table_entry`]): `jmp rel32` and 3 bytes of
/// padding, so an entry's address is `table + index * 8`.
pub const JUMP_TABLE_ENTRY_BYTES: u32 = 8;
/// `mov Sreg, r/m16`.
const OPCODE_MOV_TO_SREG: u8 = 0x8E;
/// ModRM for `[disp32]` with reg field = DS (3).
const MODRM_DS_DISP32: u8 = 0x1D;
/// The operand-size prefix (16-bit operands).
const PREFIX_OPERAND_SIZE: u8 = 0x66;
/// ModRM.mod = 00: `[base]` (or `[disp32]` with r/m = 101).
const MOD_INDIRECT: u8 = 0x00;
/// ModRM.mod = 01: `[base + disp8]`.
const MOD_DISP8: u8 = 0x40;
/// ModRM.mod = 10: `[base + disp32]`.
const MOD_DISP32: u8 = 0x80;
/// ModRM.mod = 11: register operand.
const MOD_REGISTER: u8 = 0xC0;
/// ModRM for `[disp32]` (mod 00, r/m 101), reg field 0.
const MODRM_DISP32: u8 = 0x05;
/// ModRM.r/m = 100: a SIB byte follows.
const RM_SIB: u8 = 0x04;
/// SIB for base = ESP, no index.
const SIB_ESP_BASE: u8 = 0x24;
/// `83 /op ib`: ALU with a sign-extended 8-bit immediate.
const OPCODE_ALU_IMM8: u8 = 0x83;
/// `81 /op id`: ALU with a 32-bit immediate.
const OPCODE_ALU_IMM32: u8 = 0x81;

#[cfg(test)]
mod tests;

/// Whether `value` fits a sign-extended 8-bit field.
fn fits_i8(value: i32) -> bool {
    i8::try_from(value).is_ok()
}

/// The encoder: a thin, typed layer over [`Assembler`].
#[derive(Debug, Default)]
pub struct Encoder {
    /// The code buffer.
    pub asm: Assembler,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// The current code offset.
    pub fn offset(&self) -> u32 {
        self.asm.offset()
    }

    /// A new label.
    pub fn new_label(&mut self) -> DynamicLabel {
        self.asm.new_label()
    }

    /// Binds `label` here.
    pub fn bind(&mut self, label: DynamicLabel) {
        self.asm.bind(label);
    }

    /// `mov dst, src`
    pub fn mov_rr(&mut self, dst: Reg, src: Reg) {
        if dst != src {
            dynasm!(self.asm ; .arch x86 ; mov Rd(dst.code()), Rd(src.code()));
        }
    }

    /// `mov dst, imm` (never `xor`: it must not touch the flags).
    pub fn mov_ri(&mut self, dst: Reg, imm: i32) {
        dynasm!(self.asm ; .arch x86 ; mov Rd(dst.code()), DWORD imm);
    }

    /// `mov dst, [mem]` (32-bit).
    pub fn load32(&mut self, dst: Reg, mem: Mem) {
        self.load(dst, mem, Width::Dword, false);
    }

    /// `mov [mem], src` (32-bit).
    pub fn store32(&mut self, mem: Mem, src: Reg) {
        self.store(mem, src, Width::Dword);
    }

    /// Emits the segment prefix (if any), `opcode` and the ModRM/SIB/displacement bytes of
    /// `mem` with `reg_field` in ModRM.reg. dynasm encodes dynamic base registers in their
    /// worst-case form (SIB + displacement, in case the base is ESP/EBP); the compiler never
    /// uses ESP or EBP as a data base, so the short forms are emitted here.
    fn memory_form(&mut self, prefix: Option<u8>, opcode: &[u8], reg_field: u8, mem: Mem) {
        if let Mem::Context(_) = mem {
            self.asm.push(PREFIX_FS);
        }
        if let Some(prefix) = prefix {
            self.asm.push(prefix);
        }
        self.asm.extend(opcode);
        let reg_field = (reg_field & 7) << 3;
        match mem {
            Mem::Context(disp) => {
                self.asm.push(MODRM_DISP32 | reg_field);
                self.asm.push_i32(disp);
            }
            Mem::Frame(disp) => self.base_disp(reg_field, Reg::Ebp, disp),
            Mem::Data(base, disp) => self.base_disp(reg_field, base, disp),
        }
    }

    /// ModRM (+SIB) + displacement for `[base + disp]`.
    fn base_disp(&mut self, reg_field: u8, base: Reg, disp: i32) {
        let rm = base.code();
        let sib = base == Reg::Esp;
        let rm_bits = if sib { RM_SIB } else { rm };
        if disp == 0 && base != Reg::Ebp {
            self.asm.push(MOD_INDIRECT | reg_field | rm_bits);
            if sib {
                self.asm.push(SIB_ESP_BASE);
            }
        } else if fits_i8(disp) {
            self.asm.push(MOD_DISP8 | reg_field | rm_bits);
            if sib {
                self.asm.push(SIB_ESP_BASE);
            }
            self.asm.push_i8(disp as i8);
        } else {
            self.asm.push(MOD_DISP32 | reg_field | rm_bits);
            if sib {
                self.asm.push(SIB_ESP_BASE);
            }
            self.asm.push_i32(disp);
        }
    }

    /// A load of `width`, zero- or sign-extended to 32 bits.
    pub fn load(&mut self, dst: Reg, mem: Mem, width: Width, signed: bool) {
        let opcode: &[u8] = match (width, signed) {
            (Width::Dword, _) => &[0x8B],
            (Width::Byte, false) => &[0x0F, 0xB6],
            (Width::Byte, true) => &[0x0F, 0xBE],
            (Width::Word, false) => &[0x0F, 0xB7],
            (Width::Word, true) => &[0x0F, 0xBF],
        };
        self.memory_form(None, opcode, dst.code(), mem);
    }

    /// A store of the low `width` bits of `src` (`src` must have a byte form for [`Width::Byte`]).
    pub fn store(&mut self, mem: Mem, src: Reg, width: Width) {
        match width {
            Width::Dword => self.memory_form(None, &[0x89], src.code(), mem),
            Width::Word => self.memory_form(Some(PREFIX_OPERAND_SIZE), &[0x89], src.code(), mem),
            Width::Byte => self.memory_form(None, &[0x88], src.code(), mem),
        }
    }

    /// A store of an immediate of `width`.
    pub fn store_imm(&mut self, mem: Mem, imm: i32, width: Width) {
        match width {
            Width::Dword => {
                self.memory_form(None, &[0xC7], 0, mem);
                self.asm.push_i32(imm);
            }
            Width::Word => {
                self.memory_form(Some(PREFIX_OPERAND_SIZE), &[0xC7], 0, mem);
                self.asm.push_i16(imm as i16);
            }
            Width::Byte => {
                self.memory_form(None, &[0xC6], 0, mem);
                self.asm.push_i8(imm as i8);
            }
        }
    }

    /// `op dst, src`
    pub fn alu_rr(&mut self, op: Alu, dst: Reg, src: Reg) {
        let (d, s) = (dst.code(), src.code());
        match op {
            Alu::Add => dynasm!(self.asm ; .arch x86 ; add Rd(d), Rd(s)),
            Alu::Or => dynasm!(self.asm ; .arch x86 ; or Rd(d), Rd(s)),
            Alu::Adc => dynasm!(self.asm ; .arch x86 ; adc Rd(d), Rd(s)),
            Alu::Sbb => dynasm!(self.asm ; .arch x86 ; sbb Rd(d), Rd(s)),
            Alu::And => dynasm!(self.asm ; .arch x86 ; and Rd(d), Rd(s)),
            Alu::Sub => dynasm!(self.asm ; .arch x86 ; sub Rd(d), Rd(s)),
            Alu::Xor => dynasm!(self.asm ; .arch x86 ; xor Rd(d), Rd(s)),
            Alu::Cmp => dynasm!(self.asm ; .arch x86 ; cmp Rd(d), Rd(s)),
        }
    }

    /// `op dst, imm` (`83 /op ib` when the immediate fits a byte, else `81 /op id`).
    pub fn alu_ri(&mut self, op: Alu, dst: Reg, imm: i32) {
        let modrm = MOD_REGISTER | ((op as u8) << 3) | dst.code();
        if fits_i8(imm) {
            self.asm.extend(&[OPCODE_ALU_IMM8, modrm]);
            self.asm.push_i8(imm as i8);
        } else {
            self.asm.extend(&[OPCODE_ALU_IMM32, modrm]);
            self.asm.push_i32(imm);
        }
    }

    /// `op [mem], src` (`01 09 21 29 31 39 /r`).
    pub fn alu_mr(&mut self, op: Alu, mem: Mem, src: Reg) {
        let opcode = ((op as u8) << 3) | 0x01;
        self.memory_form(None, &[opcode], src.code(), mem);
    }

    /// `op dword [mem], imm`
    pub fn alu_mi(&mut self, op: Alu, mem: Mem, imm: i32) {
        if fits_i8(imm) {
            self.memory_form(None, &[OPCODE_ALU_IMM8], op as u8, mem);
            self.asm.push_i8(imm as i8);
        } else {
            self.memory_form(None, &[OPCODE_ALU_IMM32], op as u8, mem);
            self.asm.push_i32(imm);
        }
    }

    /// `op dst, [mem]`
    pub fn alu_rm(&mut self, op: Alu, dst: Reg, mem: Mem) {
        // 03, 0B, 23, 2B, 33, 3B: op r32, r/m32.
        let opcode = ((op as u8) << 3) | 0x03;
        self.memory_form(None, &[opcode], dst.code(), mem);
    }

    /// `test a, b`
    pub fn test_rr(&mut self, a: Reg, b: Reg) {
        dynasm!(self.asm ; .arch x86 ; test Rd(a.code()), Rd(b.code()));
    }

    /// `imul dst, src`
    pub fn imul_rr(&mut self, dst: Reg, src: Reg) {
        dynasm!(self.asm ; .arch x86 ; imul Rd(dst.code()), Rd(src.code()));
    }

    /// `imul dst, [mem]`
    pub fn imul_rm(&mut self, dst: Reg, mem: Mem) {
        self.memory_form(None, &[0x0F, 0xAF], dst.code(), mem);
    }

    /// `imul dst, src, imm`
    pub fn imul_rri(&mut self, dst: Reg, src: Reg, imm: i32) {
        let (d, s) = (dst.code(), src.code());
        if fits_i8(imm) {
            dynasm!(self.asm ; .arch x86 ; imul Rd(d), Rd(s), BYTE imm as i8);
        } else {
            dynasm!(self.asm ; .arch x86 ; imul Rd(d), Rd(s), DWORD imm);
        }
    }

    /// `shift reg, imm` (imm in 1..=31).
    pub fn shift_ri(&mut self, op: Shift, reg: Reg, imm: u8) {
        let r = reg.code();
        match op {
            Shift::Rol => dynasm!(self.asm ; .arch x86 ; rol Rd(r), imm as i8),
            Shift::Ror => dynasm!(self.asm ; .arch x86 ; ror Rd(r), imm as i8),
            Shift::Shl => dynasm!(self.asm ; .arch x86 ; shl Rd(r), imm as i8),
            Shift::Shr => dynasm!(self.asm ; .arch x86 ; shr Rd(r), imm as i8),
            Shift::Sar => dynasm!(self.asm ; .arch x86 ; sar Rd(r), imm as i8),
        }
    }

    /// `shift reg, cl` (the CPU masks the count to 5 bits, as wasm requires).
    pub fn shift_rcl(&mut self, op: Shift, reg: Reg) {
        let r = reg.code();
        match op {
            Shift::Rol => dynasm!(self.asm ; .arch x86 ; rol Rd(r), cl),
            Shift::Ror => dynasm!(self.asm ; .arch x86 ; ror Rd(r), cl),
            Shift::Shl => dynasm!(self.asm ; .arch x86 ; shl Rd(r), cl),
            Shift::Shr => dynasm!(self.asm ; .arch x86 ; shr Rd(r), cl),
            Shift::Sar => dynasm!(self.asm ; .arch x86 ; sar Rd(r), cl),
        }
    }

    /// `neg reg`
    pub fn neg(&mut self, reg: Reg) {
        dynasm!(self.asm ; .arch x86 ; neg Rd(reg.code()));
    }

    /// `not reg`
    pub fn not(&mut self, reg: Reg) {
        dynasm!(self.asm ; .arch x86 ; not Rd(reg.code()));
    }

    /// `xchg a, b`
    pub fn xchg(&mut self, a: Reg, b: Reg) {
        if a != b {
            dynasm!(self.asm ; .arch x86 ; xchg Rd(a.code()), Rd(b.code()));
        }
    }

    /// `test reg, imm` (`test r8, imm8` when `reg` has a byte form and `imm` fits a byte).
    pub fn test_ri(&mut self, reg: Reg, imm: i32) {
        let r = reg.code();
        if reg.has_byte() && (0..=0xFF).contains(&imm) {
            dynasm!(self.asm ; .arch x86 ; test Rb(r), imm as i8);
        } else {
            dynasm!(self.asm ; .arch x86 ; test Rd(r), DWORD imm);
        }
    }

    /// `mul src` (unsigned EDX:EAX = EAX * src).
    pub fn mul_wide(&mut self, src: Reg) {
        dynasm!(self.asm ; .arch x86 ; mul Rd(src.code()));
    }

    /// `mul dword [mem]` (unsigned EDX:EAX = EAX * [mem]).
    pub fn mul_wide_m(&mut self, mem: Mem) {
        self.memory_form(None, &[0xF7], 4, mem);
    }

    /// `div dword [mem]` (unsigned EDX:EAX / [mem]: quotient EAX, remainder EDX).
    pub fn div_m(&mut self, mem: Mem) {
        self.memory_form(None, &[0xF7], 6, mem);
    }

    /// `shld dst, src, cl` (`left` = true) or `shrd dst, src, cl`: a double-width shift; the CPU
    /// masks the count to 5 bits.
    pub fn shift_double_cl(&mut self, left: bool, dst: Reg, src: Reg) {
        let (d, s) = (dst.code(), src.code());
        if left {
            dynasm!(self.asm ; .arch x86 ; shld Rd(d), Rd(s), cl);
        } else {
            dynasm!(self.asm ; .arch x86 ; shrd Rd(d), Rd(s), cl);
        }
    }

    /// `shld dst, src, imm` / `shrd dst, src, imm` (imm in 1..=31).
    pub fn shift_double_ri(&mut self, left: bool, dst: Reg, src: Reg, imm: u8) {
        let (d, s) = (dst.code(), src.code());
        if left {
            dynasm!(self.asm ; .arch x86 ; shld Rd(d), Rd(s), imm as i8);
        } else {
            dynasm!(self.asm ; .arch x86 ; shrd Rd(d), Rd(s), imm as i8);
        }
    }

    /// `pop reg`
    pub fn pop_r(&mut self, reg: Reg) {
        dynasm!(self.asm ; .arch x86 ; pop Rd(reg.code()));
    }

    /// `add esp, imm`
    pub fn add_esp(&mut self, imm: i32) {
        if imm != 0 {
            self.alu_ri(Alu::Add, Reg::Esp, imm);
        }
    }

    /// `bsr dst, src`
    pub fn bsr(&mut self, dst: Reg, src: Reg) {
        dynasm!(self.asm ; .arch x86 ; bsr Rd(dst.code()), Rd(src.code()));
    }

    /// `bsf dst, src`
    pub fn bsf(&mut self, dst: Reg, src: Reg) {
        dynasm!(self.asm ; .arch x86 ; bsf Rd(dst.code()), Rd(src.code()));
    }

    /// `lea dst, [src + disp]`
    pub fn lea(&mut self, dst: Reg, src: Reg, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; lea Rd(dst.code()), [Rd(src.code()) + disp]);
    }

    /// `setcc dst8 ; movzx dst, dst8` (`dst` must have a byte form). Leaves the flags alone.
    pub fn setcc_zx(&mut self, cond: Cond, dst: Reg) {
        let d = dst.code();
        // 0F 90+cc /0
        self.asm.extend(&[0x0F, 0x90 | cond as u8, 0xC0 | d]);
        dynasm!(self.asm ; .arch x86 ; movzx Rd(d), Rb(d));
    }

    /// `movzx dst, src8` / `movsx dst, src8`
    pub fn extend8(&mut self, dst: Reg, src: Reg, signed: bool) {
        if signed {
            dynasm!(self.asm ; .arch x86 ; movsx Rd(dst.code()), Rb(src.code()));
        } else {
            dynasm!(self.asm ; .arch x86 ; movzx Rd(dst.code()), Rb(src.code()));
        }
    }

    /// `movsx dst, src16`
    pub fn extend16_signed(&mut self, dst: Reg, src: Reg) {
        dynasm!(self.asm ; .arch x86 ; movsx Rd(dst.code()), Rw(src.code()));
    }

    /// `jcc label` (rel32).
    pub fn jcc(&mut self, cond: Cond, label: DynamicLabel) {
        self.asm.extend(&[0x0F, 0x80 | cond as u8]);
        self.asm.push_i32(0);
        // A relative 4-byte field ending here, measured from here.
        self.asm.dynamic_reloc(label, 0, 4, 0, 2);
    }

    /// `jmp label` (rel32).
    pub fn jmp(&mut self, label: DynamicLabel) {
        dynasm!(self.asm ; .arch x86 ; jmp =>label);
    }

    /// `call label` (near, rel32).
    pub fn call(&mut self, label: DynamicLabel) {
        dynasm!(self.asm ; .arch x86 ; call =>label);
    }

    /// `call dword fs:[index*8 + disp]` (near indirect through a context table).
    pub fn call_context_indexed(&mut self, index: Reg, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; fs call DWORD [Rd(index.code())*8 + disp]);
    }

    /// `call dword fs:[disp]` (near indirect through a context word).
    pub fn call_context(&mut self, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; fs call DWORD [disp]);
    }

    /// `call far fword fs:[disp]` (through a far pointer in the context block).
    pub fn call_far_context(&mut self, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; fs callf FWORD [disp]);
    }

    /// `lea index, [index*8 + table] ; jmp index`: a jump into the table of `jmp rel32`
    /// entries at `table` ([`Encoder::table_entry`]). The code segment is execute-only and has
    /// base 0, so the table cannot be read and the target is a linear address: the displacement
    /// is the table's code offset, a relocation the runtime adds the code's base to when it
    /// installs the code (see `abi`, "Code addresses").
    pub fn jmp_table(&mut self, index: Reg, table: DynamicLabel) {
        // 8D /r with SIB (scale 8, no base) and disp32: lea index, [index*8 + disp32].
        let reg = index.code();
        self.asm
            .extend(&[0x8D, 0x04 | (reg << 3), 0xC5 | (reg << 3)]);
        self.asm.absolute_label_u32(table);
        dynasm!(self.asm ; .arch x86 ; jmp Rd(reg));
    }

    /// A jump-table entry ([`JUMP_TABLE_ENTRY_BYTES`]): `jmp rel32` to `label`, padded with
    /// `int3`.
    pub fn table_entry(&mut self, label: DynamicLabel) {
        let start = self.offset();
        dynasm!(self.asm ; .arch x86 ; jmp =>label);
        while self.offset() - start < JUMP_TABLE_ENTRY_BYTES {
            self.asm.push(crate::compiler::assembler::PADDING_BYTE);
        }
    }

    /// `mov ds, word fs:[disp]`
    pub fn load_ds_from_context(&mut self, disp: i32) {
        self.asm
            .extend(&[PREFIX_FS, OPCODE_MOV_TO_SREG, MODRM_DS_DISP32]);
        self.asm.push_i32(disp);
    }

    /// `push reg`
    pub fn push_r(&mut self, reg: Reg) {
        dynasm!(self.asm ; .arch x86 ; push Rd(reg.code()));
    }

    /// `push imm`
    pub fn push_i(&mut self, imm: i32) {
        if fits_i8(imm) {
            dynasm!(self.asm ; .arch x86 ; push BYTE imm as i8);
        } else {
            dynasm!(self.asm ; .arch x86 ; push DWORD imm);
        }
    }

    /// `push dword [mem]`
    pub fn push_m(&mut self, mem: Mem) {
        self.memory_form(None, &[0xFF], 6, mem);
    }

    /// `push ebp ; mov ebp, esp`
    pub fn enter_frame(&mut self) {
        dynasm!(self.asm ; .arch x86 ; push ebp ; mov ebp, esp);
    }

    /// `sub esp, imm32` with a patchable immediate; returns the immediate's offset.
    pub fn sub_esp_patchable(&mut self) -> u32 {
        dynasm!(self.asm ; .arch x86 ; sub esp, DWORD 0);
        self.offset() - 4
    }

    /// `cmp esp, imm32` with a patchable immediate; returns the immediate's offset.
    pub fn cmp_esp_patchable(&mut self) -> u32 {
        dynasm!(self.asm ; .arch x86 ; cmp esp, DWORD 0);
        self.offset() - 4
    }

    /// `leave ; ret bytes`
    pub fn leave_ret(&mut self, pop_bytes: u16) {
        if pop_bytes == 0 {
            dynasm!(self.asm ; .arch x86 ; leave ; ret);
        } else {
            dynasm!(self.asm ; .arch x86 ; leave ; ret pop_bytes as i16);
        }
    }

    /// `push dword [esp + disp]` (re-pushes an argument in an import thunk).
    pub fn push_stack_argument(&mut self, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; push DWORD [esp + disp]);
    }

    /// `ret bytes` (near).
    pub fn ret(&mut self, pop_bytes: u16) {
        if pop_bytes == 0 {
            dynasm!(self.asm ; .arch x86 ; ret);
        } else {
            dynasm!(self.asm ; .arch x86 ; ret pop_bytes as i16);
        }
    }

    /// `fs mov dst, [index*8 + disp]` (a table element's word).
    pub fn load_context_indexed(&mut self, dst: Reg, index: Reg, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; fs mov Rd(dst.code()), [Rd(index.code())*8 + disp]);
    }

    /// `fs mov dst, [index*4 + disp]` (a table element: one reference word).
    pub fn load_context_indexed4(&mut self, dst: Reg, index: Reg, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; fs mov Rd(dst.code()), [Rd(index.code())*4 + disp]);
    }

    /// `fs mov [index*4 + disp], src` (a table element: one reference word).
    pub fn store_context_indexed4(&mut self, index: Reg, src: Reg, disp: i32) {
        dynasm!(self.asm ; .arch x86 ; fs mov [Rd(index.code())*4 + disp], Rd(src.code()));
    }

    /// `cdq`
    pub fn cdq(&mut self) {
        dynasm!(self.asm ; .arch x86 ; cdq);
    }

    /// `div reg` / `idiv reg`
    pub fn div(&mut self, divisor: Reg, signed: bool) {
        if signed {
            dynasm!(self.asm ; .arch x86 ; idiv Rd(divisor.code()));
        } else {
            dynasm!(self.asm ; .arch x86 ; div Rd(divisor.code()));
        }
    }

    /// `ud2`
    pub fn ud2(&mut self) {
        dynasm!(self.asm ; .arch x86 ; ud2);
    }

    /// `int3` padding bytes.
    pub fn int3(&mut self) {
        dynasm!(self.asm ; .arch x86 ; int3);
    }
}
