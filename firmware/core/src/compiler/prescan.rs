//! The pre-scan: one quick, linear pass over a function body before it is compiled, to learn
//! what a single pass cannot know in time:
//!
//! - which locals are hottest (uses weighted by loop depth), so they can be pinned to
//!   callee-saved registers for the whole function;
//! - a bound on the operand-stack depth (in 32-bit words) and whether the body uses 64-bit
//!   values, so the compiler can decide, *before* it emits the prologue, whether the value stack
//!   may use the callee-saved registers that hold no local (and must therefore be saved).
//!
//! The pre-scan only reads operators; it stops quietly at anything unreadable (validation
//! reports it in the real pass). Its results choose code, never correctness: an estimate that is
//! too low only means more spills, because the register allocator never uses a callee-saved
//! register the prologue did not save.

use crate::abi::{ValType, value_bytes};
use alloc::vec::Vec;
use wasmparser::{BlockType, FunctionBody, Operator};

/// A local must weigh at least this much (uses, times 8 per enclosing loop) to be pinned.
const PIN_THRESHOLD: u32 = 3;
/// Loop nesting beyond this depth weighs no more.
const MAX_LOOP_WEIGHT_DEPTH: u32 = 4;

/// What the pre-scan learned about one function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prescan {
    /// Up to `max_pinned` 32-bit locals worth a register, hottest first.
    pub hot_locals: Vec<u32>,
    /// An estimate of the deepest operand stack, in 32-bit words.
    pub max_stack_words: u32,
    /// Whether any operator produces or consumes a 64-bit value.
    pub uses_wide_values: bool,
    /// Operators read (the pre-scan's share of the compiler's work counter).
    pub operators: u32,
}

/// The stack effect of an operator the pre-scan models: words popped and pushed. Anything not
/// modelled counts as pushing one word (an over-estimate only costs a saved register).
fn stack_effect(op: &Operator<'_>) -> (u32, u32, bool) {
    use Operator::*;
    match op {
        I32Const { .. } | LocalGet { .. } | GlobalGet { .. } | MemorySize { .. } => (0, 1, false),
        I64Const { .. } => (0, 2, true),
        LocalSet { .. } | GlobalSet { .. } | Drop | BrIf { .. } | If { .. } => (1, 0, false),
        LocalTee { .. } => (1, 1, false),
        I32Eqz | I32Clz | I32Ctz | I32Popcnt | I32Extend8S | I32Extend16S | MemoryGrow { .. } => {
            (1, 1, false)
        }
        I32Load { .. }
        | I32Load8S { .. }
        | I32Load8U { .. }
        | I32Load16S { .. }
        | I32Load16U { .. } => (1, 1, false),
        I64Load { .. }
        | I64Load8S { .. }
        | I64Load8U { .. }
        | I64Load16S { .. }
        | I64Load16U { .. }
        | I64Load32S { .. }
        | I64Load32U { .. } => (1, 2, true),
        I32Store { .. } | I32Store8 { .. } | I32Store16 { .. } => (2, 0, false),
        I64Store { .. } | I64Store8 { .. } | I64Store16 { .. } | I64Store32 { .. } => (3, 0, true),
        Select | TypedSelect { .. } => (3, 1, false),
        I64Eqz | I32WrapI64 => (2, 1, true),
        I64ExtendI32S | I64ExtendI32U => (1, 2, true),
        I64Clz | I64Ctz | I64Popcnt | I64Extend8S | I64Extend16S | I64Extend32S => (2, 2, true),
        I64Eq | I64Ne | I64LtS | I64LtU | I64GtS | I64GtU | I64LeS | I64LeU | I64GeS | I64GeU => {
            (4, 1, true)
        }
        I64Add | I64Sub | I64Mul | I64DivS | I64DivU | I64RemS | I64RemU | I64And | I64Or
        | I64Xor | I64Shl | I64ShrS | I64ShrU | I64Rotl | I64Rotr => (4, 2, true),
        I32Eq | I32Ne | I32LtS | I32LtU | I32GtS | I32GtU | I32LeS | I32LeU | I32GeS | I32GeU
        | I32Add | I32Sub | I32Mul | I32DivS | I32DivU | I32RemS | I32RemU | I32And | I32Or
        | I32Xor | I32Shl | I32ShrS | I32ShrU | I32Rotl | I32Rotr => (2, 1, false),
        F32Const { .. } => (0, 1, false),
        F64Const { .. } => (0, 2, true),
        F32Load { .. } | F32Abs | F32Neg | F32Sqrt | F32Ceil | F32Floor | F32Trunc | F32Nearest => {
            (1, 1, false)
        }
        F64Load { .. } => (1, 2, true),
        F32Store { .. } => (2, 0, false),
        F64Store { .. } => (3, 0, true),
        F32Add | F32Sub | F32Mul | F32Div | F32Min | F32Max | F32Copysign | F32Eq | F32Ne
        | F32Lt | F32Gt | F32Le | F32Ge => (2, 1, false),
        F64Abs | F64Neg | F64Sqrt | F64Ceil | F64Floor | F64Trunc | F64Nearest => (2, 2, true),
        F64Add | F64Sub | F64Mul | F64Div | F64Min | F64Max | F64Copysign => (4, 2, true),
        F64Eq | F64Ne | F64Lt | F64Gt | F64Le | F64Ge => (4, 1, true),
        Block { .. }
        | Loop { .. }
        | Else
        | End
        | Nop
        | Br { .. }
        | BrTable { .. }
        | Return
        | Unreachable => (0, 0, false),
        // Calls: arguments and results are not known here; count a result word.
        _ => (0, 1, false),
    }
}

/// Words of a block's result.
fn block_words(ty: BlockType) -> u32 {
    match ty {
        BlockType::Type(ty) if is_wide(ty) => 2,
        BlockType::Type(_) => 1,
        _ => 0,
    }
}

/// Scans `body`, whose locals (parameters first) have `local_types`, choosing up to
/// `max_pinned` hot 32-bit locals. `call_words` gives a call's or `call_indirect`'s stack
/// effect in words (arguments popped, results pushed). Linear in the body's size.
pub fn prescan(
    body: &FunctionBody<'_>,
    local_types: &[ValType],
    max_pinned: usize,
    call_words: impl Fn(&Operator<'_>) -> Option<(u32, u32)>,
) -> Prescan {
    let mut result = Prescan::default();
    let Ok(mut reader) = body.get_operators_reader() else {
        return result;
    };
    // Weight per local, indexed by local (bounded by the compiler's locals limit).
    let mut weights: Vec<u32> = Vec::new();
    if weights.try_reserve_exact(local_types.len()).is_err() {
        return result;
    }
    weights.resize(local_types.len(), 0);
    // The open blocks: (is a loop, stack words at entry, result words).
    let mut frames: Vec<(bool, u32, u32)> = Vec::new();
    let mut loop_depth = 0u32;
    let mut height = 0u32;
    while !reader.eof() {
        let Ok(op) = reader.read() else { break };
        result.operators += 1;
        let (pops, pushes, wide) = match call_words(&op) {
            Some((pops, pushes)) => (pops, pushes, false),
            None => stack_effect(&op),
        };
        result.uses_wide_values |= wide;
        height = height.saturating_sub(pops).saturating_add(pushes);
        result.max_stack_words = result.max_stack_words.max(height);
        let local = match op {
            Operator::Block { blockty } | Operator::If { blockty } => {
                result.uses_wide_values |= matches!(blockty, BlockType::Type(ty) if is_wide(ty));
                if frames.try_reserve(1).is_err() {
                    break;
                }
                frames.push((false, height, block_words(blockty)));
                None
            }
            Operator::Loop { blockty } => {
                result.uses_wide_values |= matches!(blockty, BlockType::Type(ty) if is_wide(ty));
                if frames.try_reserve(1).is_err() {
                    break;
                }
                frames.push((true, height, block_words(blockty)));
                loop_depth += 1;
                None
            }
            Operator::Else => {
                height = frames.last().map_or(0, |frame| frame.1);
                None
            }
            Operator::End => {
                if let Some((is_loop, entry, result)) = frames.pop() {
                    if is_loop {
                        loop_depth -= 1;
                    }
                    height = entry.saturating_add(result);
                }
                None
            }
            Operator::LocalGet { local_index }
            | Operator::LocalSet { local_index }
            | Operator::LocalTee { local_index } => Some(local_index),
            _ => None,
        };
        if let Some(local) = local
            && let Some(ty) = local_types.get(local as usize)
        {
            if value_bytes(*ty) == 8 {
                result.uses_wide_values = true;
                // A 64-bit `local.get` pushes two words, not one.
                if matches!(op, Operator::LocalGet { .. }) {
                    height = height.saturating_add(1);
                    result.max_stack_words = result.max_stack_words.max(height);
                }
            } else {
                let weight = 1u32 << (3 * loop_depth.min(MAX_LOOP_WEIGHT_DEPTH));
                let total = &mut weights[local as usize];
                *total = total.saturating_add(weight);
            }
        }
    }
    // The hottest locals: a partial selection (at most `max_pinned` passes over the weights).
    for _ in 0..max_pinned {
        let best = weights
            .iter()
            .enumerate()
            .filter(|(_, weight)| **weight >= PIN_THRESHOLD)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)));
        let Some((local, _)) = best else { break };
        result.hot_locals.push(local as u32);
        weights[local] = 0;
    }
    result
}

fn is_wide(ty: wasmparser::ValType) -> bool {
    matches!(ty, wasmparser::ValType::I64 | wasmparser::ValType::F64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(wat: &str, locals: &[ValType]) -> Prescan {
        let wasm = wat::parse_str(wat).unwrap();
        let parser = wasmparser::Parser::new(0);
        for payload in parser.parse_all(&wasm) {
            if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
                return prescan(&body, locals, 3, |_| None);
            }
        }
        panic!("no body");
    }

    /// Locals used inside loops win over locals used more often outside them; cold locals
    /// are not pinned.
    #[test]
    fn loop_weighted_hot_locals() {
        let found = scan(
            "(module (func (param i32 i32 i32) local.get 0 local.get 0 local.get 0 drop drop drop
               (loop local.get 1 drop local.get 2 drop br 0)))",
            &[ValType::I32; 3],
        );
        assert_eq!(found.hot_locals, [1, 2, 0]);
        let cold = scan(
            "(module (func (param i32) local.get 0 drop))",
            &[ValType::I32],
        );
        assert!(cold.hot_locals.is_empty());
    }

    /// f64 operators count two words and are noticed as 64-bit values; f32 ones as i32s.
    #[test]
    fn float_stack_effects() {
        let wide = scan(
            "(module (func (result f64) f64.const 1 f64.const 2 f64.add))",
            &[],
        );
        assert_eq!(wide.max_stack_words, 4);
        assert!(wide.uses_wide_values);
        let narrow = scan(
            "(module (func (result i32) f32.const 1 f32.const 2 f32.lt))",
            &[],
        );
        assert_eq!(narrow.max_stack_words, 2);
        assert!(!narrow.uses_wide_values);
    }

    /// The stack bound counts words, and 64-bit values are noticed.
    #[test]
    fn stack_bound_and_wide_values() {
        let narrow = scan(
            "(module (func (result i32) i32.const 1 i32.const 2 i32.const 3 i32.add i32.add))",
            &[],
        );
        assert_eq!(narrow.max_stack_words, 3);
        assert!(!narrow.uses_wide_values);
        let wide = scan(
            "(module (func (result i64) i64.const 1 i64.const 2 i64.add))",
            &[],
        );
        assert_eq!(wide.max_stack_words, 4);
        assert!(wide.uses_wide_values);
    }
}
