//! Values in scripts: arguments as [`Value`]s ([`argument`]), results as [`Expected`] patterns
//! ([`expectation`]) — exact bits for numbers, `nan:canonical` and `nan:arithmetic` by bit
//! pattern, `ref.null`, `ref.func` and `ref.extern N` for references — and both as text for
//! failure messages.

use std::fmt;

use plugin_format::message::Value;
use wast::WastArg;
use wast::WastRet;
use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};

/// f32 sign bit.
const F32_SIGN: u32 = 0x8000_0000;
/// f32 exponent all ones and the quiet (top fraction) bit: every arithmetic NaN has these.
const F32_QUIET_NAN: u32 = 0x7FC0_0000;
/// f64 sign bit.
const F64_SIGN: u64 = 0x8000_0000_0000_0000;
/// f64 exponent all ones and the quiet bit.
const F64_QUIET_NAN: u64 = 0x7FF8_0000_0000_0000;

/// Which NaNs a `nan:` pattern accepts (WebAssembly spec, "NaN propagation").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanKind {
    /// `nan:canonical`: the quiet NaN with an otherwise zero payload, either sign.
    Canonical,
    /// `nan:arithmetic`: any quiet NaN (the top payload bit set), either sign.
    Arithmetic,
}

/// The reference type of a `ref.null` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    /// `funcref`.
    Func,
    /// `externref`.
    Extern,
}

/// What one result of an `assert_return` must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// This value, bit for bit.
    Value(Value),
    /// An f32 NaN of this kind.
    F32Nan(NanKind),
    /// An f64 NaN of this kind.
    F64Nan(NanKind),
    /// A null reference (of this type, when the script says).
    Null(Option<RefType>),
    /// Any non-null funcref.
    FuncRef,
    /// A non-null externref (with this host value, when the script says).
    ExternRef(Option<u32>),
    /// Any of these.
    Either(Vec<Expected>),
}

impl Expected {
    /// Whether `value` is what this pattern accepts.
    pub fn accepts(&self, value: Value) -> bool {
        match (self, value) {
            (Expected::Value(expected), value) => *expected == value,
            (Expected::F32Nan(kind), Value::F32(bits)) => {
                let magnitude = bits & !F32_SIGN;
                match kind {
                    NanKind::Canonical => magnitude == F32_QUIET_NAN,
                    NanKind::Arithmetic => magnitude & F32_QUIET_NAN == F32_QUIET_NAN,
                }
            }
            (Expected::F64Nan(kind), Value::F64(bits)) => {
                let magnitude = bits & !F64_SIGN;
                match kind {
                    NanKind::Canonical => magnitude == F64_QUIET_NAN,
                    NanKind::Arithmetic => magnitude & F64_QUIET_NAN == F64_QUIET_NAN,
                }
            }
            (Expected::Null(None), Value::FuncRef(None) | Value::ExternRef(None)) => true,
            (Expected::Null(Some(RefType::Func)), Value::FuncRef(None)) => true,
            (Expected::Null(Some(RefType::Extern)), Value::ExternRef(None)) => true,
            (Expected::FuncRef, Value::FuncRef(Some(_))) => true,
            (Expected::ExternRef(None), Value::ExternRef(Some(_))) => true,
            (Expected::ExternRef(Some(expected)), Value::ExternRef(Some(host))) => {
                *expected == host
            }
            (Expected::Either(alternatives), value) => {
                alternatives.iter().any(|pattern| pattern.accepts(value))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nan = |kind: &NanKind| match kind {
            NanKind::Canonical => "nan:canonical",
            NanKind::Arithmetic => "nan:arithmetic",
        };
        match self {
            Expected::Value(value) => write!(f, "{}", ValueText(*value)),
            Expected::F32Nan(kind) => write!(f, "f32 {}", nan(kind)),
            Expected::F64Nan(kind) => write!(f, "f64 {}", nan(kind)),
            Expected::Null(None) => f.write_str("ref.null"),
            Expected::Null(Some(RefType::Func)) => f.write_str("ref.null func"),
            Expected::Null(Some(RefType::Extern)) => f.write_str("ref.null extern"),
            Expected::FuncRef => f.write_str("ref.func"),
            Expected::ExternRef(None) => f.write_str("ref.extern"),
            Expected::ExternRef(Some(host)) => write!(f, "ref.extern {host}"),
            Expected::Either(alternatives) => {
                let texts: Vec<String> = alternatives.iter().map(ToString::to_string).collect();
                write!(f, "one of {}", texts.join(" | "))
            }
        }
    }
}

/// The reference type of an abstract heap type, for the two the runner passes.
fn ref_type(heap: &HeapType<'_>) -> Result<RefType, String> {
    match heap {
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Func,
        } => Ok(RefType::Func),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Extern,
        } => Ok(RefType::Extern),
        _ => Err("GC and typed-function references".into()),
    }
}

/// A script argument as a [`Value`], or the skip reason (a value no [`Value`] holds).
pub fn argument(arg: &WastArg<'_>) -> Result<Value, String> {
    let WastArg::Core(arg) = arg else {
        return Err("component values".into());
    };
    Ok(match arg {
        WastArgCore::I32(value) => Value::I32(*value),
        WastArgCore::I64(value) => Value::I64(*value),
        WastArgCore::F32(value) => Value::F32(value.bits),
        WastArgCore::F64(value) => Value::F64(value.bits),
        WastArgCore::RefNull(heap) => match ref_type(heap)? {
            RefType::Func => Value::FuncRef(None),
            RefType::Extern => Value::ExternRef(None),
        },
        WastArgCore::RefExtern(host) => Value::ExternRef(Some(*host)),
        WastArgCore::V128(_) => return Err("v128 values (SIMD)".into()),
        WastArgCore::RefHost(_) => return Err("host references (GC)".into()),
    })
}

/// A script result as an [`Expected`], or the skip reason.
pub fn expectation(ret: &WastRet<'_>) -> Result<Expected, String> {
    let WastRet::Core(ret) = ret else {
        return Err("component values".into());
    };
    core_expectation(ret)
}

fn core_expectation(ret: &WastRetCore<'_>) -> Result<Expected, String> {
    Ok(match ret {
        WastRetCore::I32(value) => Expected::Value(Value::I32(*value)),
        WastRetCore::I64(value) => Expected::Value(Value::I64(*value)),
        WastRetCore::F32(NanPattern::Value(value)) => Expected::Value(Value::F32(value.bits)),
        WastRetCore::F32(NanPattern::CanonicalNan) => Expected::F32Nan(NanKind::Canonical),
        WastRetCore::F32(NanPattern::ArithmeticNan) => Expected::F32Nan(NanKind::Arithmetic),
        WastRetCore::F64(NanPattern::Value(value)) => Expected::Value(Value::F64(value.bits)),
        WastRetCore::F64(NanPattern::CanonicalNan) => Expected::F64Nan(NanKind::Canonical),
        WastRetCore::F64(NanPattern::ArithmeticNan) => Expected::F64Nan(NanKind::Arithmetic),
        WastRetCore::RefNull(None) => Expected::Null(None),
        WastRetCore::RefNull(Some(heap)) => Expected::Null(Some(ref_type(heap)?)),
        WastRetCore::RefFunc(_) => Expected::FuncRef,
        WastRetCore::RefExtern(host) => Expected::ExternRef(*host),
        WastRetCore::Either(alternatives) => Expected::Either(
            alternatives
                .iter()
                .map(core_expectation)
                .collect::<Result<_, _>>()?,
        ),
        WastRetCore::V128(_) => return Err("v128 values (SIMD)".into()),
        _ => return Err("GC references".into()),
    })
}

/// A value for messages: `-873187034 (0xcbf43926)` for an i32, with its type otherwise.
pub struct ValueText(pub Value);

impl fmt::Display for ValueText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::I32(value) => write!(f, "{value} ({:#010x})", value as u32),
            Value::I64(value) => write!(f, "i64 {value} ({:#018x})", value as u64),
            Value::F32(bits) => write!(f, "f32 {} ({bits:#010x})", f32::from_bits(bits)),
            Value::F64(bits) => write!(f, "f64 {} ({bits:#018x})", f64::from_bits(bits)),
            Value::FuncRef(None) => f.write_str("ref.null func"),
            Value::FuncRef(Some(u32::MAX)) => f.write_str("ref.func"),
            Value::FuncRef(Some(index)) => write!(f, "ref.func {index}"),
            Value::ExternRef(None) => f.write_str("ref.null extern"),
            Value::ExternRef(Some(host)) => write!(f, "ref.extern {host}"),
        }
    }
}

/// Values for messages, `nothing` for none.
pub fn values_text(values: &[Value]) -> String {
    list_text(values.iter().map(|value| ValueText(*value).to_string()))
}

/// Expectations for messages, `nothing` for none.
pub fn expectations_text(expected: &[Expected]) -> String {
    list_text(expected.iter().map(ToString::to_string))
}

fn list_text(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

/// Whether `values` are what `expected` describes, one pattern per value.
pub fn all_accepted(values: &[Value], expected: &[Expected]) -> bool {
    values.len() == expected.len()
        && values
            .iter()
            .zip(expected)
            .all(|(value, pattern)| pattern.accepts(*value))
}

/// A short form of an argument for directive labels: `1`, `i64:1`, `f32:0.5`.
pub fn argument_label(arg: &WastArg<'_>) -> String {
    match argument(arg) {
        Ok(Value::I32(value)) => value.to_string(),
        Ok(Value::I64(value)) => format!("i64:{value}"),
        Ok(Value::F32(bits)) => format!("f32:{}", f32::from_bits(bits)),
        Ok(Value::F64(bits)) => format!("f64:{}", f64::from_bits(bits)),
        Ok(value) => ValueText(value).to_string(),
        Err(_) => "…".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NaN patterns match by bit pattern: canonical only the quiet NaN with a zero payload,
    /// arithmetic any quiet NaN; either sign; never a number or a signalling NaN.
    #[test]
    fn nan_patterns_match_by_bits() {
        let canonical = Expected::F32Nan(NanKind::Canonical);
        let arithmetic = Expected::F32Nan(NanKind::Arithmetic);
        for bits in [0x7FC0_0000, 0xFFC0_0000] {
            assert!(canonical.accepts(Value::F32(bits)));
            assert!(arithmetic.accepts(Value::F32(bits)));
        }
        for bits in [0x7FC0_0001, 0xFFE0_0000] {
            assert!(!canonical.accepts(Value::F32(bits)));
            assert!(arithmetic.accepts(Value::F32(bits)));
        }
        for bits in [0x7FA0_0000, 0x7F80_0000, 0x3F80_0000] {
            assert!(!canonical.accepts(Value::F32(bits)));
            assert!(!arithmetic.accepts(Value::F32(bits)));
        }
        assert!(!canonical.accepts(Value::F64(0x7FF8_0000_0000_0000)));
        let canonical = Expected::F64Nan(NanKind::Canonical);
        let arithmetic = Expected::F64Nan(NanKind::Arithmetic);
        assert!(canonical.accepts(Value::F64(0xFFF8_0000_0000_0000)));
        assert!(!canonical.accepts(Value::F64(0x7FF8_0000_0000_0001)));
        assert!(arithmetic.accepts(Value::F64(0x7FFC_0000_0000_0001)));
        assert!(!arithmetic.accepts(Value::F64(0x7FF4_0000_0000_0000)));
        assert!(!arithmetic.accepts(Value::I64(0x7FF8_0000_0000_0000)));
    }

    /// Numbers match bit for bit (so -0 is not +0, and a NaN value only itself); references by
    /// nullness, type and host value.
    #[test]
    fn values_and_references_match_exactly() {
        assert!(Expected::Value(Value::F32(0x8000_0000)).accepts(Value::F32(0x8000_0000)));
        assert!(!Expected::Value(Value::F32(0x8000_0000)).accepts(Value::F32(0)));
        assert!(!Expected::Value(Value::I32(1)).accepts(Value::I64(1)));
        assert!(Expected::Null(None).accepts(Value::ExternRef(None)));
        assert!(Expected::Null(Some(RefType::Func)).accepts(Value::FuncRef(None)));
        assert!(!Expected::Null(Some(RefType::Func)).accepts(Value::ExternRef(None)));
        assert!(Expected::FuncRef.accepts(Value::FuncRef(Some(3))));
        assert!(!Expected::FuncRef.accepts(Value::FuncRef(None)));
        assert!(Expected::ExternRef(Some(2)).accepts(Value::ExternRef(Some(2))));
        assert!(!Expected::ExternRef(Some(2)).accepts(Value::ExternRef(Some(3))));
        assert!(Expected::ExternRef(None).accepts(Value::ExternRef(Some(3))));
        let either = Expected::Either(vec![
            Expected::Value(Value::I32(1)),
            Expected::F32Nan(NanKind::Canonical),
        ]);
        assert!(either.accepts(Value::I32(1)));
        assert!(either.accepts(Value::F32(0x7FC0_0000)));
        assert!(!either.accepts(Value::I32(2)));
        assert!(all_accepted(&[], &[]));
        assert!(!all_accepted(&[Value::I32(1)], &[]));
    }

    /// Script values parse into the right variants, including references; what no value holds
    /// is a named skip.
    #[test]
    fn script_values_parse() {
        let text = r#"(module) (assert_return (invoke "f" (i64.const -1) (f32.const nan:0x200000)
            (ref.null func) (ref.null extern) (ref.extern 7))
            (ref.null func) (ref.func) (ref.extern) (f64.const nan:arithmetic)
            (either (i32.const 1) (i32.const 2)))
            (assert_return (invoke "g" (v128.const i64x2 0 0)))"#;
        let buffer = wast::parser::ParseBuffer::new(text).unwrap();
        let script: wast::Wast<'_> = wast::parser::parse(&buffer).unwrap();
        let mut directives = script.directives.into_iter().skip(1);
        let Some(wast::WastDirective::AssertReturn {
            exec: wast::WastExecute::Invoke(invoke),
            results,
            ..
        }) = directives.next()
        else {
            panic!("assert_return");
        };
        let args: Vec<Value> = invoke
            .args
            .iter()
            .map(|arg| argument(arg).unwrap())
            .collect();
        assert_eq!(
            args,
            [
                Value::I64(-1),
                Value::F32(0x7FA0_0000),
                Value::FuncRef(None),
                Value::ExternRef(None),
                Value::ExternRef(Some(7))
            ]
        );
        let expected: Vec<Expected> = results
            .iter()
            .map(|ret| expectation(ret).unwrap())
            .collect();
        assert_eq!(
            expected,
            [
                Expected::Null(Some(RefType::Func)),
                Expected::FuncRef,
                Expected::ExternRef(None),
                Expected::F64Nan(NanKind::Arithmetic),
                Expected::Either(vec![
                    Expected::Value(Value::I32(1)),
                    Expected::Value(Value::I32(2))
                ]),
            ]
        );
        let Some(wast::WastDirective::AssertReturn {
            exec: wast::WastExecute::Invoke(invoke),
            ..
        }) = directives.next()
        else {
            panic!("assert_return");
        };
        assert_eq!(argument(&invoke.args[0]), Err("v128 values (SIMD)".into()));
    }
}
