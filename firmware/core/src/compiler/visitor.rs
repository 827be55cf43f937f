//! The operator visitor: validates each operator with wasmparser *before* emitting code for it,
//! tracks control frames and reachability, and drives the [`Masm`]. Anything outside the
//! supported subset returns [`CompileError::Unsupported`] naming the operator, the function and
//! the byte offset; nothing here panics on input.

use super::ModuleInfo;
use super::assembler::DynamicLabel;
use super::encoder::{Alu, Cond, Mem, Reg, Shift, Width};
use super::masm::{Masm, ModuleCode, Operand, SiteClass, Value};
use super::{CompileOptions, FuncType};
use crate::abi::{self, TrapKind};
use crate::error::CompileError;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use wasmparser::{
    BlockType, FuncValidator, FunctionBody, MemArg, Operator, ValType, ValidatorResources,
};

/// Jump tables are used for `br_table`s with more targets than this; fewer get a compare chain.
const BR_TABLE_CHAIN_MAX: usize = 4;
/// Locals zeroed with one `push 0` each up to this count, with a loop above it.
const UNROLLED_LOCAL_ZEROING: u32 = 8;

/// Callee-saved registers that hold a function's hottest locals, in order of preference.
const PINNABLE: [Reg; 3] = [Reg::Edi, Reg::Esi, Reg::Ebx];
/// A local must weigh at least this much (uses, times 8 per enclosing loop) to be pinned.
const PIN_THRESHOLD: u32 = 3;
/// Loop nesting beyond this depth weighs no more.
const MAX_LOOP_WEIGHT_DEPTH: u32 = 4;

/// The locals worth keeping in registers: a quick pre-scan of the body counts `local.get`,
/// `local.set` and `local.tee` per local, weighted by loop depth. Stops quietly at anything
/// unreadable (validation reports it in the real pass).
fn hot_locals(body: &FunctionBody<'_>, total_locals: u32) -> Vec<u32> {
    let Ok(mut reader) = body.get_operators_reader() else {
        return Vec::new();
    };
    let mut weights: Vec<(u32, u32)> = Vec::new();
    // The block kinds currently open (true = loop).
    let mut frames: Vec<bool> = Vec::new();
    let mut loop_depth = 0u32;
    while !reader.eof() {
        let Ok(op) = reader.read() else { break };
        let local = match op {
            Operator::Block { .. } | Operator::If { .. } => {
                frames.push(false);
                None
            }
            Operator::Loop { .. } => {
                frames.push(true);
                loop_depth += 1;
                None
            }
            Operator::End => {
                if frames.pop() == Some(true) {
                    loop_depth -= 1;
                }
                None
            }
            Operator::LocalGet { local_index }
            | Operator::LocalSet { local_index }
            | Operator::LocalTee { local_index } => Some(local_index),
            _ => None,
        };
        if let Some(local) = local.filter(|&local| local < total_locals) {
            let weight = 1u32 << (3 * loop_depth.min(MAX_LOOP_WEIGHT_DEPTH));
            match weights.iter_mut().find(|(index, _)| *index == local) {
                Some((_, total)) => *total = total.saturating_add(weight),
                None => weights.push((local, weight)),
            }
        }
    }
    weights.retain(|(_, weight)| *weight >= PIN_THRESHOLD);
    weights.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    weights
        .into_iter()
        .take(PINNABLE.len())
        .map(|(local, _)| local)
        .collect()
}

/// The text-format name of an operator (`F32Add` -> `f32.add`), from its `Debug` form.
pub fn operator_name(op: &Operator<'_>) -> String {
    let debug = format!("{op:?}");
    let camel = debug.split([' ', '{', '(']).next().unwrap_or("");
    let mut name = String::new();
    let mut dotted = false;
    let mut previous_digit = false;
    for (index, c) in camel.char_indices() {
        if c.is_ascii_uppercase() && index > 0 {
            if !dotted && (previous_digit || !camel[..index].chars().any(|c| c.is_ascii_digit())) {
                name.push('.');
                dotted = true;
            } else {
                name.push('_');
            }
        }
        name.push(c.to_ascii_lowercase());
        previous_digit = c.is_ascii_digit();
    }
    name
}

/// What kind of control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Function,
    Block,
    Loop,
    If,
    Else,
}

/// One control frame.
#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: FrameKind,
    /// Value-stack height at entry.
    height: usize,
    /// Results at the end (0 or 1).
    results: u32,
    /// Branch target: the loop header, or the end.
    label: DynamicLabel,
    /// The `if`'s else label.
    else_label: Option<DynamicLabel>,
    /// Whether the frame's entry was reachable.
    entry_reachable: bool,
    /// Whether any branch targets the end.
    branched: bool,
}

impl Frame {
    /// Values a branch to this frame carries.
    fn branch_arity(&self) -> u32 {
        if self.kind == FrameKind::Loop {
            0
        } else {
            self.results
        }
    }
}

/// A branch condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// True when this condition code holds.
    Flags(Cond),
    /// Known at compile time.
    Always(bool),
}

/// Compiles one function body; returns the number of operators.
pub fn compile_function(
    out: &mut ModuleCode,
    module: &ModuleInfo,
    index: u32,
    body: &FunctionBody<'_>,
    validator: &mut FuncValidator<ValidatorResources>,
    options: &CompileOptions,
) -> Result<u32, CompileError> {
    let ty = module
        .function_type(index)
        .ok_or(CompileError::Internal("function type"))?;
    let invalid = super::invalid;
    let mut locals = 0u32;
    let mut locals_reader = body.get_locals_reader().map_err(invalid)?;
    for _ in 0..locals_reader.get_count() {
        let offset = locals_reader.original_position();
        let (count, value_type) = locals_reader.read().map_err(invalid)?;
        validator
            .define_locals(offset, count, value_type)
            .map_err(invalid)?;
        if value_type != ValType::I32 {
            return Err(CompileError::Unsupported {
                operator: format!("local of type {value_type}"),
                function: index,
                offset: offset as u32,
            });
        }
        locals = locals.saturating_add(count);
        if locals.saturating_add(ty.params.len() as u32) > options.limits.max_locals {
            return Err(CompileError::TooLarge {
                what: "locals in a function",
                limit: options.limits.max_locals,
            });
        }
    }
    let mut reader = body.get_operators_reader().map_err(invalid)?;
    let pinned = if options.naive {
        Vec::new()
    } else {
        hot_locals(body, ty.params.len() as u32 + locals)
            .into_iter()
            .zip(PINNABLE)
            .collect()
    };
    let masm = Masm::new(
        out,
        options.isolation,
        options.naive,
        index,
        ty.params.len() as u32,
        locals,
        pinned,
    );
    let mut compiler = FunctionCompiler {
        masm,
        module,
        ty,
        locals,
        control: Vec::new(),
        reachable: true,
        stack_check: None,
        frame_size_at: 0,
        next_write: None,
        fused: None,
    };
    compiler.prologue(body.range().start as u32, module.labels[index as usize]);
    let mut operators = 0u32;
    let body_bytes = body.as_bytes();
    let body_start = body.range().start;
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset().map_err(invalid)?;
        validator.op(offset, &op).map_err(invalid)?;
        let next = (reader.original_position())
            .checked_sub(body_start)
            .and_then(|at| body_bytes.get(at as usize..))
            .and_then(peek_local_write);
        compiler.next_write = if options.naive { None } else { next };
        compiler.visit(&op, offset as u32)?;
        operators += 1;
    }
    reader.finish().map_err(invalid)?;
    if !compiler.control.is_empty() {
        return Err(CompileError::Internal("unterminated function"));
    }
    compiler.finish();
    Ok(operators)
}

/// The state of one function's compilation.
struct FunctionCompiler<'a, 'm> {
    masm: Masm<'m>,
    module: &'a ModuleInfo,
    ty: &'a FuncType,
    /// Non-parameter locals.
    locals: u32,
    control: Vec<Frame>,
    reachable: bool,
    /// Offset of the software stack check's immediate.
    stack_check: Option<u32>,
    /// Offset of the `sub esp, imm32` immediate.
    frame_size_at: u32,
    /// The operator after the current one, when it writes a local (a peephole hint, read from
    /// the bytes ahead; never trusted beyond choosing the code, see [`LocalWrite`]).
    next_write: Option<LocalWrite>,
    /// The current operator already performed the next one's local write.
    fused: Option<LocalWrite>,
}

/// A `local.set` or `local.tee` of a local.
///
/// When an arithmetic operator's left operand is a pinned local and the next operator writes
/// the result back to that same local (`local.get x; ...; i32.add; local.set x`), the operator
/// is computed in the local's register in place (`add esi, 1`) and the write is skipped. The
/// next operator is still validated as usual and checked to be that very write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocalWrite {
    /// `local.set`.
    Set(u32),
    /// `local.tee`.
    Tee(u32),
}

impl LocalWrite {
    fn local(self) -> u32 {
        match self {
            LocalWrite::Set(index) | LocalWrite::Tee(index) => index,
        }
    }
}

/// `local.set` and `local.tee` opcodes (WebAssembly core spec, 5.4.4).
const LOCAL_SET_OPCODE: u8 = 0x21;
const LOCAL_TEE_OPCODE: u8 = 0x22;

/// The local write at the start of `bytes`, if there is one (a LEB128 index of at most 5 bytes).
fn peek_local_write(bytes: &[u8]) -> Option<LocalWrite> {
    let (&opcode, rest) = bytes.split_first()?;
    if opcode != LOCAL_SET_OPCODE && opcode != LOCAL_TEE_OPCODE {
        return None;
    }
    let mut index = 0u32;
    for (position, &byte) in rest.iter().take(5).enumerate() {
        index |= u32::from(byte & 0x7F).checked_shl(7 * position as u32)?;
        if byte & 0x80 == 0 {
            return Some(if opcode == LOCAL_SET_OPCODE {
                LocalWrite::Set(index)
            } else {
                LocalWrite::Tee(index)
            });
        }
    }
    None
}

/// Which operators may find a comparison still in EFLAGS on top of the stack.
fn consumes_flags(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::BrIf { .. }
            | Operator::If { .. }
            | Operator::Select
            | Operator::TypedSelect { .. }
            | Operator::I32Eqz
    )
}

/// Control operators, which are visited even in unreachable code.
fn is_control(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
    )
}

fn site_class(op: &Operator<'_>) -> SiteClass {
    match op {
        Operator::I32Load { .. }
        | Operator::I32Load8S { .. }
        | Operator::I32Load8U { .. }
        | Operator::I32Load16S { .. }
        | Operator::I32Load16U { .. }
        | Operator::I32Store { .. }
        | Operator::I32Store8 { .. }
        | Operator::I32Store16 { .. } => SiteClass::Memory,
        Operator::Call { .. } | Operator::CallIndirect { .. } | Operator::MemoryGrow { .. } => {
            SiteClass::Call
        }
        _ => SiteClass::Plain,
    }
}

fn bit(reg: Reg) -> u8 {
    1 << reg.code()
}

impl FunctionCompiler<'_, '_> {
    fn unsupported(&self, op: &Operator<'_>) -> CompileError {
        CompileError::Unsupported {
            operator: operator_name(op),
            function: self.masm.function,
            offset: self.masm.wasm_offset,
        }
    }

    fn prologue(&mut self, body_offset: u32, label: DynamicLabel) {
        self.masm.mark(body_offset, SiteClass::Call);
        self.masm.enc().bind(label);
        self.stack_check = self.masm.stack_check();
        self.masm.enc().enter_frame();
        let pinned: Vec<(u32, Reg)> = self.masm.pinned().to_vec();
        for (_, reg) in &pinned {
            self.masm.enc().push_r(*reg);
        }
        let locals = self.locals;
        let enc = self.masm.enc();
        if locals <= UNROLLED_LOCAL_ZEROING {
            for _ in 0..locals {
                enc.push_i(0);
            }
        } else {
            enc.mov_ri(Reg::Ecx, locals as i32);
            let top = enc.new_label();
            enc.bind(top);
            enc.push_i(0);
            enc.alu_ri(Alu::Sub, Reg::Ecx, 1);
            enc.jcc(Cond::NotEqual, top);
        }
        self.frame_size_at = enc.sub_esp_patchable();
        for (local, reg) in pinned {
            if local < self.ty.params.len() as u32 {
                let home = self.masm.local_mem(local);
                self.masm.enc().load32(reg, home);
            } else {
                self.masm.enc().mov_ri(reg, 0);
            }
        }
        let enc = self.masm.enc();
        let end = enc.new_label();
        self.control.push(Frame {
            kind: FrameKind::Function,
            height: 0,
            results: self.ty.results.len() as u32,
            label: end,
            else_label: None,
            entry_reachable: true,
            branched: false,
        });
    }

    fn finish(&mut self) {
        self.masm.emit_trap_stubs();
        let slots = self.masm.slot_bytes();
        let frame = self.masm.frame_bytes();
        let at = self.frame_size_at;
        self.masm.enc().asm.patch_u32(at, slots);
        if let Some(at) = self.stack_check {
            self.masm.enc().asm.patch_u32(at, frame);
        }
    }

    fn epilogue(&mut self) {
        for index in 0..self.masm.pinned().len() {
            let (_, reg) = self.masm.pinned()[index];
            let slot = self.masm.save_slot(index);
            self.masm.enc().load32(reg, slot);
        }
        let pop = self.ty.param_bytes() as u16;
        self.masm.enc().leave_ret(pop);
    }

    fn visit(&mut self, op: &Operator<'_>, offset: u32) -> Result<(), CompileError> {
        self.masm.wasm_offset = offset;
        if let Some(write) = self.fused.take() {
            // The previous operator wrote its result to this local already.
            let matches = match *op {
                Operator::LocalSet { local_index } => write == LocalWrite::Set(local_index),
                Operator::LocalTee { local_index } => write == LocalWrite::Tee(local_index),
                _ => false,
            };
            if !matches {
                return Err(CompileError::Internal("fused local write"));
            }
            self.masm.mark(offset, SiteClass::Plain);
            if let LocalWrite::Tee(index) = write {
                self.masm.push(Value::Local(index));
            }
            return Ok(());
        }
        if !self.reachable && !is_control(op) {
            // Still reject what we could never compile, so acceptance does not depend on
            // reachability.
            return if self.supported_when_unreachable(op) {
                Ok(())
            } else {
                Err(self.unsupported(op))
            };
        }
        if !consumes_flags(op) {
            self.masm.materialize_flags()?;
        }
        self.masm.mark(offset, site_class(op));
        self.operator(op)?;
        if self.masm.naive && self.reachable {
            self.masm.spill_all()?;
        }
        Ok(())
    }

    /// Whether `op` is in the supported subset (checked for unreachable code).
    fn supported_when_unreachable(&self, op: &Operator<'_>) -> bool {
        use Operator::*;
        matches!(
            op,
            Unreachable
                | Nop
                | Br { .. }
                | BrIf { .. }
                | BrTable { .. }
                | Return
                | Call { .. }
                | CallIndirect { .. }
                | Drop
                | Select
                | TypedSelect { ty: ValType::I32 }
                | LocalGet { .. }
                | LocalSet { .. }
                | LocalTee { .. }
                | GlobalGet { .. }
                | GlobalSet { .. }
                | I32Load { .. }
                | I32Load8S { .. }
                | I32Load8U { .. }
                | I32Load16S { .. }
                | I32Load16U { .. }
                | I32Store { .. }
                | I32Store8 { .. }
                | I32Store16 { .. }
                | MemorySize { .. }
                | MemoryGrow { .. }
                | I32Const { .. }
                | I32Eqz
                | I32Eq
                | I32Ne
                | I32LtS
                | I32LtU
                | I32GtS
                | I32GtU
                | I32LeS
                | I32LeU
                | I32GeS
                | I32GeU
                | I32Clz
                | I32Ctz
                | I32Popcnt
                | I32Add
                | I32Sub
                | I32Mul
                | I32DivS
                | I32DivU
                | I32RemS
                | I32RemU
                | I32And
                | I32Or
                | I32Xor
                | I32Shl
                | I32ShrS
                | I32ShrU
                | I32Rotl
                | I32Rotr
                | I32Extend8S
                | I32Extend16S
        )
    }

    fn block_results(&self, op: &Operator<'_>, ty: BlockType) -> Result<u32, CompileError> {
        match ty {
            BlockType::Empty => Ok(0),
            BlockType::Type(ValType::I32) => Ok(1),
            _ => Err(self.unsupported(op)),
        }
    }

    fn operator(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
        use Operator::*;
        match *op {
            // ---- Control. ----
            Unreachable => {
                self.masm.trap_here(TrapKind::Unreachable);
                self.set_unreachable();
            }
            Nop => {}
            Block { blockty } => {
                let results = self.block_results(op, blockty)?;
                self.enter_block(FrameKind::Block, results)?;
            }
            Loop { blockty } => {
                let results = self.block_results(op, blockty)?;
                self.enter_block(FrameKind::Loop, results)?;
            }
            If { blockty } => {
                let results = self.block_results(op, blockty)?;
                self.enter_if(results)?;
            }
            Else => self.visit_else()?,
            End => self.visit_end()?,
            Br { relative_depth } => {
                self.branch(relative_depth)?;
                self.set_unreachable();
            }
            BrIf { relative_depth } => self.branch_if(relative_depth)?,
            BrTable { ref targets } => {
                let mut depths = Vec::with_capacity(targets.len() as usize);
                for target in targets.targets() {
                    depths.push(target.map_err(super::invalid)?);
                }
                self.branch_table(&depths, targets.default())?;
            }
            Return => {
                self.return_value()?;
                self.epilogue();
                self.set_unreachable();
            }
            Call { function_index } => self.call(function_index)?,
            CallIndirect {
                type_index,
                table_index: 0,
            } => self.call_indirect(type_index)?,
            Drop => {
                if let Value::Reg(reg) = self.masm.pop_value()? {
                    self.masm.free(reg);
                }
            }
            Select | TypedSelect { ty: ValType::I32 } => self.select()?,

            // ---- Variables. ----
            LocalGet { local_index } => self.masm.push(Value::Local(local_index)),
            LocalSet { local_index } => self.local_set(local_index, false)?,
            LocalTee { local_index } => self.local_set(local_index, true)?,
            GlobalGet { global_index } => self.global_get(global_index)?,
            GlobalSet { global_index } => self.global_set(global_index)?,

            // ---- Memory. ----
            I32Load { memarg } => self.load(memarg, Width::Dword, false)?,
            I32Load8S { memarg } => self.load(memarg, Width::Byte, true)?,
            I32Load8U { memarg } => self.load(memarg, Width::Byte, false)?,
            I32Load16S { memarg } => self.load(memarg, Width::Word, true)?,
            I32Load16U { memarg } => self.load(memarg, Width::Word, false)?,
            I32Store { memarg } => self.store(memarg, Width::Dword)?,
            I32Store8 { memarg } => self.store(memarg, Width::Byte)?,
            I32Store16 { memarg } => self.store(memarg, Width::Word)?,
            MemorySize { mem: 0 } => {
                let reg = self.masm.alloc()?;
                self.masm
                    .enc()
                    .load32(reg, Mem::Context(abi::MEMORY_PAGES_OFFSET));
                self.masm.push(Value::Reg(reg));
            }
            MemoryGrow { mem: 0 } => {
                self.masm.prepare_call(1, None)?;
                let enc = self.masm.enc();
                enc.call_far_context(abi::GROW_OFFSET);
                enc.load_ds_from_context(abi::DATA_SELECTOR_OFFSET);
                self.masm.push(Value::Reg(Reg::Eax));
            }

            // ---- Numeric. ----
            I32Const { value } => self.masm.push(Value::Imm(value)),
            I32Eqz => self.eqz()?,
            I32Eq => self.compare(Cond::Equal)?,
            I32Ne => self.compare(Cond::NotEqual)?,
            I32LtS => self.compare(Cond::Less)?,
            I32LtU => self.compare(Cond::Below)?,
            I32GtS => self.compare(Cond::Greater)?,
            I32GtU => self.compare(Cond::Above)?,
            I32LeS => self.compare(Cond::LessEqual)?,
            I32LeU => self.compare(Cond::BelowEqual)?,
            I32GeS => self.compare(Cond::GreaterEqual)?,
            I32GeU => self.compare(Cond::AboveEqual)?,
            I32Clz => self.count_bits(CountBits::LeadingZeros)?,
            I32Ctz => self.count_bits(CountBits::TrailingZeros)?,
            I32Popcnt => self.count_bits(CountBits::Ones)?,
            I32Add => self.alu(Alu::Add, true, i32::wrapping_add)?,
            I32Sub => self.alu(Alu::Sub, false, i32::wrapping_sub)?,
            I32And => self.alu(Alu::And, true, |a, b| a & b)?,
            I32Or => self.alu(Alu::Or, true, |a, b| a | b)?,
            I32Xor => self.alu(Alu::Xor, true, |a, b| a ^ b)?,
            I32Mul => self.mul()?,
            I32DivS => self.divide(true, false)?,
            I32DivU => self.divide(false, false)?,
            I32RemS => self.divide(true, true)?,
            I32RemU => self.divide(false, true)?,
            I32Shl => self.shift(Shift::Shl, |a, b| a.wrapping_shl(b as u32))?,
            I32ShrS => self.shift(Shift::Sar, |a, b| a.wrapping_shr(b as u32))?,
            I32ShrU => self.shift(Shift::Shr, |a, b| (a as u32).wrapping_shr(b as u32) as i32)?,
            I32Rotl => self.shift(Shift::Rol, |a, b| a.rotate_left(b as u32 & 31))?,
            I32Rotr => self.shift(Shift::Ror, |a, b| a.rotate_right(b as u32 & 31))?,
            I32Extend8S => {
                let reg = self.masm.pop_to_reg()?;
                if reg.has_byte() {
                    self.masm.enc().extend8(reg, reg, true);
                } else {
                    self.masm.enc().shift_ri(Shift::Shl, reg, 24);
                    self.masm.enc().shift_ri(Shift::Sar, reg, 24);
                }
                self.masm.push(Value::Reg(reg));
            }
            I32Extend16S => {
                let reg = self.masm.pop_to_reg()?;
                self.masm.enc().extend16_signed(reg, reg);
                self.masm.push(Value::Reg(reg));
            }
            _ => return Err(self.unsupported(op)),
        }
        Ok(())
    }

    // ---- Control flow. ----

    fn set_unreachable(&mut self) {
        let height = self.control.last().map_or(0, |frame| frame.height);
        self.masm.truncate(height);
        self.masm.reset_registers();
        self.reachable = false;
    }

    fn enter_block(&mut self, kind: FrameKind, results: u32) -> Result<(), CompileError> {
        let reachable = self.reachable;
        if reachable {
            self.masm.spill_all()?;
        }
        let label = self.masm.enc().new_label();
        if kind == FrameKind::Loop {
            self.masm.enc().bind(label);
        }
        self.control.push(Frame {
            kind,
            height: self.masm.stack.len(),
            results,
            label,
            else_label: None,
            entry_reachable: reachable,
            branched: false,
        });
        Ok(())
    }

    fn enter_if(&mut self, results: u32) -> Result<(), CompileError> {
        let reachable = self.reachable;
        let else_label = self.masm.enc().new_label();
        if reachable {
            let condition = self.pop_condition()?;
            self.masm.spill_all()?;
            match condition {
                Condition::Flags(cond) => self.masm.enc().jcc(cond.invert(), else_label),
                Condition::Always(true) => {}
                Condition::Always(false) => self.masm.enc().jmp(else_label),
            }
        }
        let label = self.masm.enc().new_label();
        self.control.push(Frame {
            kind: FrameKind::If,
            height: self.masm.stack.len(),
            results,
            label,
            else_label: Some(else_label),
            entry_reachable: reachable,
            branched: false,
        });
        Ok(())
    }

    fn visit_else(&mut self) -> Result<(), CompileError> {
        let frame = *self
            .control
            .last()
            .ok_or(CompileError::Internal("else without if"))?;
        if self.reachable {
            if frame.results == 1 {
                self.masm.pop_to_specific(Reg::Eax, 0)?;
            }
            self.masm.enc().jmp(frame.label);
        }
        let reached_end = self.reachable;
        self.masm.truncate(frame.height);
        self.masm.reset_registers();
        if let Some(else_label) = frame.else_label {
            self.masm.enc().bind(else_label);
        }
        if let Some(last) = self.control.last_mut() {
            last.kind = FrameKind::Else;
            last.else_label = None;
            last.branched |= reached_end;
        }
        self.reachable = frame.entry_reachable;
        Ok(())
    }

    fn visit_end(&mut self) -> Result<(), CompileError> {
        let frame = self
            .control
            .pop()
            .ok_or(CompileError::Internal("end without frame"))?;
        if self.reachable && frame.results == 1 {
            self.masm.pop_to_specific(Reg::Eax, 0)?;
        }
        let mut reachable = self.reachable || frame.branched;
        if let Some(else_label) = frame.else_label {
            // An `if` without `else`: the false path arrives here.
            self.masm.enc().bind(else_label);
            reachable |= frame.entry_reachable;
        }
        if frame.kind != FrameKind::Loop {
            self.masm.enc().bind(frame.label);
        }
        self.masm.truncate(frame.height);
        self.masm.reset_registers();
        self.reachable = reachable;
        if frame.kind == FrameKind::Function {
            if reachable {
                self.epilogue();
            }
        } else if reachable && frame.results == 1 {
            self.masm.push(Value::Reg(Reg::Eax));
        }
        Ok(())
    }

    /// Pops a condition: EFLAGS from a comparison, a constant, or `value != 0`.
    fn pop_condition(&mut self) -> Result<Condition, CompileError> {
        match self.masm.peek() {
            Some(Value::Flags(cond)) => {
                self.masm.pop_value()?;
                Ok(Condition::Flags(cond))
            }
            Some(Value::Imm(value)) => {
                self.masm.pop_value()?;
                Ok(Condition::Always(value != 0))
            }
            Some(Value::Local(index)) => {
                // Tested where it lives: no copy into a scratch register.
                self.masm.pop_value()?;
                match self.masm.local_home(index) {
                    Operand::Reg(reg) => self.masm.enc().test_rr(reg, reg),
                    Operand::Mem(mem) => self.masm.enc().alu_mi(Alu::Cmp, mem, 0),
                    Operand::Imm(value) => return Ok(Condition::Always(value != 0)),
                }
                Ok(Condition::Flags(Cond::NotEqual))
            }
            _ => {
                let reg = self.masm.pop_to_reg()?;
                self.masm.enc().test_rr(reg, reg);
                self.masm.free(reg);
                Ok(Condition::Flags(Cond::NotEqual))
            }
        }
    }

    /// The in-place form of `local.get x; <rhs>; <op>; local.set/tee x` for a pinned `x` (see
    /// [`LocalWrite`]): `emit(x's register, rhs)`. Returns whether it applied.
    fn op_into_local(
        &mut self,
        emit: impl FnOnce(&mut super::encoder::Encoder, Reg, Operand),
    ) -> Result<bool, CompileError> {
        let Some(write) = self.next_write else {
            return Ok(false);
        };
        let index = write.local();
        let Some(home) = self.masm.pinned_register(index) else {
            return Ok(false);
        };
        let len = self.masm.stack.len();
        if len < 2 || self.masm.stack[len - 2] != Value::Local(index) {
            return Ok(false);
        }
        let rhs = self.masm.pop_operand()?;
        self.masm.pop_value()?;
        // Whatever else on the stack still reads the old value gets it now.
        self.masm.detach_local(index)?;
        emit(self.masm.enc(), home, rhs);
        self.masm.free_operand(rhs);
        self.fused = Some(write);
        Ok(true)
    }

    /// The frame `depth` levels out, marked as branched to; its target label and arity.
    fn target(&mut self, depth: u32) -> Result<(DynamicLabel, u32), CompileError> {
        let index = self
            .control
            .len()
            .checked_sub(1 + depth as usize)
            .ok_or(CompileError::Internal("branch depth"))?;
        let frame = &mut self.control[index];
        if frame.kind != FrameKind::Loop {
            frame.branched = true;
        }
        Ok((frame.label, frame.branch_arity()))
    }

    /// Moves the top value to EAX, keeping it on the stack (flags are preserved).
    fn result_to_eax_keep(&mut self) -> Result<(), CompileError> {
        let depth = self.masm.stack.len() - 1;
        if self.masm.stack[depth] == Value::Reg(Reg::Eax) {
            return Ok(());
        }
        self.masm.pop_to_specific(Reg::Eax, 0)?;
        self.masm.stack.push(Value::Reg(Reg::Eax));
        let _ = depth;
        Ok(())
    }

    fn branch(&mut self, depth: u32) -> Result<(), CompileError> {
        let (label, arity) = self.target(depth)?;
        if arity == 1 {
            self.result_to_eax_keep()?;
        }
        self.masm.enc().jmp(label);
        Ok(())
    }

    fn branch_if(&mut self, depth: u32) -> Result<(), CompileError> {
        let condition = self.pop_condition()?;
        let (label, arity) = self.target(depth)?;
        if arity == 1 {
            self.result_to_eax_keep()?;
        }
        match condition {
            Condition::Flags(cond) => self.masm.enc().jcc(cond, label),
            Condition::Always(true) => {
                self.masm.enc().jmp(label);
                self.set_unreachable();
            }
            Condition::Always(false) => {}
        }
        Ok(())
    }

    fn branch_table(&mut self, depths: &[u32], default: u32) -> Result<(), CompileError> {
        if let Some(Value::Imm(index)) = self.masm.peek() {
            self.masm.pop_value()?;
            let depth = depths
                .get(index as u32 as usize)
                .copied()
                .unwrap_or(default);
            self.branch(depth)?;
            self.set_unreachable();
            return Ok(());
        }
        let index = self.masm.pop_to_reg_avoiding(bit(Reg::Eax))?;
        let (default_label, arity) = self.target(default)?;
        if arity == 1 {
            self.result_to_eax_keep()?;
        }
        let mut labels = Vec::with_capacity(depths.len());
        for &depth in depths {
            labels.push(self.target(depth)?.0);
        }
        let enc = self.masm.enc();
        if labels.len() <= BR_TABLE_CHAIN_MAX {
            for (value, label) in labels.iter().enumerate() {
                enc.alu_ri(Alu::Cmp, index, value as i32);
                enc.jcc(Cond::Equal, *label);
            }
            enc.jmp(default_label);
        } else {
            enc.alu_ri(Alu::Cmp, index, labels.len() as i32);
            enc.jcc(Cond::AboveEqual, default_label);
            let table = enc.new_label();
            enc.jmp_code_table(index, table);
            enc.asm.align_with_padding(4);
            enc.bind(table);
            for label in labels {
                enc.table_entry(label);
            }
        }
        self.masm.free(index);
        self.set_unreachable();
        Ok(())
    }

    fn return_value(&mut self) -> Result<(), CompileError> {
        if self.ty.results.len() == 1 {
            self.masm.pop_to_specific(Reg::Eax, 0)?;
        }
        Ok(())
    }

    fn call(&mut self, function: u32) -> Result<(), CompileError> {
        let ty = self
            .module
            .function_type(function)
            .ok_or(CompileError::Internal("callee type"))?;
        self.masm.prepare_call(ty.params.len(), None)?;
        if function < self.module.imported {
            let offset = self.masm.wasm_offset;
            self.masm.mark(offset, SiteClass::Import);
            let slot = self.module.layout.imports_offset + 8 * function;
            self.masm.enc().call_far_context(slot as i32);
        } else {
            let label = self.module.labels[function as usize];
            self.masm.enc().call(label);
        }
        if ty.results.len() == 1 {
            self.masm.push(Value::Reg(Reg::Eax));
        }
        Ok(())
    }

    fn call_indirect(&mut self, type_index: u32) -> Result<(), CompileError> {
        let ty = self
            .module
            .type_at(type_index)
            .ok_or(CompileError::Internal("call_indirect type"))?;
        let expected = self.module.canonical[type_index as usize];
        let table_size = self.module.table.unwrap_or(0);
        let index = self.masm.pop_to_reg()?;
        let out_of_range = self.masm.trap_label(TrapKind::IndirectCallOutOfRange);
        let null = self.masm.trap_label(TrapKind::IndirectCallNull);
        let mismatch = self.masm.trap_label(TrapKind::IndirectCallSignature);
        let type_word = self.masm.alloc()?;
        let table = self.module.layout.table_offset as i32;
        let enc = self.masm.enc();
        enc.alu_ri(Alu::Cmp, index, table_size as i32);
        enc.jcc(Cond::AboveEqual, out_of_range);
        enc.load_context_indexed(type_word, index, table + 4);
        enc.alu_ri(Alu::Cmp, type_word, expected as i32);
        let ok = enc.new_label();
        enc.jcc(Cond::Equal, ok);
        enc.alu_ri(Alu::Cmp, type_word, abi::NULL_TYPE_ID as i32);
        enc.jcc(Cond::Equal, null);
        enc.jmp(mismatch);
        enc.bind(ok);
        self.masm.free(type_word);
        self.masm.prepare_call(ty.params.len(), Some(index))?;
        self.masm.enc().call_context_indexed(index, table);
        self.masm.free(index);
        if ty.results.len() == 1 {
            self.masm.push(Value::Reg(Reg::Eax));
        }
        Ok(())
    }

    fn select(&mut self) -> Result<(), CompileError> {
        let condition = self.pop_condition()?;
        match condition {
            Condition::Always(pick_first) => {
                let second = self.masm.pop_value()?;
                let first = self.masm.pop_value()?;
                let (keep, drop) = if pick_first {
                    (first, second)
                } else {
                    (second, first)
                };
                if let Value::Reg(reg) = drop {
                    self.masm.free(reg);
                }
                // A kept Slot must be re-read from its own depth: materialise it.
                let keep = match keep {
                    Value::Slot => {
                        let depth = self.masm.stack.len() + usize::from(!pick_first);
                        let slot = self.masm.slot_mem(depth);
                        let reg = self.masm.alloc()?;
                        self.masm.enc().load32(reg, slot);
                        Value::Reg(reg)
                    }
                    other => other,
                };
                self.masm.push(keep);
            }
            Condition::Flags(cond) => {
                let second = self.masm.pop_operand()?;
                let avoid = match second {
                    Operand::Reg(reg) => bit(reg),
                    _ => 0,
                };
                let first = self.masm.pop_to_reg_avoiding(avoid)?;
                let done = self.masm.enc().new_label();
                let enc = self.masm.enc();
                enc.jcc(cond, done);
                match second {
                    Operand::Reg(reg) => enc.mov_rr(first, reg),
                    Operand::Imm(imm) => enc.mov_ri(first, imm),
                    Operand::Mem(mem) => enc.load32(first, mem),
                }
                enc.bind(done);
                self.masm.free_operand(second);
                self.masm.push(Value::Reg(first));
            }
        }
        Ok(())
    }

    // ---- Variables. ----

    fn local_set(&mut self, index: u32, tee: bool) -> Result<(), CompileError> {
        self.masm.detach_local(index)?;
        if let Some(home) = self.masm.pinned_register(index) {
            match self.masm.peek() {
                Some(Value::Imm(imm)) => {
                    self.masm.enc().mov_ri(home, imm);
                    if !tee {
                        self.masm.pop_value()?;
                    }
                }
                Some(Value::Reg(reg)) => {
                    self.masm.enc().mov_rr(home, reg);
                    if !tee {
                        self.masm.pop_value()?;
                        self.masm.free(reg);
                    }
                }
                _ => {
                    let depth = self.masm.stack.len() - 1;
                    let value = self.masm.pop_value()?;
                    match value {
                        Value::Slot => {
                            let slot = self.masm.slot_mem(depth);
                            self.masm.enc().load32(home, slot);
                        }
                        Value::Local(other) => match self.masm.local_home(other) {
                            Operand::Reg(src) => self.masm.enc().mov_rr(home, src),
                            Operand::Mem(mem) => self.masm.enc().load32(home, mem),
                            Operand::Imm(imm) => self.masm.enc().mov_ri(home, imm),
                        },
                        Value::Flags(cond) => {
                            let reg = self.masm.alloc_byte()?;
                            self.masm.enc().setcc_zx(cond, reg);
                            self.masm.enc().mov_rr(home, reg);
                            self.masm.free(reg);
                        }
                        Value::Reg(_) | Value::Imm(_) => {
                            return Err(CompileError::Internal("local.set operand"));
                        }
                    }
                    if tee {
                        self.masm.push(Value::Local(index));
                    }
                }
            }
            return Ok(());
        }
        let mem = self.masm.local_mem(index);
        match self.masm.peek() {
            Some(Value::Imm(imm)) => {
                self.masm.enc().store_imm(mem, imm, Width::Dword);
                if !tee {
                    self.masm.pop_value()?;
                }
            }
            Some(Value::Reg(reg)) => {
                self.masm.enc().store32(mem, reg);
                if !tee {
                    self.masm.pop_value()?;
                    self.masm.free(reg);
                }
            }
            _ => {
                let reg = self.masm.pop_to_reg()?;
                self.masm.enc().store32(mem, reg);
                if tee {
                    self.masm.push(Value::Reg(reg));
                } else {
                    self.masm.free(reg);
                }
            }
        }
        Ok(())
    }

    fn global_offset(&self, index: u32) -> i32 {
        self.module.layout.global_offset(index) as i32
    }

    fn global_get(&mut self, index: u32) -> Result<(), CompileError> {
        let global = self
            .module
            .globals
            .get(index as usize)
            .copied()
            .ok_or(CompileError::Internal("global index"))?;
        if global.mutable {
            let reg = self.masm.alloc()?;
            let offset = self.global_offset(index);
            self.masm.enc().load32(reg, Mem::Context(offset));
            self.masm.push(Value::Reg(reg));
        } else {
            self.masm.push(Value::Imm(global.init_i32()));
        }
        Ok(())
    }

    fn global_set(&mut self, index: u32) -> Result<(), CompileError> {
        let mem = Mem::Context(self.global_offset(index));
        match self.masm.pop_operand()? {
            Operand::Imm(imm) => self.masm.enc().store_imm(mem, imm, Width::Dword),
            Operand::Reg(reg) => {
                self.masm.enc().store32(mem, reg);
                self.masm.free(reg);
            }
            Operand::Mem(source) => {
                let reg = self.masm.alloc()?;
                self.masm.enc().load32(reg, source);
                self.masm.enc().store32(mem, reg);
                self.masm.free(reg);
            }
        }
        Ok(())
    }

    // ---- Memory. ----

    /// The pinned register holding the address on top of the stack, when the access needs no
    /// code of its own to check it (hardware mode, no offset: the segment limit is the whole
    /// check), so it can serve as the base register as it is.
    fn pinned_address(&self, memarg: &MemArg) -> Option<Reg> {
        if self.masm.isolation != crate::Isolation::Hardware || memarg.offset != 0 {
            return None;
        }
        match self.masm.peek() {
            Some(Value::Local(index)) => self.masm.pinned_register(index),
            _ => None,
        }
    }

    fn load(&mut self, memarg: MemArg, width: Width, signed: bool) -> Result<(), CompileError> {
        if let Some(base) = self.pinned_address(&memarg) {
            self.masm.pop_value()?;
            let value = self.masm.alloc()?;
            self.masm
                .enc()
                .load(value, Mem::Data(base, 0), width, signed);
            self.masm.push(Value::Reg(value));
            return Ok(());
        }
        let address = self.masm.pop_to_reg()?;
        let disp = self.masm.bounds_check(address, memarg.offset, width);
        self.masm
            .enc()
            .load(address, Mem::Data(address, disp), width, signed);
        self.masm.push(Value::Reg(address));
        Ok(())
    }

    fn store(&mut self, memarg: MemArg, width: Width) -> Result<(), CompileError> {
        let value = match self.masm.peek() {
            Some(Value::Imm(imm)) => {
                self.masm.pop_value()?;
                Operand::Imm(imm)
            }
            _ if width == Width::Byte => Operand::Reg(
                self.masm
                    .pop_to_reg_avoiding(bit(Reg::Esi) | bit(Reg::Edi))?,
            ),
            _ => Operand::Reg(self.masm.pop_to_reg()?),
        };
        let (target, address) = match self.pinned_address(&memarg) {
            Some(base) => {
                self.masm.pop_value()?;
                (Mem::Data(base, 0), None)
            }
            None => {
                let address = self.masm.pop_to_reg()?;
                let disp = self.masm.bounds_check(address, memarg.offset, width);
                (Mem::Data(address, disp), Some(address))
            }
        };
        match value {
            Operand::Imm(imm) => self.masm.enc().store_imm(target, imm, width),
            Operand::Reg(reg) => self.masm.enc().store(target, reg, width),
            Operand::Mem(_) => return Err(CompileError::Internal("store operand")),
        }
        self.masm.free_operand(value);
        if let Some(address) = address {
            self.masm.free(address);
        }
        Ok(())
    }

    // ---- Numeric. ----

    /// Both operands constant: pops them.
    fn constant_pair(&mut self) -> Result<Option<(i32, i32)>, CompileError> {
        let len = self.masm.stack.len();
        if len >= 2
            && let (Value::Imm(a), Value::Imm(b)) =
                (self.masm.stack[len - 2], self.masm.stack[len - 1])
        {
            self.masm.pop_value()?;
            self.masm.pop_value()?;
            return Ok(Some((a, b)));
        }
        Ok(None)
    }

    fn alu(
        &mut self,
        op: Alu,
        commutative: bool,
        fold: fn(i32, i32) -> i32,
    ) -> Result<(), CompileError> {
        if let Some((a, b)) = self.constant_pair()? {
            self.masm.push(Value::Imm(fold(a, b)));
            return Ok(());
        }
        // x + 0, x - 0, x | 0, x ^ 0, x & -1 are x.
        let identity = if op == Alu::And { -1 } else { 0 };
        if op != Alu::Cmp && self.masm.peek() == Some(Value::Imm(identity)) {
            self.masm.pop_value()?;
            return Ok(());
        }
        if self.op_into_local(|enc, home, rhs| match rhs {
            Operand::Reg(reg) => enc.alu_rr(op, home, reg),
            Operand::Imm(imm) => enc.alu_ri(op, home, imm),
            Operand::Mem(mem) => enc.alu_rm(op, home, mem),
        })? {
            return Ok(());
        }
        let rhs = self.masm.pop_operand()?;
        if commutative
            && let Operand::Reg(reg) = rhs
            && !self.masm.is_pinned(reg)
        {
            // Compute into the right operand's register; the left one stays where it is.
            let lhs = self.masm.pop_operand()?;
            let enc = self.masm.enc();
            match lhs {
                Operand::Reg(other) => enc.alu_rr(op, reg, other),
                Operand::Imm(imm) => enc.alu_ri(op, reg, imm),
                Operand::Mem(mem) => enc.alu_rm(op, reg, mem),
            }
            self.masm.free_operand(lhs);
            self.masm.push(Value::Reg(reg));
            return Ok(());
        }
        let avoid = match rhs {
            Operand::Reg(reg) => bit(reg),
            _ => 0,
        };
        let lhs = self.masm.pop_to_reg_avoiding(avoid)?;
        let enc = self.masm.enc();
        match rhs {
            Operand::Reg(reg) => enc.alu_rr(op, lhs, reg),
            Operand::Imm(imm) => enc.alu_ri(op, lhs, imm),
            Operand::Mem(mem) => enc.alu_rm(op, lhs, mem),
        }
        self.masm.free_operand(rhs);
        self.masm.push(Value::Reg(lhs));
        Ok(())
    }

    fn mul(&mut self) -> Result<(), CompileError> {
        if let Some((a, b)) = self.constant_pair()? {
            self.masm.push(Value::Imm(a.wrapping_mul(b)));
            return Ok(());
        }
        let rhs = self.masm.pop_operand()?;
        if let Operand::Reg(reg) = rhs
            && !self.masm.is_pinned(reg)
        {
            let lhs = self.masm.pop_operand()?;
            let enc = self.masm.enc();
            match lhs {
                Operand::Reg(other) => enc.imul_rr(reg, other),
                Operand::Imm(imm) => enc.imul_rri(reg, reg, imm),
                Operand::Mem(mem) => enc.imul_rm(reg, mem),
            }
            self.masm.free_operand(lhs);
            self.masm.push(Value::Reg(reg));
            return Ok(());
        }
        let avoid = match rhs {
            Operand::Reg(reg) => bit(reg),
            _ => 0,
        };
        let lhs = self.masm.pop_to_reg_avoiding(avoid)?;
        let enc = self.masm.enc();
        match rhs {
            Operand::Reg(reg) => enc.imul_rr(lhs, reg),
            Operand::Imm(imm) => enc.imul_rri(lhs, lhs, imm),
            Operand::Mem(mem) => enc.imul_rm(lhs, mem),
        }
        self.masm.free_operand(rhs);
        self.masm.push(Value::Reg(lhs));
        Ok(())
    }

    fn compare(&mut self, cond: Cond) -> Result<(), CompileError> {
        if let Some((a, b)) = self.constant_pair()? {
            let result = match cond {
                Cond::Equal => a == b,
                Cond::NotEqual => a != b,
                Cond::Less => a < b,
                Cond::LessEqual => a <= b,
                Cond::Greater => a > b,
                Cond::GreaterEqual => a >= b,
                Cond::Below => (a as u32) < (b as u32),
                Cond::BelowEqual => (a as u32) <= (b as u32),
                Cond::Above => (a as u32) > (b as u32),
                Cond::AboveEqual => (a as u32) >= (b as u32),
                Cond::Overflow => return Err(CompileError::Internal("compare condition")),
            };
            self.masm.push(Value::Imm(i32::from(result)));
            return Ok(());
        }
        let rhs = self.masm.pop_operand()?;
        if let (Some(Value::Imm(imm)), Operand::Reg(reg)) = (self.masm.peek(), rhs) {
            self.masm.pop_value()?;
            self.masm.enc().alu_ri(Alu::Cmp, reg, imm);
            self.masm.free(reg);
            self.masm.push(Value::Flags(cond.swap()));
            return Ok(());
        }
        // A left operand that is a local or a spilled value is compared where it lives.
        if matches!(self.masm.peek(), Some(Value::Local(_) | Value::Slot)) {
            let lhs = self.masm.pop_operand()?;
            let enc = self.masm.enc();
            match (lhs, rhs) {
                (Operand::Reg(l), Operand::Reg(r)) => enc.alu_rr(Alu::Cmp, l, r),
                (Operand::Reg(l), Operand::Imm(imm)) => enc.alu_ri(Alu::Cmp, l, imm),
                (Operand::Reg(l), Operand::Mem(mem)) => enc.alu_rm(Alu::Cmp, l, mem),
                (Operand::Mem(mem), Operand::Reg(r)) => enc.alu_mr(Alu::Cmp, mem, r),
                (Operand::Mem(mem), Operand::Imm(imm)) => enc.alu_mi(Alu::Cmp, mem, imm),
                (Operand::Mem(mem), Operand::Mem(other)) => {
                    let temp = self.masm.alloc()?;
                    let enc = self.masm.enc();
                    enc.load32(temp, mem);
                    enc.alu_rm(Alu::Cmp, temp, other);
                    self.masm.free(temp);
                }
                (Operand::Imm(_), _) => return Err(CompileError::Internal("compare operand")),
            }
            self.masm.free_operand(lhs);
            self.masm.free_operand(rhs);
            self.masm.push(Value::Flags(cond));
            return Ok(());
        }
        let avoid = match rhs {
            Operand::Reg(reg) => bit(reg),
            _ => 0,
        };
        let lhs = self.masm.pop_to_reg_avoiding(avoid)?;
        let enc = self.masm.enc();
        match rhs {
            Operand::Reg(reg) => enc.alu_rr(Alu::Cmp, lhs, reg),
            Operand::Imm(imm) => enc.alu_ri(Alu::Cmp, lhs, imm),
            Operand::Mem(mem) => enc.alu_rm(Alu::Cmp, lhs, mem),
        }
        self.masm.free_operand(rhs);
        self.masm.free(lhs);
        self.masm.push(Value::Flags(cond));
        Ok(())
    }

    fn eqz(&mut self) -> Result<(), CompileError> {
        match self.masm.peek() {
            Some(Value::Flags(cond)) if cond != Cond::Overflow => {
                self.masm.pop_value()?;
                self.masm.push(Value::Flags(cond.invert()));
            }
            Some(Value::Imm(value)) => {
                self.masm.pop_value()?;
                self.masm.push(Value::Imm(i32::from(value == 0)));
            }
            _ => {
                let reg = self.masm.pop_to_reg()?;
                self.masm.enc().test_rr(reg, reg);
                self.masm.free(reg);
                self.masm.push(Value::Flags(Cond::Equal));
            }
        }
        Ok(())
    }

    fn shift(&mut self, op: Shift, fold: fn(i32, i32) -> i32) -> Result<(), CompileError> {
        if let Some((a, b)) = self.constant_pair()? {
            self.masm.push(Value::Imm(fold(a, b)));
            return Ok(());
        }
        if let Some(Value::Imm(count)) = self.masm.peek() {
            let count_bits = (count & 31) as u8;
            if self.op_into_local(|enc, home, _| {
                if count_bits != 0 {
                    enc.shift_ri(op, home, count_bits);
                }
            })? {
                return Ok(());
            }
            self.masm.pop_value()?;
            let reg = self.masm.pop_to_reg()?;
            let count = (count & 31) as u8;
            if count != 0 {
                self.masm.enc().shift_ri(op, reg, count);
            }
            self.masm.push(Value::Reg(reg));
            return Ok(());
        }
        self.masm.pop_to_specific(Reg::Ecx, 0)?;
        let reg = self.masm.pop_to_reg_avoiding(bit(Reg::Ecx))?;
        self.masm.enc().shift_rcl(op, reg);
        self.masm.free(Reg::Ecx);
        self.masm.push(Value::Reg(reg));
        Ok(())
    }

    fn divide(&mut self, signed: bool, remainder: bool) -> Result<(), CompileError> {
        let divisor_constant = match self.masm.peek() {
            Some(Value::Imm(value)) => Some(value),
            _ => None,
        };
        if let Some((a, b)) = self.constant_pair()? {
            let folded = match (signed, remainder) {
                (true, false) => a.checked_div(b),
                (true, true) => {
                    if b == 0 {
                        None
                    } else {
                        Some(a.wrapping_rem(b))
                    }
                }
                (false, false) => (a as u32).checked_div(b as u32).map(|v| v as i32),
                (false, true) => (a as u32).checked_rem(b as u32).map(|v| v as i32),
            };
            match folded {
                Some(value) => {
                    self.masm.push(Value::Imm(value));
                    return Ok(());
                }
                None => {
                    // Traps at run time: compile the general path.
                    self.masm.push(Value::Imm(a));
                    self.masm.push(Value::Imm(b));
                }
            }
        }
        if let Some(divisor) = divisor_constant
            && !signed
            && (divisor as u32).is_power_of_two()
        {
            self.masm.pop_value()?;
            let reg = self.masm.pop_to_reg()?;
            let divisor = divisor as u32;
            if remainder {
                self.masm.enc().alu_ri(Alu::And, reg, (divisor - 1) as i32);
            } else if divisor > 1 {
                self.masm
                    .enc()
                    .shift_ri(Shift::Shr, reg, divisor.trailing_zeros() as u8);
            }
            self.masm.push(Value::Reg(reg));
            return Ok(());
        }
        let divisor = self
            .masm
            .pop_to_reg_avoiding(bit(Reg::Eax) | bit(Reg::Edx))?;
        self.masm.take(Reg::Edx, bit(divisor))?;
        self.masm
            .pop_to_specific(Reg::Eax, bit(divisor) | bit(Reg::Edx))?;
        let needs_zero_check = divisor_constant.is_none_or(|value| value == 0);
        let needs_minus_one = signed && divisor_constant.is_none_or(|value| value == -1);
        let zero_trap =
            needs_zero_check.then(|| self.masm.trap_label(TrapKind::IntegerDivideByZero));
        let overflow_trap = (needs_minus_one && !remainder)
            .then(|| self.masm.trap_label(TrapKind::IntegerOverflow));
        let enc = self.masm.enc();
        if let Some(trap) = zero_trap {
            enc.test_rr(divisor, divisor);
            enc.jcc(Cond::Equal, trap);
        }
        let done = enc.new_label();
        if needs_minus_one {
            let divide = enc.new_label();
            enc.alu_ri(Alu::Cmp, divisor, -1);
            enc.jcc(Cond::NotEqual, divide);
            if remainder {
                // x rem_s -1 = 0 (idiv would fault on INT_MIN).
                enc.mov_ri(Reg::Edx, 0);
                enc.jmp(done);
            } else if let Some(trap) = overflow_trap {
                enc.alu_ri(Alu::Cmp, Reg::Eax, i32::MIN);
                enc.jcc(Cond::Equal, trap);
            }
            enc.bind(divide);
        }
        if signed {
            enc.cdq();
        } else {
            enc.alu_rr(Alu::Xor, Reg::Edx, Reg::Edx);
        }
        enc.div(divisor, signed);
        enc.bind(done);
        self.masm.free(divisor);
        if remainder {
            self.masm.free(Reg::Eax);
            self.masm.push(Value::Reg(Reg::Edx));
        } else {
            self.masm.free(Reg::Edx);
            self.masm.push(Value::Reg(Reg::Eax));
        }
        Ok(())
    }

    fn count_bits(&mut self, which: CountBits) -> Result<(), CompileError> {
        if let Some(Value::Imm(value)) = self.masm.peek() {
            self.masm.pop_value()?;
            let result = match which {
                CountBits::LeadingZeros => value.leading_zeros(),
                CountBits::TrailingZeros => value.trailing_zeros(),
                CountBits::Ones => value.count_ones(),
            };
            self.masm.push(Value::Imm(result as i32));
            return Ok(());
        }
        let source = self.masm.pop_to_reg()?;
        let temp = self.masm.alloc()?;
        let enc = self.masm.enc();
        match which {
            CountBits::LeadingZeros => {
                let done = enc.new_label();
                enc.bsr(temp, source);
                enc.jcc(Cond::NotEqual, done);
                enc.mov_ri(temp, 63);
                enc.bind(done);
                enc.alu_ri(Alu::Xor, temp, 31);
                self.masm.free(source);
                self.masm.push(Value::Reg(temp));
            }
            CountBits::TrailingZeros => {
                let done = enc.new_label();
                enc.bsf(temp, source);
                enc.jcc(Cond::NotEqual, done);
                enc.mov_ri(temp, 32);
                enc.bind(done);
                self.masm.free(source);
                self.masm.push(Value::Reg(temp));
            }
            CountBits::Ones => {
                let x = source;
                enc.mov_rr(temp, x);
                enc.shift_ri(Shift::Shr, temp, 1);
                enc.alu_ri(Alu::And, temp, 0x5555_5555);
                enc.alu_rr(Alu::Sub, x, temp);
                enc.mov_rr(temp, x);
                enc.shift_ri(Shift::Shr, temp, 2);
                enc.alu_ri(Alu::And, temp, 0x3333_3333);
                enc.alu_ri(Alu::And, x, 0x3333_3333);
                enc.alu_rr(Alu::Add, x, temp);
                enc.mov_rr(temp, x);
                enc.shift_ri(Shift::Shr, temp, 4);
                enc.alu_rr(Alu::Add, x, temp);
                enc.alu_ri(Alu::And, x, 0x0F0F_0F0F);
                enc.imul_rri(x, x, 0x0101_0101);
                enc.shift_ri(Shift::Shr, x, 24);
                self.masm.free(temp);
                self.masm.push(Value::Reg(x));
            }
        }
        Ok(())
    }
}

/// The three bit-counting operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CountBits {
    LeadingZeros,
    TrailingZeros,
    Ones,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operator names come out in text format.
    #[test]
    fn operator_names_are_text_format() {
        assert_eq!(operator_name(&Operator::F32Add), "f32.add");
        assert_eq!(operator_name(&Operator::I64Const { value: 1 }), "i64.const");
        assert_eq!(
            operator_name(&Operator::MemoryCopy {
                dst_mem: 0,
                src_mem: 0
            }),
            "memory.copy"
        );
        assert_eq!(operator_name(&Operator::I32TruncF32S), "i32.trunc_f32_s");
        assert_eq!(
            operator_name(&Operator::RefNull {
                hty: wasmparser::HeapType::FUNC
            }),
            "ref.null"
        );
    }
}
