//! The macro-assembler: typed wasm operations lowered to i386, with the value stack, register
//! allocation (single registers and pairs), frames, spill slots and trap stubs. The
//! [`visitor`](super::visitor) calls it in wasm terms (value types, operators, labels, memory
//! arguments) and never sees a register; the [`Encoder`] below it emits instructions.
//!
//! # The value stack
//!
//! Every entry has a wasm [`ValType`] and a [`Value`] saying where it is right now: constants
//! stay immediates, `local.get` stays a reference to the local, comparisons stay in EFLAGS
//! ([`Value::Flags`], top of stack only) until something needs them, and computed values live in
//! a register (32-bit types) or a register pair (64-bit types: low, high). A float's bits move
//! exactly like an integer of its width (see [`crate::abi`]); float arithmetic works on memory
//! operands through the x87 library ([`float`]).
//!
//! Values are spilled to fixed 8-byte frame slots (one per stack depth) when registers run out,
//! before calls, and at control-flow joins, so every join sees the same canonical state:
//! everything below the block's height in its slot, the block's result (if any) in EAX
//! (32-bit) or EDX:EAX (64-bit).
//!
//! # Registers
//!
//! The value registers are EAX, ECX, EDX, plus — when the pre-scan says the function may need
//! them — the callee-saved registers that hold no pinned local. The set is fixed before the
//! prologue is emitted ([`Masm::new`]) and the prologue saves every callee-saved register in it,
//! so the ABI's callee-saved promise holds (see [`crate::abi`]). Up to three hot 32-bit locals
//! live in callee-saved registers for the whole function ("pinned"); they need no spilling at
//! joins. In `naive` mode nothing is pinned and every value is spilled after every operator —
//! the baseline the code-size test measures against.
//!
//! # Linear time
//!
//! Every operation is amortized O(1) in the stack depth and the number of locals:
//! - the entries that still refer to a local form an intrusive chain per local, so
//!   `local.set`/`local.tee` visit only those entries (each at most once between its push and
//!   its pop);
//! - every entry below a watermark is known to be in its slot, so spilling before a call or a
//!   join visits each entry once;
//! - each register knows the depth of the entry that owns it, so choosing a spill victim,
//!   moving a value out of a register and resetting the allocator after a join look at the
//!   eight registers, not the stack.
//!
//! [`Masm::work`] counts the stack entries, chain links and registers visited; the compiler's
//! tests bound it by a constant times the module size for adversarial shapes.
//!
//! # Files
//!
//! - this file: the value stack, registers, frame layout, traps, prologue and epilogue;
//! - [`int32`]: i32 arithmetic, comparisons, shifts, division, bit counts;
//! - [`int64`]: the same for i64 (register pairs, carries, the 64-bit division helper);
//! - [`access`]: locals, globals, linear memory with the checks of both isolation modes,
//!   `select`;
//! - [`bulk`]: `memory.copy`, `memory.fill`, `memory.init`, `data.drop` (string instructions);
//! - [`multi`]: multi-value joins, branches, calls and returns (values in slots);
//! - [`control`]: block joins, branches, `br_table`, calls, `call_indirect`, returns;
//! - [`float`]: f32/f64 arithmetic, comparisons and conversions (x87, memory operands);
//! - [`reference`]: references (one word each) and the table operators.

mod access;
mod bulk;
mod control;
mod float;
mod int32;
mod int64;
mod module;
mod multi;
mod reference;
#[cfg(test)]
mod tests;

pub use crate::compiler::float::{
    Arithmetic, Comparison, FloatType, IntType, MinMax, Rounding, SignOperation, Signedness,
};
pub use access::Access;
pub use bulk::DataSegmentRef;
pub use control::Condition;
pub use float::{Conversion, FloatBinary, FloatUnary};
pub use int32::{IntBinary, IntCompare, IntUnary};
pub use int64::Helpers;
pub use module::{emit_entry_stub, emit_import_thunk, finish_entry_hook};
pub use multi::{Carry, results_area_bytes};
pub use reference::ElementSegmentRef;

use super::assembler::DynamicLabel;
use super::encoder::{Alu, Cond, Encoder, Mem, Reg, Width};
use crate::Isolation;
use crate::abi::{self, TrapKind, ValType, value_bytes};
use crate::error::CompileError;
use alloc::vec::Vec;

/// A code label (ISA-neutral for the visitor: it only allocates, binds and targets them).
pub type Label = DynamicLabel;

/// Where one value of the wasm operand stack is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A 32-bit value in a register, owned by this entry.
    Reg(Reg),
    /// A 64-bit value in a register pair (low, high), owned by this entry.
    Pair(Reg, Reg),
    /// A constant not yet materialised (a 32-bit type's bits sign-extended).
    Imm(i64),
    /// The current value of a local (materialised before the local is written).
    Local(u32),
    /// In the spill slot of its stack depth.
    Slot,
    /// The outcome of the last comparison, still in EFLAGS (an `i32`, only ever on top).
    Flags(Cond),
}

/// One operand-stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The wasm type.
    pub ty: ValType,
    /// Where it is.
    pub value: Value,
}

/// A 32-bit operand for a two-operand instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A register (owned by the caller until freed, unless it is a pinned local's).
    Reg(Reg),
    /// An immediate.
    Imm(i32),
    /// A frame memory operand (a local or a spill slot).
    Mem(Mem),
}

/// A 64-bit operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand64 {
    /// A register pair (low, high), owned by the caller until freed.
    Pair(Reg, Reg),
    /// An immediate.
    Imm(i64),
    /// The low word's frame operand (the high word is 4 bytes on).
    Mem(Mem),
}

/// Caller-saved value registers, in allocation order.
const CALLER_SAVED: [Reg; 3] = [Reg::Eax, Reg::Ecx, Reg::Edx];
/// Callee-saved registers: pinned locals first take EDI, then ESI, then EBX.
pub const CALLEE_SAVED: [Reg; 3] = [Reg::Edi, Reg::Esi, Reg::Ebx];
/// Allocation order over every value register.
const ALLOCATION_ORDER: [Reg; 6] = [Reg::Eax, Reg::Ecx, Reg::Edx, Reg::Ebx, Reg::Esi, Reg::Edi];
/// Locals zeroed with one `push 0` per word up to this many words, with a loop above it.
const UNROLLED_LOCAL_ZEROING: u32 = 8;
/// Whether `ty` is a reference type (one word, null = [`abi::NULL_REFERENCE`]).
pub const fn is_reference(ty: ValType) -> bool {
    matches!(ty, ValType::FuncRef | ValType::ExternRef)
}

/// "No depth" in the per-register owner table and the local chains.
const NONE: u32 = u32::MAX;

/// What kind of operator a source-map entry covers; decides how a CPU fault there is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SiteClass {
    /// Any operator without a more specific class.
    Plain = 0,
    /// A linear-memory load or store: a #GP here is an out-of-bounds access.
    Memory = 1,
    /// A far call to an import: a #GP here is an unlinked import.
    Import = 2,
    /// Function prologue / a call: a #SS here is stack exhaustion.
    Call = 3,
}

/// One source-map entry: code from `code_offset` on belongs to the operator at `wasm_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceEntry {
    /// Offset in the code segment.
    pub code_offset: u32,
    /// Byte offset of the operator in the module.
    pub wasm_offset: u32,
    /// The wasm function index.
    pub function: u32,
    /// The operator's class.
    pub class: SiteClass,
}

/// A `ud2` trap site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapSite {
    /// Code offset of the `ud2`.
    pub code_offset: u32,
    /// What it means.
    pub kind: TrapKind,
}

/// An out-of-line trap stub still to be emitted at the end of the function.
#[derive(Debug, Clone, Copy)]
struct PendingTrap {
    label: DynamicLabel,
    kind: TrapKind,
    wasm_offset: u32,
}

/// Per-module output of the macro-assembler, shared by all functions.
#[derive(Debug, Default)]
pub struct ModuleCode {
    /// The encoder (the code buffer).
    pub enc: Encoder,
    /// The source map, sorted by code offset.
    pub source_map: Vec<SourceEntry>,
    /// Every `ud2` trap site, sorted by code offset.
    pub trap_sites: Vec<TrapSite>,
    /// Module-wide helper routines emitted on first use.
    pub helpers: Helpers,
    /// Stack entries, chain links and registers visited (see the module docs).
    pub work: u64,
    /// The entry stub's FPU hook: the label its first `jmp` targets (bound by
    /// [`finish_entry_hook`]).
    pub entry_hook: Option<DynamicLabel>,
    /// The FPU reset a float lowering asks for on first use (the x87 encoder's): when set, the
    /// entry stub runs it before every call into the module.
    pub fpu_reset: Option<fn(&mut Encoder)>,
}

/// The intrusive per-local chain link of one stack entry.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// The local this entry was pushed as a reference to ([`NONE`] if none, or unlinked).
    local: u32,
    /// The next deeper entry of the same chain ([`NONE`] at the end).
    next: u32,
}

/// How one function is laid out, decided before its body is compiled.
#[derive(Debug, Clone, Default)]
pub struct FrameLayout {
    /// Type of every local, parameters first.
    pub local_types: Vec<ValType>,
    /// Number of parameters.
    pub params: u32,
    /// Locals pinned to callee-saved registers: (local, register).
    pub pinned: Vec<(u32, Reg)>,
    /// Whether the value stack may use the callee-saved registers no local is pinned to.
    pub wide_value_registers: bool,
}

/// The per-function macro-assembler state.
pub struct Masm<'m> {
    /// The module's code buffer, source map and trap sites.
    pub out: &'m mut ModuleCode,
    /// The isolation mode compiled for.
    pub isolation: Isolation,
    /// Spill everything after every operator.
    pub naive: bool,
    /// This function's index.
    pub function: u32,
    /// Offset of the operator being compiled.
    pub wasm_offset: u32,
    stack: Vec<Entry>,
    links: Vec<Link>,
    /// The topmost entry of each local's chain.
    local_top: Vec<u32>,
    /// The depth of the stack entry owning each register ([`NONE`]: free or a temporary).
    owner: [u32; 8],
    /// Registers in use (by stack values or by temporaries), bit per encoding number.
    used: u8,
    /// Registers the value stack may use.
    value_registers: u8,
    /// Every entry below this depth is in its slot.
    spilled_below: usize,
    local_types: Vec<ValType>,
    /// Frame offset of every local (parameters above EBP, others below the saved registers).
    local_offsets: Vec<i32>,
    /// Bytes of non-parameter locals.
    local_bytes: u32,
    params: u32,
    param_bytes: u32,
    /// Callee-saved registers the prologue saves, in save-slot order.
    saved: Vec<Reg>,
    pinned: Vec<(u32, Reg)>,
    pinned_mask: u8,
    /// Deepest spill slot used + 1.
    max_slots: u32,
    /// Largest outgoing argument area + return frame, in bytes.
    max_outgoing: u32,
    traps: Vec<PendingTrap>,
    /// Offset of the software stack check's immediate.
    stack_check_at: Option<u32>,
    /// Offset of the `sub esp, imm32` immediate (once the prologue is emitted).
    frame_size_at: Option<u32>,
}

/// The bit of `reg` in a register mask.
pub const fn bit(reg: Reg) -> u8 {
    1 << reg.code()
}

/// A vector of `len` copies of `value`, or `OutOfMemory`.
pub(crate) fn filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>, CompileError> {
    let mut vector = Vec::new();
    vector
        .try_reserve_exact(len)
        .map_err(|_| CompileError::OutOfMemory)?;
    vector.resize(len, value);
    Ok(vector)
}

/// Pushes onto a vector whose growth follows the input, failing with `OutOfMemory`.
pub(crate) fn try_push<T>(vector: &mut Vec<T>, value: T) -> Result<(), CompileError> {
    vector
        .try_reserve(1)
        .map_err(|_| CompileError::OutOfMemory)?;
    vector.push(value);
    Ok(())
}

impl<'m> Masm<'m> {
    /// A macro-assembler for one function laid out as `layout`.
    pub fn new(
        out: &'m mut ModuleCode,
        isolation: Isolation,
        naive: bool,
        function: u32,
        layout: FrameLayout,
    ) -> Result<Masm<'m>, CompileError> {
        let pinned_mask = layout
            .pinned
            .iter()
            .fold(0, |mask, (_, reg)| mask | bit(*reg));
        let mut value_registers = CALLER_SAVED.iter().fold(0, |mask, reg| mask | bit(*reg));
        let mut saved: Vec<Reg> = layout.pinned.iter().map(|(_, reg)| *reg).collect();
        if layout.wide_value_registers {
            for reg in CALLEE_SAVED {
                if pinned_mask & bit(reg) == 0 {
                    value_registers |= bit(reg);
                    saved.push(reg);
                }
            }
        }
        let count = layout.local_types.len();
        let mut local_offsets = filled(count, 0i32)?;
        let params = layout.params as usize;
        let param_bytes: u32 = layout.local_types[..params]
            .iter()
            .map(|&ty| value_bytes(ty))
            .sum();
        // Parameter i sits above the later ones (pushed after it).
        let mut above = 8u32;
        for index in (0..params).rev() {
            local_offsets[index] = above as i32;
            above += value_bytes(layout.local_types[index]);
        }
        let mut below = 4 * saved.len() as u32;
        for (offset, ty) in local_offsets[params..]
            .iter_mut()
            .zip(&layout.local_types[params..])
        {
            below += value_bytes(*ty);
            *offset = -(below as i32);
        }
        let local_bytes = below - 4 * saved.len() as u32;
        Ok(Masm {
            out,
            isolation,
            naive,
            function,
            wasm_offset: 0,
            stack: Vec::new(),
            links: Vec::new(),
            local_top: filled(count, NONE)?,
            owner: [NONE; 8],
            used: 0,
            value_registers,
            spilled_below: 0,
            local_types: layout.local_types,
            local_offsets,
            local_bytes,
            params: layout.params,
            param_bytes,
            saved,
            pinned: layout.pinned,
            pinned_mask,
            max_slots: 0,
            max_outgoing: 0,
            traps: Vec::new(),
            stack_check_at: None,
            frame_size_at: None,
        })
    }

    /// The encoder.
    pub fn enc(&mut self) -> &mut Encoder {
        &mut self.out.enc
    }

    /// A new label.
    pub fn new_label(&mut self) -> Label {
        self.out.enc.new_label()
    }

    /// Binds `label` here.
    pub fn bind(&mut self, label: Label) {
        self.out.enc.bind(label);
    }

    /// Records that code from here on belongs to the operator at `wasm_offset`.
    pub fn mark(&mut self, wasm_offset: u32, class: SiteClass) -> Result<(), CompileError> {
        self.wasm_offset = wasm_offset;
        let code_offset = self.out.enc.offset();
        let entry = SourceEntry {
            code_offset,
            wasm_offset,
            function: self.function,
            class,
        };
        match self.out.source_map.last_mut() {
            Some(last) if last.code_offset == code_offset => *last = entry,
            _ => try_push(&mut self.out.source_map, entry)?,
        }
        Ok(())
    }

    /// The value-stack height.
    pub fn height(&self) -> usize {
        self.stack.len()
    }

    /// The top entry.
    pub fn peek(&self) -> Option<Entry> {
        self.stack.last().copied()
    }

    /// The entry `down` below the top (0 = the top).
    pub fn peek_at(&self, down: usize) -> Option<Entry> {
        let len = self.stack.len();
        len.checked_sub(down + 1).map(|depth| self.stack[depth])
    }

    // ---- Frame addressing. ----

    /// The type of local `index`.
    pub fn local_type(&self, index: u32) -> Result<ValType, CompileError> {
        self.local_types
            .get(index as usize)
            .copied()
            .ok_or(CompileError::Internal("local index"))
    }

    /// The frame operand of local `index` (its home; a pinned local's value is in its register).
    pub fn local_mem(&self, index: u32) -> Mem {
        Mem::Frame(self.local_offsets.get(index as usize).copied().unwrap_or(0))
    }

    /// Where a 32-bit local lives: its pinned register, or its frame operand.
    pub fn local_home(&self, index: u32) -> Operand {
        match self.pinned_register(index) {
            Some(reg) => Operand::Reg(reg),
            None => Operand::Mem(self.local_mem(index)),
        }
    }

    /// The register local `index` is pinned to, if any.
    pub fn pinned_register(&self, index: u32) -> Option<Reg> {
        self.pinned
            .iter()
            .find(|(local, _)| *local == index)
            .map(|(_, reg)| *reg)
    }

    /// Whether `reg` holds a pinned local (and must not be modified by a value operation).
    pub fn is_pinned(&self, reg: Reg) -> bool {
        self.pinned_mask & bit(reg) != 0
    }

    /// The spill slot of stack depth `depth` (its low word).
    pub fn slot_mem(&mut self, depth: usize) -> Mem {
        let depth = depth as u32;
        self.max_slots = self.max_slots.max(depth + 1);
        let saved = 4 * self.saved.len() as u32;
        Mem::Frame(-((saved + self.local_bytes + abi::SLOT_BYTES * (depth + 1)) as i32))
    }

    // ---- Registers. ----

    /// Marks `reg` used.
    pub fn claim(&mut self, reg: Reg) {
        self.used |= bit(reg);
    }

    /// Marks `reg` free (a pinned register is never freed).
    pub fn free(&mut self, reg: Reg) {
        if !self.is_pinned(reg) {
            self.used &= !bit(reg);
            self.owner[reg.code() as usize] = NONE;
        }
    }

    /// Frees the register of an operand, if it has one.
    pub fn free_operand(&mut self, operand: Operand) {
        if let Operand::Reg(reg) = operand {
            self.free(reg);
        }
    }

    /// Frees the registers of a 64-bit operand, if it has them.
    pub fn free_operand64(&mut self, operand: Operand64) {
        if let Operand64::Pair(low, high) = operand {
            self.free(low);
            self.free(high);
        }
    }

    /// Spills the deepest register-held stack value that owns a register outside `keep` (so
    /// that spilling it frees one the caller may use); returns whether one was found.
    fn spill_one(&mut self, keep: u8) -> Result<bool, CompileError> {
        let mut victim = NONE;
        for reg in ALLOCATION_ORDER {
            self.out.work += 1;
            let depth = self.owner[reg.code() as usize];
            if depth != NONE && keep & bit(reg) == 0 {
                victim = victim.min(depth);
            }
        }
        if victim == NONE {
            return Ok(false);
        }
        self.spill_at(victim as usize)?;
        Ok(true)
    }

    /// A free value register not in `avoid`, spilling a stack value if none is free.
    pub fn alloc_avoiding(&mut self, avoid: u8) -> Result<Reg, CompileError> {
        loop {
            let free = self.value_registers & !self.used & !avoid;
            if free != 0 {
                for reg in ALLOCATION_ORDER {
                    if free & bit(reg) != 0 {
                        self.claim(reg);
                        return Ok(reg);
                    }
                }
            }
            if !self.spill_one(avoid)? {
                return Err(CompileError::Internal("out of registers"));
            }
        }
    }

    /// A free value register.
    pub fn alloc(&mut self) -> Result<Reg, CompileError> {
        self.alloc_avoiding(0)
    }

    /// A free register with a byte form (EAX, ECX, EDX, EBX), not in `avoid`.
    pub fn alloc_byte_avoiding(&mut self, avoid: u8) -> Result<Reg, CompileError> {
        self.alloc_avoiding(avoid | bit(Reg::Esi) | bit(Reg::Edi))
    }

    /// A free register pair (low, high), neither in `avoid`.
    pub fn alloc_pair_avoiding(&mut self, avoid: u8) -> Result<(Reg, Reg), CompileError> {
        let low = self.alloc_avoiding(avoid)?;
        let high = self.alloc_avoiding(avoid | bit(low))?;
        Ok((low, high))
    }

    /// Makes `reg` free for the caller and claims it: a stack value in it moves to another
    /// register (not in `avoid`) or to its slot. `reg` must not be held by a temporary.
    pub fn take(&mut self, reg: Reg, avoid: u8) -> Result<(), CompileError> {
        self.out.work += 1;
        let depth = self.owner[reg.code() as usize];
        if depth != NONE {
            let depth = depth as usize;
            let free = self.value_registers & !self.used & !avoid & !bit(reg);
            let other = ALLOCATION_ORDER
                .iter()
                .copied()
                .find(|other| free & bit(*other) != 0);
            match (other, self.stack[depth].value) {
                (Some(other), Value::Reg(_)) => {
                    self.out.enc.mov_rr(other, reg);
                    self.set_value(depth, Value::Reg(other));
                }
                (Some(other), Value::Pair(low, high)) => {
                    self.out.enc.mov_rr(other, reg);
                    let moved = if low == reg {
                        Value::Pair(other, high)
                    } else {
                        Value::Pair(low, other)
                    };
                    self.used &= !bit(reg);
                    self.set_value(depth, moved);
                }
                _ => self.spill_at(depth)?,
            }
            self.used &= !bit(reg);
            self.owner[reg.code() as usize] = NONE;
        } else if self.used & bit(reg) != 0 {
            return Err(CompileError::Internal("register held by a temporary"));
        }
        self.claim(reg);
        Ok(())
    }

    /// Frees every register in `mask` of stack values (moving or spilling them), so the caller
    /// may clobber them; they stay unclaimed.
    pub fn clobber(&mut self, mask: u8) -> Result<(), CompileError> {
        for reg in ALLOCATION_ORDER {
            if mask & bit(reg) != 0 {
                self.take(reg, mask)?;
                self.free(reg);
            }
        }
        Ok(())
    }

    // ---- The value stack. ----

    /// Replaces the value of the entry at `depth`, recording the registers it now owns (the
    /// caller has dealt with the registers of the old value).
    fn set_value(&mut self, depth: usize, value: Value) {
        self.stack[depth].value = value;
        match value {
            Value::Reg(reg) => {
                self.claim(reg);
                self.owner[reg.code() as usize] = depth as u32;
            }
            Value::Pair(low, high) => {
                self.claim(low);
                self.claim(high);
                self.owner[low.code() as usize] = depth as u32;
                self.owner[high.code() as usize] = depth as u32;
            }
            _ => {}
        }
    }

    /// Pushes a value of type `ty`.
    pub fn push(&mut self, ty: ValType, value: Value) -> Result<(), CompileError> {
        let depth = self.stack.len();
        try_push(
            &mut self.stack,
            Entry {
                ty,
                value: Value::Slot,
            },
        )?;
        let link = match value {
            Value::Local(local) if (local as usize) < self.local_top.len() => {
                let next = self.local_top[local as usize];
                self.local_top[local as usize] = depth as u32;
                Link { local, next }
            }
            _ => Link {
                local: NONE,
                next: NONE,
            },
        };
        try_push(&mut self.links, link)?;
        self.set_value(depth, value);
        Ok(())
    }

    /// Pushes a 32-bit value in `reg`.
    pub fn push_reg(&mut self, ty: ValType, reg: Reg) -> Result<(), CompileError> {
        self.push(ty, Value::Reg(reg))
    }

    /// Pops the top entry; its registers stay claimed for the caller.
    pub fn pop_entry(&mut self) -> Result<Entry, CompileError> {
        let entry = self
            .stack
            .pop()
            .ok_or(CompileError::Internal("value stack underflow"))?;
        let depth = self.stack.len();
        if let Some(link) = self.links.pop()
            && link.local != NONE
            && self.local_top[link.local as usize] == depth as u32
        {
            self.local_top[link.local as usize] = link.next;
        }
        match entry.value {
            Value::Reg(reg) => self.owner[reg.code() as usize] = NONE,
            Value::Pair(low, high) => {
                self.owner[low.code() as usize] = NONE;
                self.owner[high.code() as usize] = NONE;
            }
            _ => {}
        }
        self.spilled_below = self.spilled_below.min(depth);
        Ok(entry)
    }

    /// Pops the top entry and frees its registers.
    pub fn drop_top(&mut self) -> Result<(), CompileError> {
        let entry = self.pop_entry()?;
        self.release(entry.value);
        Ok(())
    }

    /// Frees the registers of a popped value.
    fn release(&mut self, value: Value) {
        match value {
            Value::Reg(reg) => self.free(reg),
            Value::Pair(low, high) => {
                self.free(low);
                self.free(high);
            }
            _ => {}
        }
    }

    /// Loads a 32-bit `value` popped from depth `depth` into `dst` (claimed by the caller).
    fn materialize_into(&mut self, value: Value, depth: usize, dst: Reg) {
        match value {
            Value::Reg(src) | Value::Pair(src, _) => self.out.enc.mov_rr(dst, src),
            Value::Imm(imm) => self.out.enc.mov_ri(dst, imm as i32),
            Value::Local(index) => match self.local_home(index) {
                Operand::Reg(src) => self.out.enc.mov_rr(dst, src),
                Operand::Mem(mem) => self.out.enc.load32(dst, mem),
                Operand::Imm(imm) => self.out.enc.mov_ri(dst, imm),
            },
            Value::Slot => {
                let mem = self.slot_mem(depth);
                self.out.enc.load32(dst, mem);
            }
            Value::Flags(cond) => self.out.enc.setcc_zx(cond, dst),
        }
    }

    /// Loads a 64-bit `value` popped from depth `depth` into (`low`, `high`), both claimed by
    /// the caller and distinct.
    fn materialize_pair_into(&mut self, value: Value, depth: usize, low: Reg, high: Reg) {
        let enc = &mut self.out.enc;
        match value {
            Value::Pair(src_low, src_high) => {
                if src_low == high && src_high == low {
                    enc.xchg(low, high);
                } else if src_high == low {
                    // `low` still holds the source's high half: move it out first.
                    enc.mov_rr(high, src_high);
                    enc.mov_rr(low, src_low);
                } else {
                    enc.mov_rr(low, src_low);
                    enc.mov_rr(high, src_high);
                }
            }
            Value::Imm(imm) => {
                enc.mov_ri(low, imm as i32);
                enc.mov_ri(high, (imm >> 32) as i32);
            }
            Value::Local(index) => {
                let mem = self.local_mem(index);
                self.out.enc.load32(low, mem);
                self.out.enc.load32(high, mem.offset_by(4));
            }
            Value::Slot => {
                let mem = self.slot_mem(depth);
                self.out.enc.load32(low, mem);
                self.out.enc.load32(high, mem.offset_by(4));
            }
            Value::Reg(_) | Value::Flags(_) => {}
        }
    }

    /// Pops the top (32-bit) value into a register the caller owns.
    pub fn pop_to_reg(&mut self) -> Result<Reg, CompileError> {
        self.pop_to_reg_avoiding(0)
    }

    /// Pops the top (32-bit) value into a register not in `avoid`, which the caller owns. A
    /// pinned local is copied: the caller may modify the register it gets.
    pub fn pop_to_reg_avoiding(&mut self, avoid: u8) -> Result<Reg, CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_entry()?.value;
        match value {
            Value::Reg(reg) if avoid & bit(reg) == 0 => Ok(reg),
            Value::Reg(reg) => {
                let dst = self.alloc_avoiding(avoid | bit(reg))?;
                self.out.enc.mov_rr(dst, reg);
                self.free(reg);
                Ok(dst)
            }
            Value::Flags(cond) => {
                let dst = self.alloc_byte_avoiding(avoid)?;
                self.out.enc.setcc_zx(cond, dst);
                Ok(dst)
            }
            Value::Pair(..) => Err(CompileError::Internal("64-bit value as 32-bit")),
            other => {
                let dst = self.alloc_avoiding(avoid)?;
                self.materialize_into(other, depth, dst);
                Ok(dst)
            }
        }
    }

    /// Pops the top (32-bit) value into the specific register `dst` (claimed for the caller).
    pub fn pop_to_specific(&mut self, dst: Reg, avoid: u8) -> Result<(), CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_entry()?.value;
        if value == Value::Reg(dst) {
            return Ok(());
        }
        self.take(dst, avoid)?;
        self.materialize_into(value, depth, dst);
        self.release(value);
        self.claim(dst);
        Ok(())
    }

    /// Pops the top (64-bit) value into a register pair the caller owns, avoiding `avoid`.
    pub fn pop_to_pair_avoiding(&mut self, avoid: u8) -> Result<(Reg, Reg), CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_entry()?.value;
        match value {
            Value::Pair(low, high) if avoid & (bit(low) | bit(high)) == 0 => Ok((low, high)),
            Value::Pair(low, high) => {
                let (new_low, new_high) = self.alloc_pair_avoiding(avoid | bit(low) | bit(high))?;
                self.out.enc.mov_rr(new_low, low);
                self.out.enc.mov_rr(new_high, high);
                self.free(low);
                self.free(high);
                Ok((new_low, new_high))
            }
            other => {
                let (low, high) = self.alloc_pair_avoiding(avoid)?;
                self.materialize_pair_into(other, depth, low, high);
                Ok((low, high))
            }
        }
    }

    /// Pops the top (64-bit) value into exactly (`low`, `high`) (claimed for the caller).
    pub fn pop_to_specific_pair(&mut self, low: Reg, high: Reg) -> Result<(), CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_entry()?.value;
        if value == Value::Pair(low, high) {
            return Ok(());
        }
        let mask = bit(low) | bit(high);
        // The popped value's own registers are not on the stack any more: claim them while
        // the targets are cleared, so they are not handed out.
        if let Value::Pair(src_low, src_high) = value {
            self.claim(src_low);
            self.claim(src_high);
            self.used &= !(mask & (bit(src_low) | bit(src_high)));
        }
        self.take(low, mask)?;
        self.take(high, mask)?;
        self.materialize_pair_into(value, depth, low, high);
        if let Value::Pair(src_low, src_high) = value {
            for reg in [src_low, src_high] {
                if mask & bit(reg) == 0 {
                    self.free(reg);
                }
            }
        }
        self.claim(low);
        self.claim(high);
        Ok(())
    }

    /// Pops the top (32-bit) value as an operand: immediates and frame values stay in memory.
    pub fn pop_operand(&mut self) -> Result<Operand, CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_entry()?.value;
        Ok(match value {
            Value::Reg(reg) => Operand::Reg(reg),
            Value::Imm(imm) => Operand::Imm(imm as i32),
            Value::Local(index) => self.local_home(index),
            Value::Slot => Operand::Mem(self.slot_mem(depth)),
            Value::Flags(cond) => {
                let dst = self.alloc_byte_avoiding(0)?;
                self.out.enc.setcc_zx(cond, dst);
                Operand::Reg(dst)
            }
            Value::Pair(..) => return Err(CompileError::Internal("64-bit value as 32-bit")),
        })
    }

    /// Pops the top (64-bit) value as an operand: immediates and frame values stay in memory.
    pub fn pop_operand64(&mut self) -> Result<Operand64, CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_entry()?.value;
        Ok(match value {
            Value::Pair(low, high) => Operand64::Pair(low, high),
            Value::Imm(imm) => Operand64::Imm(imm),
            Value::Local(index) => Operand64::Mem(self.local_mem(index)),
            Value::Slot => Operand64::Mem(self.slot_mem(depth)),
            Value::Reg(_) | Value::Flags(_) => {
                return Err(CompileError::Internal("32-bit value as 64-bit"));
            }
        })
    }

    /// Turns a top-of-stack [`Value::Flags`] into a register value.
    pub fn materialize_flags(&mut self) -> Result<(), CompileError> {
        if let Some(Entry {
            ty,
            value: Value::Flags(cond),
        }) = self.peek()
        {
            self.pop_entry()?;
            let dst = self.alloc_byte_avoiding(0)?;
            self.out.enc.setcc_zx(cond, dst);
            self.push_reg(ty, dst)?;
        }
        Ok(())
    }

    /// A temporary register while spilling the entry at `depth` (which owns none): a free one,
    /// or the register of another entry that is stored to its slot first.
    fn spill_temporary(&mut self, depth: usize, byte: bool) -> Result<Reg, CompileError> {
        let avoid = if byte {
            bit(Reg::Esi) | bit(Reg::Edi)
        } else {
            0
        };
        let free = self.value_registers & !self.used & !avoid;
        if let Some(reg) = ALLOCATION_ORDER
            .iter()
            .copied()
            .find(|r| free & bit(*r) != 0)
        {
            self.claim(reg);
            return Ok(reg);
        }
        // Every usable register is held by the stack: spill one (storing a register value needs
        // no temporary) and reuse it.
        for reg in ALLOCATION_ORDER {
            self.out.work += 1;
            let owner = self.owner[reg.code() as usize];
            if avoid & bit(reg) == 0 && owner != NONE && owner as usize != depth {
                self.spill_at(owner as usize)?;
                self.claim(reg);
                return Ok(reg);
            }
        }
        Err(CompileError::Internal("no register to spill through"))
    }

    /// Stores the value at `depth` to its slot.
    fn spill_at(&mut self, depth: usize) -> Result<(), CompileError> {
        self.out.work += 1;
        let Entry { ty, value } = self.stack[depth];
        let slot = self.slot_mem(depth);
        let wide = value_bytes(ty) == 8;
        match value {
            Value::Slot => return Ok(()),
            Value::Reg(reg) => {
                self.out.enc.store32(slot, reg);
                self.free(reg);
            }
            Value::Pair(low, high) => {
                self.out.enc.store32(slot, low);
                self.out.enc.store32(slot.offset_by(4), high);
                self.free(low);
                self.free(high);
            }
            Value::Imm(imm) => {
                self.out.enc.store_imm(slot, imm as i32, Width::Dword);
                if wide {
                    self.out
                        .enc
                        .store_imm(slot.offset_by(4), (imm >> 32) as i32, Width::Dword);
                }
            }
            Value::Local(index) => match self.pinned_register(index) {
                Some(reg) => self.out.enc.store32(slot, reg),
                None => {
                    let mem = self.local_mem(index);
                    let temp = self.spill_temporary(depth, false)?;
                    self.out.enc.load32(temp, mem);
                    self.out.enc.store32(slot, temp);
                    if wide {
                        self.out.enc.load32(temp, mem.offset_by(4));
                        self.out.enc.store32(slot.offset_by(4), temp);
                    }
                    self.free(temp);
                }
            },
            Value::Flags(cond) => {
                let temp = self.spill_temporary(depth, true)?;
                self.out.enc.setcc_zx(cond, temp);
                self.out.enc.store32(slot, temp);
                self.free(temp);
            }
        }
        self.stack[depth].value = Value::Slot;
        Ok(())
    }

    /// Spills every stack value below `end` to its slot (each at most once until popped).
    pub fn spill_below(&mut self, end: usize) -> Result<(), CompileError> {
        let end = end.min(self.stack.len());
        for depth in self.spilled_below..end {
            self.spill_at(depth)?;
        }
        self.spilled_below = self.spilled_below.max(end);
        Ok(())
    }

    /// Spills the whole stack (control-flow joins, naive mode).
    pub fn spill_all(&mut self) -> Result<(), CompileError> {
        self.spill_below(self.stack.len())
    }

    /// Spills the top `count` entries (so a lowering can read them from their slots).
    pub fn spill_top(&mut self, count: usize) -> Result<(), CompileError> {
        let len = self.stack.len();
        let first = len
            .checked_sub(count)
            .ok_or(CompileError::Internal("value stack underflow"))?;
        for depth in first..len {
            self.spill_at(depth)?;
        }
        Ok(())
    }

    /// Before `local.set`/`local.tee` of `index`: the stack entries that still refer to the
    /// local's old value get it now (a free register, or their slot). Visits only those
    /// entries (the local's chain).
    pub fn detach_local(&mut self, index: u32) -> Result<(), CompileError> {
        let Some(&top) = self.local_top.get(index as usize) else {
            return Ok(());
        };
        let mut depth = top;
        self.local_top[index as usize] = NONE;
        while depth != NONE {
            self.out.work += 1;
            let at = depth as usize;
            let link = self.links[at];
            self.links[at].local = NONE;
            if self.stack[at].value == Value::Local(index) {
                let ty = self.stack[at].ty;
                let free = self.value_registers & !self.used;
                if value_bytes(ty) == 4 && free != 0 {
                    let reg = self.alloc()?;
                    self.materialize_into(Value::Local(index), at, reg);
                    self.set_value(at, Value::Reg(reg));
                } else {
                    self.spill_at(at)?;
                }
            }
            depth = link.next;
        }
        Ok(())
    }

    /// Drops values down to `height`, freeing their registers.
    pub fn truncate(&mut self, height: usize) -> Result<(), CompileError> {
        while self.stack.len() > height {
            self.drop_top()?;
        }
        Ok(())
    }

    /// Frees every register no stack value owns (after a truncation to a canonical height).
    pub fn reset_registers(&mut self) {
        self.used = 0;
        for reg in ALLOCATION_ORDER {
            self.out.work += 1;
            let owner = self.owner[reg.code() as usize];
            if owner != NONE && (owner as usize) < self.stack.len() {
                self.used |= bit(reg);
            } else {
                self.owner[reg.code() as usize] = NONE;
            }
        }
    }

    // ---- Traps. ----

    /// A label that traps with `kind` at the current operator (an out-of-line `ud2`).
    pub fn trap_label(&mut self, kind: TrapKind) -> Result<Label, CompileError> {
        let label = self.out.enc.new_label();
        try_push(
            &mut self.traps,
            PendingTrap {
                label,
                kind,
                wasm_offset: self.wasm_offset,
            },
        )?;
        Ok(label)
    }

    /// An unconditional trap here (`ud2` inline).
    pub fn trap_here(&mut self, kind: TrapKind) -> Result<(), CompileError> {
        let code_offset = self.out.enc.offset();
        try_push(&mut self.out.trap_sites, TrapSite { code_offset, kind })?;
        self.out.enc.ud2();
        Ok(())
    }

    /// Emits the out-of-line trap stubs (at the end of the function).
    fn emit_trap_stubs(&mut self) -> Result<(), CompileError> {
        for trap in core::mem::take(&mut self.traps) {
            self.mark(trap.wasm_offset, SiteClass::Plain)?;
            self.out.enc.bind(trap.label);
            self.trap_here(trap.kind)?;
        }
        Ok(())
    }

    // ---- Prologue and epilogue. ----

    /// The prologue at `label`: the software stack check, the frame, the saved callee-saved
    /// registers, zeroed locals and the pinned locals' registers.
    pub fn prologue(&mut self, body_offset: u32, label: Label) -> Result<(), CompileError> {
        self.mark(body_offset, SiteClass::Call)?;
        self.out.enc.bind(label);
        if self.isolation == Isolation::Software {
            let at = self.out.enc.cmp_esp_patchable();
            let trap = self.trap_label(TrapKind::StackExhausted)?;
            self.out.enc.jcc(Cond::Below, trap);
            self.stack_check_at = Some(at);
        }
        let enc = &mut self.out.enc;
        enc.enter_frame();
        for reg in &self.saved {
            enc.push_r(*reg);
        }
        let words = self.local_bytes / 4;
        if words <= UNROLLED_LOCAL_ZEROING {
            for _ in 0..words {
                enc.push_i(0);
            }
        } else {
            enc.mov_ri(Reg::Ecx, words as i32);
            let top = enc.new_label();
            enc.bind(top);
            enc.push_i(0);
            enc.alu_ri(Alu::Sub, Reg::Ecx, 1);
            enc.jcc(Cond::NotEqual, top);
        }
        self.frame_size_at = Some(enc.sub_esp_patchable());
        // Locals of a reference type start as null, not 0.
        for local in self.params..self.local_types.len() as u32 {
            if is_reference(self.local_type(local)?) && self.pinned_register(local).is_none() {
                let home = self.local_mem(local);
                self.out
                    .enc
                    .store_imm(home, abi::NULL_REFERENCE as i32, Width::Dword);
            }
        }
        for index in 0..self.pinned.len() {
            let (local, reg) = self.pinned[index];
            if local < self.params {
                let home = self.local_mem(local);
                self.out.enc.load32(reg, home);
            } else if is_reference(self.local_type(local)?) {
                self.out.enc.mov_ri(reg, abi::NULL_REFERENCE as i32);
            } else {
                self.out.enc.mov_ri(reg, 0);
            }
        }
        Ok(())
    }

    /// Restores the saved registers and returns, popping the arguments.
    pub fn epilogue(&mut self) {
        for index in 0..self.saved.len() {
            let reg = self.saved[index];
            self.out
                .enc
                .load32(reg, Mem::Frame(-4 * (index as i32 + 1)));
        }
        let pop = self.param_bytes as u16;
        self.out.enc.leave_ret(pop);
    }

    /// Ends the function: trap stubs, and the frame size and stack-check immediates patched.
    pub fn finish(&mut self) -> Result<(), CompileError> {
        self.emit_trap_stubs()?;
        let slots = abi::SLOT_BYTES
            .checked_mul(self.max_slots)
            .ok_or(CompileError::TooLarge {
                what: "operand stack of a function",
                limit: u32::MAX / abi::SLOT_BYTES,
            })?;
        let frame = (4 + 4 * self.saved.len() as u32)
            .checked_add(self.local_bytes)
            .and_then(|bytes| bytes.checked_add(slots))
            .and_then(|bytes| bytes.checked_add(self.max_outgoing))
            .and_then(|bytes| bytes.checked_add(abi::STACK_CHECK_RESERVE))
            .ok_or(CompileError::TooLarge {
                what: "frame of a function",
                limit: u32::MAX,
            })?;
        if let Some(at) = self.frame_size_at {
            self.out.enc.asm.patch_u32(at, slots);
        }
        if let Some(at) = self.stack_check_at {
            self.out.enc.asm.patch_u32(at, frame);
        }
        Ok(())
    }

    /// Records an outgoing call's stack use (arguments and results area, plus the return
    /// frame).
    fn note_outgoing(&mut self, bytes: u32) {
        self.max_outgoing = self.max_outgoing.max(bytes.saturating_add(8));
    }
}
