//! Typed values across the entry boundary: the host's [`Value`]s checked against an export's
//! type and laid out as the argument words the entry stub's callee expects, and the result
//! registers read back as [`Value`]s.
//!
//! This is the one place that knows how a wasm value travels between the runtime and generated
//! code (see [`crate::abi`], "Frames and calls"): today every parameter and result is an `i32`,
//! one stack word in, EAX out. A new value kind extends [`parameter_types`],
//! [`argument_words`], [`ResultRegisters`] and [`results`], and nothing else.

use crate::compiler::FuncType;
use crate::error::InvokeError;
use alloc::vec::Vec;
use plugin_format::message::Value;
use plugin_format::symbols::ValType;

/// The type of a host value.
pub fn value_type(value: &Value) -> ValType {
    match value {
        Value::I32(_) => ValType::I32,
        Value::I64(_) => ValType::I64,
        Value::F32(_) => ValType::F32,
        Value::F64(_) => ValType::F64,
        Value::FuncRef(_) => ValType::FuncRef,
        Value::ExternRef(_) => ValType::ExternRef,
    }
}

/// The parameter types of `ty`, in order.
pub fn parameter_types(ty: &FuncType) -> impl Iterator<Item = ValType> + '_ {
    (0..ty.params).map(|_| ValType::I32)
}

/// The result types of `ty`, in order.
pub fn result_types(ty: &FuncType) -> impl Iterator<Item = ValType> + '_ {
    (0..ty.results).map(|_| ValType::I32)
}

/// Stack words the arguments of a function of type `ty` occupy.
pub fn argument_word_count(ty: &FuncType) -> u32 {
    ty.params
}

/// Checks `args` against `ty` and calls `word` with each argument word, parameter 0 first.
///
/// # Errors
///
/// [`InvokeError::WrongArgumentCount`] when the counts differ, [`InvokeError::WrongArgumentType`]
/// for the first argument whose type differs from its parameter's. Nothing is written unless
/// every argument is right.
pub fn argument_words(
    ty: &FuncType,
    args: &[Value],
    mut word: impl FnMut(u32),
) -> Result<(), InvokeError> {
    let found = u32::try_from(args.len()).unwrap_or(u32::MAX);
    if found != ty.params {
        return Err(InvokeError::WrongArgumentCount {
            expected: ty.params,
            found,
        });
    }
    for (index, (arg, expected)) in args.iter().zip(parameter_types(ty)).enumerate() {
        let found = value_type(arg);
        if found != expected {
            return Err(InvokeError::WrongArgumentType {
                index: index as u32,
                expected,
                found,
            });
        }
    }
    for arg in args {
        match *arg {
            Value::I32(value) => word(value as u32),
            // Refused above: no parameter has another type yet.
            Value::I64(_)
            | Value::F32(_)
            | Value::F64(_)
            | Value::FuncRef(_)
            | Value::ExternRef(_) => {}
        }
    }
    Ok(())
}

/// The registers a returning function left its results in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultRegisters {
    /// EAX: an `i32` result.
    pub eax: u32,
}

/// The results of a function of type `ty` that returned with `registers`.
pub fn results(ty: &FuncType, registers: ResultRegisters) -> Vec<Value> {
    result_types(ty)
        .map(|ty| match ty {
            ValType::I32
            | ValType::I64
            | ValType::F32
            | ValType::F64
            | ValType::FuncRef
            | ValType::ExternRef => Value::I32(registers.eax as i32),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINARY: FuncType = FuncType {
        params: 2,
        results: 1,
    };

    /// Arguments become words in parameter order; a wrong count or type writes nothing.
    #[test]
    fn arguments_are_checked_before_any_word_is_written() {
        let mut words = Vec::new();
        argument_words(&BINARY, &[Value::I32(-1), Value::I32(7)], |w| words.push(w)).unwrap();
        assert_eq!(words, [u32::MAX, 7]);

        let mut words = Vec::new();
        assert_eq!(
            argument_words(&BINARY, &[Value::I32(1)], |w| words.push(w)),
            Err(InvokeError::WrongArgumentCount {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            argument_words(&BINARY, &[Value::I32(1), Value::F64(0)], |w| words.push(w)),
            Err(InvokeError::WrongArgumentType {
                index: 1,
                expected: ValType::I32,
                found: ValType::F64
            })
        );
        assert!(words.is_empty());
    }

    /// An `i32` result comes from EAX; no result is an empty list.
    #[test]
    fn results_come_from_their_registers() {
        let registers = ResultRegisters { eax: 0xFFFF_FFFE };
        assert_eq!(results(&BINARY, registers), [Value::I32(-2)]);
        let none = FuncType {
            params: 0,
            results: 0,
        };
        assert!(results(&none, registers).is_empty());
    }
}
