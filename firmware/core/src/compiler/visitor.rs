//! The operator visitor: validates each operator with wasmparser *before* emitting code for it,
//! tracks control frames and reachability, and translates wasm operators into typed
//! [`Masm`] operations. It knows wasm and no ISA: no registers, no condition codes, no encoder.
//! Anything outside the supported subset returns [`CompileError::Unsupported`] naming the
//! operator, its proposal, the function and the byte offset; nothing here panics on input.

use super::masm::{
    self, Access, Arithmetic, CALLEE_SAVED, Carry, Comparison, Conversion, FloatBinary, FloatType,
    FloatUnary, FrameLayout, IntBinary, IntCompare, IntType, IntUnary, Label, Masm, MinMax,
    ModuleCode, Rounding, SignOperation, Signedness, SiteClass, try_push,
};
use super::prescan::prescan;
use super::{CompileOptions, FuncType, ModuleInfo};
use crate::abi::{TrapKind, ValType, value_bytes};
use crate::error::CompileError;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use wasmparser::{BlockType, FuncValidator, FunctionBody, Operator, ValidatorResources};

/// The value-stack depth (in words) above which the value stack gets the callee-saved
/// registers no local is pinned to (saved by the prologue).
const CALLER_SAVED_WORDS: u32 = 3;

/// The text-format name of an operator (`F32Add` -> `f32.add`), from its `Debug` form.
pub fn operator_name(op: &Operator<'_>) -> String {
    let debug = format!("{op:?}");
    let camel = debug.split([' ', '{', '(']).next().unwrap_or("");
    if camel == "TypedSelect" {
        return String::from("select");
    }
    let mut name = String::new();
    // Control instructions have no type prefix: `call_indirect`, `br_table`, `return_call`.
    let mut dotted = ["Call", "Br", "Return", "Try", "Throw"]
        .iter()
        .any(|prefix| camel.starts_with(prefix));
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

/// The WebAssembly proposal an operator comes from (`mvp`, `sign_extension`, `bulk_memory`,
/// `reference_types`, `simd`, ...), from wasmparser's operator table.
pub fn operator_proposal(op: &Operator<'_>) -> &'static str {
    macro_rules! define_proposal {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
            match op {
                $( Operator::$op { .. } => stringify!($proposal), )*
                _ => "unknown",
            }
        };
    }
    wasmparser::for_each_operator!(define_proposal)
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

/// A block type: its parameters and results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No parameters, no results.
    Empty,
    /// No parameters, one result.
    One(ValType),
    /// The function type at this type index.
    Type(u32),
}

/// `ty` as a one-element list.
fn one(ty: ValType) -> &'static [ValType] {
    match ty {
        ValType::I32 => &[ValType::I32],
        ValType::I64 => &[ValType::I64],
        ValType::F32 => &[ValType::F32],
        ValType::F64 => &[ValType::F64],
        ValType::FuncRef => &[ValType::FuncRef],
        ValType::ExternRef => &[ValType::ExternRef],
    }
}

/// One control frame.
#[derive(Debug, Clone, Copy)]
struct Frame {
    kind: FrameKind,
    /// Value-stack height at entry, below the block's parameters.
    height: usize,
    /// The block type.
    shape: Shape,
    /// The result at the end, when there is exactly one (it joins in the canonical registers;
    /// several join in slots, see `masm::multi`).
    result: Option<ValType>,
    /// Branch target: the loop header, or the end.
    label: Label,
    /// The `if`'s else label.
    else_label: Option<Label>,
    /// Whether the frame's entry was reachable.
    entry_reachable: bool,
    /// Whether any branch targets the end.
    branched: bool,
}

/// Whether `ty` is a value type the compiler supports.
pub fn supported_type(ty: ValType) -> bool {
    matches!(
        ty,
        ValType::I32
            | ValType::I64
            | ValType::F32
            | ValType::F64
            | ValType::FuncRef
            | ValType::ExternRef
    )
}

/// The kplug value type of a wasmparser value type, if it has one.
pub fn value_type(ty: wasmparser::ValType) -> Option<ValType> {
    match ty {
        wasmparser::ValType::I32 => Some(ValType::I32),
        wasmparser::ValType::I64 => Some(ValType::I64),
        wasmparser::ValType::F32 => Some(ValType::F32),
        wasmparser::ValType::F64 => Some(ValType::F64),
        wasmparser::ValType::Ref(wasmparser::RefType::FUNCREF) => Some(ValType::FuncRef),
        wasmparser::ValType::Ref(wasmparser::RefType::EXTERNREF) => Some(ValType::ExternRef),
        _ => None,
    }
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
    let mut local_types: Vec<ValType> = Vec::new();
    local_types
        .try_reserve(ty.params.len())
        .map_err(|_| CompileError::OutOfMemory)?;
    local_types.extend_from_slice(&ty.params);
    let mut locals_reader = body.get_locals_reader().map_err(invalid)?;
    for _ in 0..locals_reader.get_count() {
        let offset = locals_reader.original_position();
        let (count, wasm_type) = locals_reader.read().map_err(invalid)?;
        validator
            .define_locals(offset, count, wasm_type)
            .map_err(invalid)?;
        let total = (local_types.len() as u64).saturating_add(u64::from(count));
        if total > u64::from(options.limits.max_locals) {
            return Err(CompileError::TooLarge {
                what: "locals in a function",
                limit: options.limits.max_locals,
            });
        }
        let ty = value_type(wasm_type)
            .filter(|&ty| supported_type(ty))
            .ok_or_else(|| CompileError::Unsupported {
                operator: format!("local of type {wasm_type}"),
                proposal: proposal_of_type(wasm_type),
                function: index,
                offset: offset as u32,
            })?;
        local_types
            .try_reserve(count as usize)
            .map_err(|_| CompileError::OutOfMemory)?;
        local_types.extend(core::iter::repeat_n(ty, count as usize));
    }
    let total = module.total_locals.get() + local_types.len() as u64;
    module.total_locals.set(total);
    if total > u64::from(options.limits.max_total_locals) {
        return Err(CompileError::TooLarge {
            what: "locals of all functions together",
            limit: options.limits.max_total_locals,
        });
    }
    // Setting up the locals (offsets, chains, pre-scan weights) is work too.
    out.work += local_types.len() as u64;
    let words = |types: &[ValType]| types.iter().map(|&ty| value_bytes(ty) / 4).sum::<u32>();
    let call_words = |op: &Operator<'_>| {
        let ty = match *op {
            Operator::Call { function_index } => module.function_type(function_index)?,
            Operator::CallIndirect { type_index, .. } => module.type_at(type_index)?,
            _ => return None,
        };
        let index = u32::from(matches!(op, Operator::CallIndirect { .. }));
        Some((words(&ty.params) + index, words(&ty.results)))
    };
    let scan = prescan(
        body,
        &local_types,
        if options.naive { 0 } else { CALLEE_SAVED.len() },
        call_words,
    );
    out.work += u64::from(scan.operators);
    let pinned = scan.hot_locals.iter().copied().zip(CALLEE_SAVED).collect();
    let layout = FrameLayout {
        params: ty.params.len() as u32,
        local_types,
        pinned,
        wide_value_registers: !options.naive
            && (scan.max_stack_words > CALLER_SAVED_WORDS || scan.uses_wide_values),
    };
    let masm = Masm::new(out, options.isolation, options.naive, index, layout)?;
    let mut compiler = FunctionCompiler {
        masm,
        module,
        ty,
        control: Vec::new(),
        reachable: true,
        deferred: None,
        targets: Vec::new(),
    };
    let label = module.labels[index as usize];
    compiler.masm.prologue(body.range().start as u32, label)?;
    let end = compiler.masm.new_label();
    let function_type = *module
        .function_types
        .get(index as usize)
        .ok_or(CompileError::Internal("function type"))?;
    compiler.push_frame(Frame {
        kind: FrameKind::Function,
        height: 0,
        shape: Shape::Type(function_type),
        result: ty.result().filter(|_| ty.results.len() == 1),
        label: end,
        else_label: None,
        entry_reachable: true,
        branched: false,
    })?;
    let mut reader = body.get_operators_reader().map_err(invalid)?;
    let mut operators = 0u32;
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset().map_err(invalid)?;
        validator.op(offset, &op).map_err(invalid)?;
        compiler.visit(&op, offset as u32)?;
        operators += 1;
    }
    reader.finish().map_err(invalid)?;
    if !compiler.control.is_empty() {
        return Err(CompileError::Internal("unterminated function"));
    }
    compiler.masm.finish()?;
    Ok(operators)
}

/// The proposal a value type belongs to, for refusals.
/// The reference type of a `ref.null`'s heap type (the abstract `func` and `extern` only).
fn heap_type(ty: wasmparser::HeapType) -> Option<ValType> {
    match ty {
        wasmparser::HeapType::FUNC => Some(ValType::FuncRef),
        wasmparser::HeapType::EXTERN => Some(ValType::ExternRef),
        _ => None,
    }
}

fn proposal_of_type(ty: wasmparser::ValType) -> &'static str {
    match ty {
        wasmparser::ValType::V128 => "simd",
        wasmparser::ValType::Ref(_) => "reference_types",
        _ => "mvp",
    }
}

/// The state of one function's compilation.
struct FunctionCompiler<'a, 'm> {
    masm: Masm<'m>,
    module: &'a ModuleInfo,
    ty: &'a FuncType,
    control: Vec<Frame>,
    reachable: bool,
    /// An operator whose result may go straight into a local: held until the next operator
    /// shows whether it is that `local.set`/`local.tee` (operator, its offset).
    deferred: Option<(Deferred, u32)>,
    /// Scratch list of `br_table` target labels (reused).
    targets: Vec<(Label, Carry)>,
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

/// Which operators may find a comparison still pending on top of the stack.
fn consumes_condition(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::BrIf { .. }
            | Operator::If { .. }
            | Operator::Select
            | Operator::TypedSelect { .. }
            | Operator::I32Eqz
    )
}

fn site_class(op: &Operator<'_>) -> SiteClass {
    if memory_access(op).is_some()
        || matches!(
            op,
            Operator::MemoryCopy { .. } | Operator::MemoryFill { .. } | Operator::MemoryInit { .. }
        )
    {
        return SiteClass::Memory;
    }
    match op {
        Operator::Call { .. } | Operator::CallIndirect { .. } | Operator::MemoryGrow { .. } => {
            SiteClass::Call
        }
        _ => SiteClass::Plain,
    }
}

/// The access of a load (false) or store (true) operator, with its static offset.
fn memory_access(op: &Operator<'_>) -> Option<(bool, Access, u64)> {
    use Operator::*;
    let (store, ty, bytes, signed, memarg) = match *op {
        I32Load { memarg } => (false, ValType::I32, 4, false, memarg),
        I32Load8S { memarg } => (false, ValType::I32, 1, true, memarg),
        I32Load8U { memarg } => (false, ValType::I32, 1, false, memarg),
        I32Load16S { memarg } => (false, ValType::I32, 2, true, memarg),
        I32Load16U { memarg } => (false, ValType::I32, 2, false, memarg),
        I64Load { memarg } => (false, ValType::I64, 8, false, memarg),
        I64Load8S { memarg } => (false, ValType::I64, 1, true, memarg),
        I64Load8U { memarg } => (false, ValType::I64, 1, false, memarg),
        I64Load16S { memarg } => (false, ValType::I64, 2, true, memarg),
        I64Load16U { memarg } => (false, ValType::I64, 2, false, memarg),
        I64Load32S { memarg } => (false, ValType::I64, 4, true, memarg),
        I64Load32U { memarg } => (false, ValType::I64, 4, false, memarg),
        I32Store { memarg } => (true, ValType::I32, 4, false, memarg),
        I32Store8 { memarg } => (true, ValType::I32, 1, false, memarg),
        I32Store16 { memarg } => (true, ValType::I32, 2, false, memarg),
        I64Store { memarg } => (true, ValType::I64, 8, false, memarg),
        I64Store8 { memarg } => (true, ValType::I64, 1, false, memarg),
        I64Store16 { memarg } => (true, ValType::I64, 2, false, memarg),
        I64Store32 { memarg } => (true, ValType::I64, 4, false, memarg),
        F32Load { memarg } => (false, ValType::F32, 4, false, memarg),
        F64Load { memarg } => (false, ValType::F64, 8, false, memarg),
        F32Store { memarg } => (true, ValType::F32, 4, false, memarg),
        F64Store { memarg } => (true, ValType::F64, 8, false, memarg),
        _ => return None,
    };
    if memarg.target != wasmparser::MemArgTarget::Memory(0) {
        return None;
    }
    Some((store, Access { ty, bytes, signed }, memarg.offset))
}

/// An operator [`FunctionCompiler`] holds back for one operator, to fuse it with a following
/// `local.set`/`local.tee`.
#[derive(Debug, Clone, Copy)]
enum Deferred {
    /// An i32 operator whose left operand is a pinned local: computed in its register.
    Int(IntBinary),
    /// Float arithmetic: its result stored straight into the local's home.
    Float(ValType, Arithmetic),
}

/// A float binary operator: its type and kind.
fn float_binary(op: &Operator<'_>) -> Option<(ValType, FloatBinary)> {
    use Arithmetic as A;
    use FloatBinary as B;
    use Operator::*;
    Some(match op {
        F32Add => (ValType::F32, B::Arithmetic(A::Add)),
        F32Sub => (ValType::F32, B::Arithmetic(A::Sub)),
        F32Mul => (ValType::F32, B::Arithmetic(A::Mul)),
        F32Div => (ValType::F32, B::Arithmetic(A::Div)),
        F32Min => (ValType::F32, B::MinMax(MinMax::Min)),
        F32Max => (ValType::F32, B::MinMax(MinMax::Max)),
        F32Copysign => (ValType::F32, B::Copysign),
        F64Add => (ValType::F64, B::Arithmetic(A::Add)),
        F64Sub => (ValType::F64, B::Arithmetic(A::Sub)),
        F64Mul => (ValType::F64, B::Arithmetic(A::Mul)),
        F64Div => (ValType::F64, B::Arithmetic(A::Div)),
        F64Min => (ValType::F64, B::MinMax(MinMax::Min)),
        F64Max => (ValType::F64, B::MinMax(MinMax::Max)),
        F64Copysign => (ValType::F64, B::Copysign),
        _ => return None,
    })
}

/// A float unary operator: its type and kind.
fn float_unary(op: &Operator<'_>) -> Option<(ValType, FloatUnary)> {
    use FloatUnary as U;
    use Operator::*;
    Some(match op {
        F32Sqrt => (ValType::F32, U::Sqrt),
        F32Ceil => (ValType::F32, U::Round(Rounding::Ceil)),
        F32Floor => (ValType::F32, U::Round(Rounding::Floor)),
        F32Trunc => (ValType::F32, U::Round(Rounding::Trunc)),
        F32Nearest => (ValType::F32, U::Round(Rounding::Nearest)),
        F32Abs => (ValType::F32, U::Sign(SignOperation::Abs)),
        F32Neg => (ValType::F32, U::Sign(SignOperation::Neg)),
        F64Sqrt => (ValType::F64, U::Sqrt),
        F64Ceil => (ValType::F64, U::Round(Rounding::Ceil)),
        F64Floor => (ValType::F64, U::Round(Rounding::Floor)),
        F64Trunc => (ValType::F64, U::Round(Rounding::Trunc)),
        F64Nearest => (ValType::F64, U::Round(Rounding::Nearest)),
        F64Abs => (ValType::F64, U::Sign(SignOperation::Abs)),
        F64Neg => (ValType::F64, U::Sign(SignOperation::Neg)),
        _ => return None,
    })
}

/// A float comparison: its operand type and kind.
fn float_compare(op: &Operator<'_>) -> Option<(ValType, Comparison)> {
    use Comparison as C;
    use Operator::*;
    Some(match op {
        F32Eq => (ValType::F32, C::Eq),
        F32Ne => (ValType::F32, C::Ne),
        F32Lt => (ValType::F32, C::Lt),
        F32Gt => (ValType::F32, C::Gt),
        F32Le => (ValType::F32, C::Le),
        F32Ge => (ValType::F32, C::Ge),
        F64Eq => (ValType::F64, C::Eq),
        F64Ne => (ValType::F64, C::Ne),
        F64Lt => (ValType::F64, C::Lt),
        F64Gt => (ValType::F64, C::Gt),
        F64Le => (ValType::F64, C::Le),
        F64Ge => (ValType::F64, C::Ge),
        _ => return None,
    })
}

/// A conversion with a float on at least one side (not `reinterpret`, which moves bits).
fn conversion(op: &Operator<'_>) -> Option<Conversion> {
    use FloatType::{F32, F64};
    use IntType::{I32, I64};
    use Operator::*;
    use Signedness::{Signed, Unsigned};
    let from_integer = |from, signedness, to| Conversion::FromInteger {
        from,
        signedness,
        to,
    };
    let truncate = |from, to, signedness, saturate| Conversion::Truncate {
        from,
        to,
        signedness,
        saturate,
    };
    Some(match op {
        F32ConvertI32S => from_integer(I32, Signed, F32),
        F32ConvertI32U => from_integer(I32, Unsigned, F32),
        F32ConvertI64S => from_integer(I64, Signed, F32),
        F32ConvertI64U => from_integer(I64, Unsigned, F32),
        F64ConvertI32S => from_integer(I32, Signed, F64),
        F64ConvertI32U => from_integer(I32, Unsigned, F64),
        F64ConvertI64S => from_integer(I64, Signed, F64),
        F64ConvertI64U => from_integer(I64, Unsigned, F64),
        I32TruncF32S => truncate(F32, I32, Signed, false),
        I32TruncF32U => truncate(F32, I32, Unsigned, false),
        I32TruncF64S => truncate(F64, I32, Signed, false),
        I32TruncF64U => truncate(F64, I32, Unsigned, false),
        I64TruncF32S => truncate(F32, I64, Signed, false),
        I64TruncF32U => truncate(F32, I64, Unsigned, false),
        I64TruncF64S => truncate(F64, I64, Signed, false),
        I64TruncF64U => truncate(F64, I64, Unsigned, false),
        I32TruncSatF32S => truncate(F32, I32, Signed, true),
        I32TruncSatF32U => truncate(F32, I32, Unsigned, true),
        I32TruncSatF64S => truncate(F64, I32, Signed, true),
        I32TruncSatF64U => truncate(F64, I32, Unsigned, true),
        I64TruncSatF32S => truncate(F32, I64, Signed, true),
        I64TruncSatF32U => truncate(F32, I64, Unsigned, true),
        I64TruncSatF64S => truncate(F64, I64, Signed, true),
        I64TruncSatF64U => truncate(F64, I64, Unsigned, true),
        F32DemoteF64 => Conversion::Demote,
        F64PromoteF32 => Conversion::Promote,
        _ => return None,
    })
}

/// A `reinterpret`: the type its bits take.
fn reinterpret(op: &Operator<'_>) -> Option<ValType> {
    use Operator::*;
    Some(match op {
        I32ReinterpretF32 => ValType::I32,
        I64ReinterpretF64 => ValType::I64,
        F32ReinterpretI32 => ValType::F32,
        F64ReinterpretI64 => ValType::F64,
        _ => return None,
    })
}

/// Whether `op` is a float operator, a float constant or a `reinterpret`.
fn is_float_operator(op: &Operator<'_>) -> bool {
    float_binary(op).is_some()
        || float_unary(op).is_some()
        || float_compare(op).is_some()
        || conversion(op).is_some()
        || reinterpret(op).is_some()
        || matches!(op, Operator::F32Const { .. } | Operator::F64Const { .. })
}

/// An integer binary operator: its type and kind.
fn int_binary(op: &Operator<'_>) -> Option<(ValType, IntBinary)> {
    use IntBinary as B;
    use Operator::*;
    Some(match op {
        I32Add => (ValType::I32, B::Add),
        I32Sub => (ValType::I32, B::Sub),
        I32Mul => (ValType::I32, B::Mul),
        I32DivS => (ValType::I32, B::DivS),
        I32DivU => (ValType::I32, B::DivU),
        I32RemS => (ValType::I32, B::RemS),
        I32RemU => (ValType::I32, B::RemU),
        I32And => (ValType::I32, B::And),
        I32Or => (ValType::I32, B::Or),
        I32Xor => (ValType::I32, B::Xor),
        I32Shl => (ValType::I32, B::Shl),
        I32ShrS => (ValType::I32, B::ShrS),
        I32ShrU => (ValType::I32, B::ShrU),
        I32Rotl => (ValType::I32, B::Rotl),
        I32Rotr => (ValType::I32, B::Rotr),
        I64Add => (ValType::I64, B::Add),
        I64Sub => (ValType::I64, B::Sub),
        I64Mul => (ValType::I64, B::Mul),
        I64DivS => (ValType::I64, B::DivS),
        I64DivU => (ValType::I64, B::DivU),
        I64RemS => (ValType::I64, B::RemS),
        I64RemU => (ValType::I64, B::RemU),
        I64And => (ValType::I64, B::And),
        I64Or => (ValType::I64, B::Or),
        I64Xor => (ValType::I64, B::Xor),
        I64Shl => (ValType::I64, B::Shl),
        I64ShrS => (ValType::I64, B::ShrS),
        I64ShrU => (ValType::I64, B::ShrU),
        I64Rotl => (ValType::I64, B::Rotl),
        I64Rotr => (ValType::I64, B::Rotr),
        _ => return None,
    })
}

/// An integer comparison: its operand type and kind.
fn int_compare(op: &Operator<'_>) -> Option<(ValType, IntCompare)> {
    use IntCompare as C;
    use Operator::*;
    Some(match op {
        I32Eq => (ValType::I32, C::Eq),
        I32Ne => (ValType::I32, C::Ne),
        I32LtS => (ValType::I32, C::LtS),
        I32LtU => (ValType::I32, C::LtU),
        I32GtS => (ValType::I32, C::GtS),
        I32GtU => (ValType::I32, C::GtU),
        I32LeS => (ValType::I32, C::LeS),
        I32LeU => (ValType::I32, C::LeU),
        I32GeS => (ValType::I32, C::GeS),
        I32GeU => (ValType::I32, C::GeU),
        I64Eq => (ValType::I64, C::Eq),
        I64Ne => (ValType::I64, C::Ne),
        I64LtS => (ValType::I64, C::LtS),
        I64LtU => (ValType::I64, C::LtU),
        I64GtS => (ValType::I64, C::GtS),
        I64GtU => (ValType::I64, C::GtU),
        I64LeS => (ValType::I64, C::LeS),
        I64LeU => (ValType::I64, C::LeU),
        I64GeS => (ValType::I64, C::GeS),
        I64GeU => (ValType::I64, C::GeU),
        _ => return None,
    })
}

/// An integer unary operator: its type and kind.
fn int_unary(op: &Operator<'_>) -> Option<(ValType, IntUnary)> {
    use IntUnary as U;
    use Operator::*;
    Some(match op {
        I32Clz => (ValType::I32, U::Clz),
        I32Ctz => (ValType::I32, U::Ctz),
        I32Popcnt => (ValType::I32, U::Popcnt),
        I32Extend8S => (ValType::I32, U::Extend8S),
        I32Extend16S => (ValType::I32, U::Extend16S),
        I64Clz => (ValType::I64, U::Clz),
        I64Ctz => (ValType::I64, U::Ctz),
        I64Popcnt => (ValType::I64, U::Popcnt),
        I64Extend8S => (ValType::I64, U::Extend8S),
        I64Extend16S => (ValType::I64, U::Extend16S),
        I64Extend32S => (ValType::I64, U::Extend32S),
        _ => return None,
    })
}

impl<'a> FunctionCompiler<'a, '_> {
    fn unsupported(&self, op: &Operator<'_>) -> CompileError {
        CompileError::Unsupported {
            operator: operator_name(op),
            proposal: operator_proposal(op),
            function: self.masm.function,
            offset: self.masm.wasm_offset,
        }
    }

    fn push_frame(&mut self, frame: Frame) -> Result<(), CompileError> {
        try_push(&mut self.control, frame)
    }

    fn visit(&mut self, op: &Operator<'_>, offset: u32) -> Result<(), CompileError> {
        self.masm.wasm_offset = offset;
        if let Some((deferred, at)) = self.deferred.take() {
            let write = match *op {
                Operator::LocalSet { local_index } => Some((local_index, false)),
                Operator::LocalTee { local_index } => Some((local_index, true)),
                _ => None,
            };
            self.masm.mark(at, SiteClass::Plain)?;
            let fused = match (deferred, write) {
                (Deferred::Int(binary), Some((local, _)))
                    if self.masm.fusable_local(binary) == Some(local) =>
                {
                    self.masm.binary_i32_into_local(binary, local)?;
                    true
                }
                (Deferred::Float(ty, arithmetic), Some((local, _)))
                    if self.masm.fusable_float_local(ty, local) =>
                {
                    self.masm.arithmetic_into_local(ty, arithmetic, local)?;
                    true
                }
                (Deferred::Int(binary), _) => {
                    self.masm.binary_i32(binary)?;
                    false
                }
                (Deferred::Float(ty, arithmetic), _) => {
                    self.masm
                        .binary_float(ty, FloatBinary::Arithmetic(arithmetic))?;
                    false
                }
            };
            if let (true, Some((local, tee))) = (fused, write) {
                self.masm.mark(offset, SiteClass::Plain)?;
                if tee {
                    self.masm.local_get(local)?;
                }
                return Ok(());
            }
            self.masm.wasm_offset = offset;
        }
        if !self.reachable && !is_control(op) {
            // Still reject what we could never compile, so acceptance does not depend on
            // reachability.
            return if self.supported(op) {
                Ok(())
            } else {
                Err(self.unsupported(op))
            };
        }
        if !consumes_condition(op) {
            self.masm.materialize_flags()?;
        }
        self.masm.mark(offset, site_class(op))?;
        // A fusable i32 operator waits for the next operator.
        if let Some((ValType::I32, binary)) = int_binary(op)
            && self.masm.fusable_local(binary).is_some()
        {
            self.deferred = Some((Deferred::Int(binary), offset));
            return Ok(());
        }
        // f64 arithmetic waits too: a `local.set` after it takes its result from its `fstp`.
        if let Some((ValType::F64, FloatBinary::Arithmetic(arithmetic))) = float_binary(op)
            && !self.masm.naive
        {
            self.deferred = Some((Deferred::Float(ValType::F64, arithmetic), offset));
            return Ok(());
        }
        self.operator(op)?;
        if self.masm.naive && self.reachable {
            self.masm.spill_all()?;
        }
        Ok(())
    }

    /// Whether `op` is in the supported subset (checked for unreachable code).
    fn supported(&self, op: &Operator<'_>) -> bool {
        use Operator::*;
        if int_binary(op).is_some()
            || int_compare(op).is_some()
            || int_unary(op).is_some()
            || memory_access(op).is_some()
            || is_float_operator(op)
        {
            return true;
        }
        match op {
            TypedSelect { ty } => value_type(*ty).is_some_and(supported_type),
            CallIndirect { type_index, .. } => self.module.type_at(*type_index).is_some(),
            RefNull { hty } => heap_type(*hty).is_some(),
            _ => matches!(
                op,
                Unreachable
                    | Nop
                    | Br { .. }
                    | BrIf { .. }
                    | BrTable { .. }
                    | Return
                    | Call { .. }
                    | Drop
                    | Select
                    | LocalGet { .. }
                    | LocalSet { .. }
                    | LocalTee { .. }
                    | GlobalGet { .. }
                    | GlobalSet { .. }
                    | MemorySize { mem: 0 }
                    | MemoryGrow { mem: 0 }
                    | MemoryCopy {
                        dst_mem: 0,
                        src_mem: 0
                    }
                    | MemoryFill { mem: 0 }
                    | MemoryInit { mem: 0, .. }
                    | DataDrop { .. }
                    | RefIsNull
                    | RefFunc { .. }
                    | TableGet { .. }
                    | TableSet { .. }
                    | TableSize { .. }
                    | TableGrow { .. }
                    | TableFill { .. }
                    | TableCopy { .. }
                    | TableInit { .. }
                    | ElemDrop { .. }
                    | I32Const { .. }
                    | I64Const { .. }
                    | I32Eqz
                    | I64Eqz
                    | I32WrapI64
                    | I64ExtendI32S
                    | I64ExtendI32U
            ),
        }
    }

    fn block_shape(&self, op: &Operator<'_>, ty: BlockType) -> Result<Shape, CompileError> {
        match ty {
            BlockType::Empty => Ok(Shape::Empty),
            BlockType::Type(ty) => value_type(ty)
                .filter(|&ty| supported_type(ty))
                .map(Shape::One)
                .ok_or_else(|| CompileError::Unsupported {
                    operator: format!("{} with a {ty} value", operator_name(op)),
                    proposal: proposal_of_type(ty),
                    function: self.masm.function,
                    offset: self.masm.wasm_offset,
                }),
            BlockType::FuncType(index) => match self.module.type_at(index) {
                Some(_) => Ok(Shape::Type(index)),
                // Only value types outside the compiled subset keep a type out.
                None => Err(CompileError::Unsupported {
                    operator: format!("{} of a type with reference values", operator_name(op)),
                    proposal: "mvp",
                    function: self.masm.function,
                    offset: self.masm.wasm_offset,
                }),
            },
        }
    }

    /// The parameters of a block type.
    fn params(&self, shape: Shape) -> &'a [ValType] {
        match shape {
            Shape::Type(index) => self
                .module
                .type_at(index)
                .map_or(&[], |ty| ty.params.as_slice()),
            _ => &[],
        }
    }

    /// The results of a block type.
    fn results(&self, shape: Shape) -> &'a [ValType] {
        match shape {
            Shape::Empty => &[],
            Shape::One(ty) => one(ty),
            Shape::Type(index) => self
                .module
                .type_at(index)
                .map_or(&[], |ty| ty.results.as_slice()),
        }
    }

    /// What the end of `frame` (or a branch to a non-loop frame) carries.
    fn end_carry(&self, frame: &Frame) -> Carry {
        let results = self.results(frame.shape);
        match results {
            [] => Carry::Nothing,
            [ty] => Carry::Canonical(*ty),
            _ => Carry::Slots {
                count: results.len(),
                base: frame.height,
            },
        }
    }

    /// What a branch to `frame` carries: a loop's parameters (in slots), else its results.
    fn carry(&self, frame: &Frame) -> Carry {
        if frame.kind != FrameKind::Loop {
            return self.end_carry(frame);
        }
        match self.params(frame.shape).len() {
            0 => Carry::Nothing,
            count => Carry::Slots {
                count,
                base: frame.height,
            },
        }
    }

    /// An unconditional branch carrying `carry`.
    fn branch(&mut self, carry: Carry, label: Label) -> Result<(), CompileError> {
        match carry {
            Carry::Slots { count, base } => self.masm.branch_slots(count, base, label),
            other => self.masm.branch(canonical(other), label),
        }
    }

    fn operator(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
        use Operator::*;
        if let Some((ty, binary)) = int_binary(op) {
            return match ty {
                ValType::I32 => self.masm.binary_i32(binary),
                _ => self.masm.binary_i64(binary),
            };
        }
        if let Some((ty, compare)) = int_compare(op) {
            return match ty {
                ValType::I32 => self.masm.compare_i32(compare),
                _ => self.masm.compare_i64(compare),
            };
        }
        if let Some((ty, unary)) = int_unary(op) {
            return match ty {
                ValType::I32 => self.masm.unary_i32(unary),
                _ => self.masm.unary_i64(unary),
            };
        }
        if let Some(result) = self.float_operator(op) {
            return result;
        }
        if let Some((store, access, offset)) = memory_access(op) {
            return if store {
                self.masm.store(access, offset)
            } else {
                self.masm.load(access, offset)
            };
        }
        match *op {
            // ---- Control. ----
            Unreachable => {
                self.masm.trap_here(TrapKind::Unreachable)?;
                self.set_unreachable()?;
            }
            Nop => {}
            Block { blockty } => {
                let shape = self.block_shape(op, blockty)?;
                self.enter_block(FrameKind::Block, shape)?;
            }
            Loop { blockty } => {
                let shape = self.block_shape(op, blockty)?;
                self.enter_block(FrameKind::Loop, shape)?;
            }
            If { blockty } => {
                let shape = self.block_shape(op, blockty)?;
                self.enter_if(shape)?;
            }
            Else => self.visit_else()?,
            End => self.visit_end()?,
            Br { relative_depth } => {
                let (label, carry) = self.target(relative_depth)?;
                self.branch(carry, label)?;
                self.set_unreachable()?;
            }
            BrIf { relative_depth } => {
                let (label, carry) = self.target(relative_depth)?;
                let taken = match carry {
                    Carry::Slots { count, base } => {
                        self.masm.branch_if_slots(count, base, label)?
                    }
                    other => self.masm.branch_if(canonical(other), label)?,
                };
                if taken {
                    self.set_unreachable()?;
                }
            }
            BrTable { ref targets } => {
                let default = targets.default();
                if let Some(index) = self.masm.constant_index() {
                    self.masm.drop_top()?;
                    let mut depth = default;
                    for (position, target) in targets.targets().enumerate() {
                        let target = target.map_err(super::invalid)?;
                        if position as u64 == u64::from(index) {
                            depth = target;
                            break;
                        }
                    }
                    let (label, carry) = self.target(depth)?;
                    self.branch(carry, label)?;
                } else {
                    let mut labels = core::mem::take(&mut self.targets);
                    labels.clear();
                    let mut carried = false;
                    for target in targets.targets() {
                        let depth = target.map_err(super::invalid)?;
                        let (label, carry) = self.target(depth)?;
                        carried |= matches!(carry, Carry::Slots { .. });
                        try_push(&mut labels, (label, carry))?;
                    }
                    let (default_label, carry) = self.target(default)?;
                    carried |= matches!(carry, Carry::Slots { .. });
                    if carried {
                        self.masm
                            .branch_table_carrying(&labels, (default_label, carry))?;
                    } else {
                        let mut plain = Vec::new();
                        plain
                            .try_reserve_exact(labels.len())
                            .map_err(|_| CompileError::OutOfMemory)?;
                        plain.extend(labels.iter().map(|(label, _)| *label));
                        self.masm
                            .branch_table(canonical(carry), &plain, default_label)?;
                    }
                    self.targets = labels;
                }
                self.set_unreachable()?;
            }
            Return => {
                if self.ty.results.len() > 1 {
                    self.masm.return_multi(&self.ty.results)?;
                } else {
                    self.masm.return_from(self.ty.result())?;
                }
                self.set_unreachable()?;
            }
            Call { function_index } => {
                let ty = self
                    .module
                    .function_type(function_index)
                    .ok_or(CompileError::Internal("callee type"))?;
                if function_index < self.module.imported {
                    let slot = self.module.layout.import_offset(function_index);
                    self.masm.call_import(ty, slot)?;
                } else {
                    let label = self.module.labels[function_index as usize];
                    self.masm.call(ty, label)?;
                }
            }
            CallIndirect {
                type_index,
                table_index,
            } => {
                let ty = self
                    .module
                    .type_at(type_index)
                    .ok_or_else(|| self.unsupported(op))?;
                let expected = self.module.canonical[type_index as usize];
                let table = self.table(table_index)?;
                self.masm.call_indirect(
                    ty,
                    expected,
                    table.layout,
                    self.module.layout.functions_offset,
                    self.module.function_types.len() as u32,
                )?;
            }
            Drop => self.masm.drop_top()?,
            Select => {
                let ty = self
                    .masm
                    .peek_at(1)
                    .ok_or(CompileError::Internal("select operands"))?
                    .ty;
                self.masm.select(ty)?;
            }
            TypedSelect { ty } => {
                let ty = value_type(ty)
                    .filter(|&ty| supported_type(ty))
                    .ok_or_else(|| self.unsupported(op))?;
                self.masm.select(ty)?;
            }

            // ---- Variables. ----
            LocalGet { local_index } => self.masm.local_get(local_index)?,
            LocalSet { local_index } => self.masm.local_set(local_index, false)?,
            LocalTee { local_index } => self.masm.local_set(local_index, true)?,
            GlobalGet { global_index } => {
                let global = self.global(global_index)?;
                let offset = self.module.layout.global_offset(global_index);
                self.masm
                    .global_get(global.ty, offset, global.mutable, global.init)?;
            }
            GlobalSet { global_index } => {
                let global = self.global(global_index)?;
                let offset = self.module.layout.global_offset(global_index);
                self.masm.global_set(global.ty, offset)?;
            }

            // ---- Memory. ----
            MemorySize { mem: 0 } => self.masm.memory_size()?,
            MemoryGrow { mem: 0 } => self.masm.memory_grow()?,
            MemoryCopy {
                dst_mem: 0,
                src_mem: 0,
            } => self.masm.memory_copy()?,
            MemoryFill { mem: 0 } => self.masm.memory_fill()?,
            MemoryInit { data_index, mem: 0 } => {
                let segment = self.data_segment(data_index)?;
                self.masm.memory_init(segment)?;
            }
            DataDrop { data_index } => {
                let segment = self.data_segment(data_index)?;
                self.masm.data_drop(segment.length_offset)?;
            }

            // ---- References and tables. ----
            RefNull { hty } => {
                let ty = heap_type(hty).ok_or_else(|| self.unsupported(op))?;
                self.masm.ref_null(ty)?;
            }
            RefIsNull => self.masm.ref_is_null()?,
            RefFunc { function_index } => self.masm.ref_func(function_index)?,
            TableGet { table } => {
                let table = self.table(table)?;
                self.masm.table_get(table.ty, table.layout)?;
            }
            TableSet { table } => self.masm.table_set(self.table(table)?.layout)?,
            TableSize { table } => self.masm.table_size(self.table(table)?.layout)?,
            TableGrow { table } => self.masm.table_grow(self.table(table)?.layout)?,
            TableFill { table } => self.masm.table_fill(self.table(table)?.layout)?,
            TableCopy {
                dst_table,
                src_table,
            } => {
                let destination = self.table(dst_table)?.layout;
                let source = self.table(src_table)?.layout;
                self.masm.table_copy(destination, source)?;
            }
            TableInit { elem_index, table } => {
                let segment = self.element_segment(elem_index)?;
                self.masm.table_init(segment, self.table(table)?.layout)?;
            }
            ElemDrop { elem_index } => {
                let segment = self.element_segment(elem_index)?;
                self.masm.elem_drop(segment.length_offset)?;
            }

            // ---- Numeric. ----
            I32Const { value } => self
                .masm
                .push(ValType::I32, masm::Value::Imm(i64::from(value)))?,
            I64Const { value } => self.masm.push(ValType::I64, masm::Value::Imm(value))?,
            I32Eqz => self.masm.eqz_i32()?,
            I64Eqz => self.masm.eqz_i64()?,
            I32WrapI64 => self.masm.wrap_i64()?,
            I64ExtendI32S => self.masm.extend_i32(true)?,
            I64ExtendI32U => self.masm.extend_i32(false)?,
            _ => return Err(self.unsupported(op)),
        }
        Ok(())
    }

    fn data_segment(&self, index: u32) -> Result<masm::DataSegmentRef, CompileError> {
        self.module
            .data_segments
            .get(index as usize)
            .copied()
            .ok_or(CompileError::Internal("data segment index"))
    }

    fn element_segment(&self, index: u32) -> Result<masm::ElementSegmentRef, CompileError> {
        self.module
            .element_segments
            .get(index as usize)
            .copied()
            .ok_or(CompileError::Internal("element segment index"))
    }

    /// A float operator, constant or `reinterpret`, if `op` is one.
    fn float_operator(&mut self, op: &Operator<'_>) -> Option<Result<(), CompileError>> {
        Some(if let Some((ty, binary)) = float_binary(op) {
            self.masm.binary_float(ty, binary)
        } else if let Some((ty, unary)) = float_unary(op) {
            self.masm.unary_float(ty, unary)
        } else if let Some((ty, comparison)) = float_compare(op) {
            self.masm.compare_float(ty, comparison)
        } else if let Some(conversion) = conversion(op) {
            self.masm.convert(conversion)
        } else if let Some(ty) = reinterpret(op) {
            self.masm.reinterpret(ty)
        } else {
            match *op {
                Operator::F32Const { value } => {
                    self.masm.float_const(ValType::F32, u64::from(value.bits()))
                }
                Operator::F64Const { value } => self.masm.float_const(ValType::F64, value.bits()),
                _ => return None,
            }
        })
    }

    fn table(&self, index: u32) -> Result<super::Table, CompileError> {
        self.module
            .tables
            .get(index as usize)
            .copied()
            .ok_or(CompileError::Internal("table index"))
    }

    fn global(&self, index: u32) -> Result<super::Global, CompileError> {
        self.module
            .globals
            .get(index as usize)
            .copied()
            .ok_or(CompileError::Internal("global index"))
    }

    // ---- Control flow. ----

    fn set_unreachable(&mut self) -> Result<(), CompileError> {
        let height = self.control.last().map_or(0, |frame| frame.height);
        self.masm.join(height)?;
        self.reachable = false;
        Ok(())
    }

    fn enter_block(&mut self, kind: FrameKind, shape: Shape) -> Result<(), CompileError> {
        let reachable = self.reachable;
        let mut height = self.masm.height();
        if reachable {
            self.masm.enter_block()?;
            height = height
                .checked_sub(self.params(shape).len())
                .ok_or(CompileError::Internal("block parameters underflow"))?;
        }
        let label = self.masm.new_label();
        if kind == FrameKind::Loop {
            self.masm.bind(label);
        }
        self.push_frame(Frame {
            kind,
            height,
            shape,
            result: single(self.results(shape)),
            label,
            else_label: None,
            entry_reachable: reachable,
            branched: false,
        })
    }

    fn enter_if(&mut self, shape: Shape) -> Result<(), CompileError> {
        let reachable = self.reachable;
        let else_label = self.masm.new_label();
        let mut height = self.masm.height();
        if reachable {
            self.masm.enter_if(else_label)?;
            height = self
                .masm
                .height()
                .checked_sub(self.params(shape).len())
                .ok_or(CompileError::Internal("block parameters underflow"))?;
        }
        let label = self.masm.new_label();
        self.push_frame(Frame {
            kind: FrameKind::If,
            height,
            shape,
            result: single(self.results(shape)),
            label,
            else_label: Some(else_label),
            entry_reachable: reachable,
            branched: false,
        })
    }

    fn visit_else(&mut self) -> Result<(), CompileError> {
        let frame = *self
            .control
            .last()
            .ok_or(CompileError::Internal("else without if"))?;
        if self.reachable {
            match self.end_carry(&frame) {
                Carry::Slots { count, base } => self.masm.branch_slots(count, base, frame.label)?,
                _ => self.masm.jump_to_join(frame.result, frame.label)?,
            }
        }
        let reached_end = self.reachable;
        self.masm.join(frame.height)?;
        if let Some(else_label) = frame.else_label {
            self.masm.bind(else_label);
        }
        if let Some(last) = self.control.last_mut() {
            last.kind = FrameKind::Else;
            last.else_label = None;
            last.branched |= reached_end;
        }
        self.reachable = frame.entry_reachable;
        if frame.entry_reachable {
            // The false path starts from the parameters, still in their slots.
            self.masm.push_slots(self.params(frame.shape))?;
        }
        Ok(())
    }

    fn visit_end(&mut self) -> Result<(), CompileError> {
        let frame = self
            .control
            .pop()
            .ok_or(CompileError::Internal("end without frame"))?;
        let results = self.results(frame.shape);
        let carry = self.end_carry(&frame);
        if self.reachable {
            match carry {
                Carry::Slots { count, base } => self.masm.values_to_slots(count, base)?,
                Carry::Canonical(ty) => self.masm.pop_result(ty)?,
                Carry::Nothing => {}
            }
        }
        let mut reachable = self.reachable || frame.branched;
        if let Some(else_label) = frame.else_label {
            // An `if` without `else`: the false path arrives here, with its parameters (which
            // are its results) in their slots.
            if let Carry::Canonical(ty) = carry
                && !self.params(frame.shape).is_empty()
            {
                if self.reachable {
                    self.masm.enc().jmp(frame.label);
                }
                self.masm.bind(else_label);
                if frame.entry_reachable {
                    self.masm.slot_to_canonical(ty, frame.height)?;
                }
            } else {
                self.masm.bind(else_label);
            }
            reachable |= frame.entry_reachable;
        }
        if frame.kind != FrameKind::Loop {
            self.masm.bind(frame.label);
        }
        self.masm.join(frame.height)?;
        self.reachable = reachable;
        if !reachable {
            return Ok(());
        }
        match carry {
            Carry::Slots { .. } => {
                self.masm.push_slots(results)?;
                if frame.kind == FrameKind::Function {
                    self.masm.return_multi(results)?;
                }
            }
            _ if frame.kind == FrameKind::Function => self.masm.epilogue(),
            Carry::Canonical(ty) => self.masm.push_result(ty)?,
            Carry::Nothing => {}
        }
        Ok(())
    }

    /// The frame `depth` levels out, marked as branched to; its target label and what a branch
    /// carries.
    fn target(&mut self, depth: u32) -> Result<(Label, Carry), CompileError> {
        let index = self
            .control
            .len()
            .checked_sub(1 + depth as usize)
            .ok_or(CompileError::Internal("branch depth"))?;
        let frame = &mut self.control[index];
        if frame.kind != FrameKind::Loop {
            frame.branched = true;
        }
        let frame = *frame;
        Ok((frame.label, self.carry(&frame)))
    }
}

/// The single result of a list of one.
fn single(results: &[ValType]) -> Option<ValType> {
    match results {
        [ty] => Some(*ty),
        _ => None,
    }
}

/// The canonical-register value of a carry (none for slots).
fn canonical(carry: Carry) -> Option<ValType> {
    match carry {
        Carry::Canonical(ty) => Some(ty),
        _ => None,
    }
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
            operator_name(&Operator::CallIndirect {
                type_index: 0,
                table_index: 0
            }),
            "call_indirect"
        );
        assert_eq!(
            operator_name(&Operator::BrIf { relative_depth: 0 }),
            "br_if"
        );
        assert_eq!(
            operator_name(&Operator::LocalGet { local_index: 0 }),
            "local.get"
        );
        assert_eq!(
            operator_name(&Operator::RefNull {
                hty: wasmparser::HeapType::FUNC
            }),
            "ref.null"
        );
    }

    /// Operators are attributed to their proposal.
    #[test]
    fn operator_proposals() {
        assert_eq!(operator_proposal(&Operator::F32Add), "mvp");
        assert_eq!(operator_proposal(&Operator::I32Extend8S), "sign_extension");
        assert_eq!(
            operator_proposal(&Operator::MemoryFill { mem: 0 }),
            "bulk_memory"
        );
        assert_eq!(
            operator_proposal(&Operator::RefNull {
                hty: wasmparser::HeapType::FUNC
            }),
            "reference_types"
        );
        assert_eq!(
            operator_proposal(&Operator::I32TruncSatF32S),
            "saturating_float_to_int"
        );
    }
}
