//! Typed values across the entry boundary: the host's [`Value`]s checked against an export's
//! type and laid out as the argument words the entry stub's callee expects, and the result
//! registers read back as [`Value`]s.
//!
//! This is the one place that knows how a wasm value travels between the runtime and generated
//! code (see [`crate::abi`], "Frames and calls"): a 32-bit parameter is one stack word, a 64-bit
//! one two words (high word pushed first, so the low word is at the lower address); a 32-bit
//! result comes back in EAX, a 64-bit one in EDX:EAX (the entry stub stores EDX to the context
//! header's `result_high`). Floats travel as their bits, exactly like integers of their width.
//! A function with several results returns them in a results area the caller reserves above
//! the arguments (result 0 at the lowest address, each 4 or 8 bytes): the runtime reserves it
//! as extra argument words and reads the results back from it.
//! A new value kind extends [`argument_words`], [`ResultRegisters`] and [`results`], and
//! nothing else.

use crate::compiler::FuncType;
use crate::error::InvokeError;
use alloc::vec::Vec;
use plugin_format::message::Value;
use plugin_format::symbols::ValType;

pub use crate::abi::NULL_REFERENCE;

fn reference(word: u32) -> Option<u32> {
    (word != NULL_REFERENCE).then_some(word)
}

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
    ty.params.iter().copied()
}

/// The result types of `ty`, in order.
pub fn result_types(ty: &FuncType) -> impl Iterator<Item = ValType> + '_ {
    ty.results.iter().copied()
}

/// Words of the results area of a function of type `ty` (0 for at most one result).
pub fn results_area_words(ty: &FuncType) -> u32 {
    crate::compiler::masm::results_area_bytes(&ty.results) / 4
}

/// Stack words the arguments of a function of type `ty` occupy, with its results area above
/// them.
pub fn argument_word_count(ty: &FuncType) -> u32 {
    ty.param_bytes() / 4 + results_area_words(ty)
}

/// Checks `args` against `ty` and calls `word` with each argument word, parameter 0 first.
///
/// # Errors
///
/// [`InvokeError::WrongArgumentCount`] when the counts differ, [`InvokeError::WrongArgumentType`]
/// for the first argument whose type differs from its parameter's, [`InvokeError::BadReference`]
/// for a `funcref` at or past `functions` (the module's function count) or an `externref` whose
/// word would read as null. Nothing is written unless every argument is right.
pub fn argument_words(
    ty: &FuncType,
    args: &[Value],
    functions: u32,
    mut word: impl FnMut(u32),
) -> Result<(), InvokeError> {
    let found = u32::try_from(args.len()).unwrap_or(u32::MAX);
    let expected = ty.params.len() as u32;
    if found != expected {
        return Err(InvokeError::WrongArgumentCount { expected, found });
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
        if names_nothing(arg, functions) {
            return Err(InvokeError::BadReference {
                index: index as u32,
                functions,
            });
        }
    }
    for _ in 0..results_area_words(ty) {
        word(0);
    }
    for arg in args {
        match *arg {
            Value::I32(value) => word(value as u32),
            Value::F32(bits) => word(bits),
            Value::I64(value) => {
                word((value >> 32) as u32);
                word(value as u32);
            }
            Value::F64(bits) => {
                word((bits >> 32) as u32);
                word(bits as u32);
            }
            Value::FuncRef(reference) | Value::ExternRef(reference) => {
                word(reference.unwrap_or(NULL_REFERENCE))
            }
        }
    }
    Ok(())
}

/// Whether `value` is a reference that names nothing in a module of `functions` functions: a
/// `funcref` at or past the count, or an `externref` whose word would read as null. The host
/// may pass neither (as an argument or a global's value).
pub fn names_nothing(value: &Value, functions: u32) -> bool {
    match *value {
        Value::FuncRef(Some(function)) => function >= functions,
        Value::ExternRef(Some(word)) => word == NULL_REFERENCE,
        _ => false,
    }
}

/// The bits of `value` as a global slot holds them (a 32-bit value in the low word; a null
/// reference as [`NULL_REFERENCE`]).
pub fn value_bits(value: &Value) -> u64 {
    match *value {
        Value::I32(value) => u64::from(value as u32),
        Value::F32(bits) => u64::from(bits),
        Value::I64(value) => value as u64,
        Value::F64(bits) => bits,
        Value::FuncRef(reference) | Value::ExternRef(reference) => {
            u64::from(reference.unwrap_or(NULL_REFERENCE))
        }
    }
}

/// The value of type `ty` whose bits (as [`value_bits`] lays them out) are `bits`.
pub fn value_from_bits(ty: ValType, bits: u64) -> Value {
    match ty {
        ValType::I32 => Value::I32(bits as u32 as i32),
        ValType::F32 => Value::F32(bits as u32),
        ValType::I64 => Value::I64(bits as i64),
        ValType::F64 => Value::F64(bits),
        ValType::FuncRef => Value::FuncRef(reference(bits as u32)),
        ValType::ExternRef => Value::ExternRef(reference(bits as u32)),
    }
}

/// The registers a returning function left its results in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultRegisters {
    /// EAX: a 32-bit result, or the low word of a 64-bit one.
    pub eax: u32,
    /// EDX (as the entry stub stored it): the high word of a 64-bit result.
    pub edx: u32,
}

/// The results of a function of type `ty` that returned with `registers`; `area_word(i)` reads
/// word `i` of its results area (used when it has several results).
pub fn results(
    ty: &FuncType,
    registers: ResultRegisters,
    area_word: impl Fn(u32) -> u32,
) -> Vec<Value> {
    if ty.results.len() > 1 {
        let mut next = 0;
        return result_types(ty)
            .map(|ty| {
                let low = area_word(next);
                let wide = crate::abi::value_bytes(ty) == 8;
                let high = if wide { area_word(next + 1) } else { 0 };
                next += if wide { 2 } else { 1 };
                value(ty, low, high)
            })
            .collect();
    }
    result_types(ty)
        .map(|ty| value(ty, registers.eax, registers.edx))
        .collect()
}

/// The value of type `ty` whose bits are `low` and (for 64-bit types) `high`.
pub fn value(ty: ValType, low: u32, high: u32) -> Value {
    value_from_bits(ty, u64::from(high) << 32 | u64::from(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary() -> FuncType {
        FuncType {
            params: alloc::vec![ValType::I32, ValType::I32],
            results: alloc::vec![ValType::I32],
        }
    }

    /// Arguments become words in parameter order; a wrong count or type writes nothing.
    #[test]
    fn arguments_are_checked_before_any_word_is_written() {
        let mut words = Vec::new();
        argument_words(&binary(), &[Value::I32(-1), Value::I32(7)], 0, |w| {
            words.push(w)
        })
        .unwrap();
        assert_eq!(words, [u32::MAX, 7]);

        let mut words = Vec::new();
        assert_eq!(
            argument_words(&binary(), &[Value::I32(1)], 0, |w| words.push(w)),
            Err(InvokeError::WrongArgumentCount {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            argument_words(&binary(), &[Value::I32(1), Value::F64(0)], 0, |w| words
                .push(w)),
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
        let registers = ResultRegisters {
            eax: 0xFFFF_FFFE,
            edx: 0x8000_0001,
        };
        assert_eq!(results(&binary(), registers, |_| 0), [Value::I32(-2)]);
        assert!(results(&FuncType::default(), registers, |_| 0).is_empty());
        let wide = FuncType {
            params: alloc::vec![],
            results: alloc::vec![ValType::I64],
        };
        assert_eq!(
            results(&wide, registers, |_| 0),
            [Value::I64(0x8000_0001_FFFF_FFFEu64 as i64)]
        );
    }

    /// A reference argument must name something: a `funcref` below the function count, an
    /// `externref` other than the null word; nulls and good references pass.
    #[test]
    fn reference_arguments_are_checked() {
        let ty = FuncType {
            params: alloc::vec![ValType::FuncRef, ValType::ExternRef],
            results: alloc::vec![],
        };
        let call = |args: &[Value]| {
            let mut words = Vec::new();
            argument_words(&ty, args, 3, |w| words.push(w)).map(|()| words)
        };
        assert_eq!(
            call(&[Value::FuncRef(Some(2)), Value::ExternRef(Some(7))]),
            Ok(alloc::vec![2, 7])
        );
        assert_eq!(
            call(&[Value::FuncRef(None), Value::ExternRef(None)]),
            Ok(alloc::vec![NULL_REFERENCE, NULL_REFERENCE])
        );
        assert_eq!(
            call(&[Value::FuncRef(Some(3)), Value::ExternRef(None)]),
            Err(InvokeError::BadReference {
                index: 0,
                functions: 3
            })
        );
        assert_eq!(
            call(&[Value::FuncRef(None), Value::ExternRef(Some(u32::MAX))]),
            Err(InvokeError::BadReference {
                index: 1,
                functions: 3
            })
        );
    }

    /// An i64 argument is two words, the high word first (it is pushed first), so the low
    /// word ends at the lower address as in memory.
    #[test]
    fn i64_arguments_are_two_words_high_first() {
        let ty = FuncType {
            params: alloc::vec![ValType::I32, ValType::I64],
            results: alloc::vec![],
        };
        assert_eq!(argument_word_count(&ty), 3);
        let mut words = Vec::new();
        argument_words(
            &ty,
            &[Value::I32(5), Value::I64(0x1122_3344_5566_7788)],
            0,
            |w| words.push(w),
        )
        .unwrap();
        assert_eq!(words, [5, 0x1122_3344, 0x5566_7788]);
    }
}

#[cfg(test)]
mod multi_value_tests {
    use super::*;

    /// Several results: the runtime reserves their area as extra argument words (written
    /// first, so they end above the arguments) and reads them back, result 0 first.
    #[test]
    fn several_results_travel_through_the_results_area() {
        let ty = FuncType {
            params: alloc::vec![ValType::I32],
            results: alloc::vec![ValType::I32, ValType::I64, ValType::I32],
        };
        assert_eq!(results_area_words(&ty), 4);
        assert_eq!(argument_word_count(&ty), 5);
        let mut words = Vec::new();
        argument_words(&ty, &[Value::I32(9)], 0, |w| words.push(w)).unwrap();
        assert_eq!(words, [0, 0, 0, 0, 9]);
        let area = [7u32, 0x5566_7788, 0x1122_3344, 0xFFFF_FFFF];
        let values = results(&ty, ResultRegisters::default(), |index| {
            area[index as usize]
        });
        assert_eq!(
            values,
            [
                Value::I32(7),
                Value::I64(0x1122_3344_5566_7788),
                Value::I32(-1)
            ]
        );
    }
}
