//! What running a program shows, in engine-neutral terms, and how two runs are compared: every
//! call's results or trap kind, then the final linear memory and every exported global.

use core::fmt;

use plugin_format::message::Value;
use plugin_format::trap::TrapKind;

/// How one call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// It returned these values.
    Returned(Vec<Value>),
    /// It trapped with this kind.
    Trapped(TrapKind),
}

impl fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallOutcome::Returned(values) => {
                f.write_str("returned [")?;
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&value_text(value))?;
                }
                f.write_str("]")
            }
            CallOutcome::Trapped(kind) => write!(f, "trapped: {}", kind.message()),
        }
    }
}

/// Everything one engine showed for one program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observation {
    /// The start function's trap, if it trapped (then nothing else ran).
    pub start: Option<TrapKind>,
    /// Each call's outcome, in order.
    pub calls: Vec<CallOutcome>,
    /// The final linear memory (when the module has one and the start function did not trap).
    pub memory: Option<Vec<u8>>,
    /// The final value of each exported global `g0`, `g1`, ... (in index order).
    pub globals: Vec<Value>,
    /// How often the program's own check found a computed float NaN outside the spec's set
    /// (the generator's [`NAN_RULE_EXPORT`](crate::generator::NAN_RULE_EXPORT) global; `None`
    /// when the program has no floats). A correct engine leaves it at 0.
    pub nan_rule: Option<i32>,
}

/// `value` as it can be compared between engines: a non-null `funcref` as
/// `FuncRef(Some(u32::MAX))`, since wasmi does not name the function a reference leads to
/// (which function it is shows when the program calls through it).
pub fn comparable(value: Value) -> Value {
    match value {
        Value::FuncRef(Some(_)) => Value::FuncRef(Some(u32::MAX)),
        other => other,
    }
}

/// Typed text of a value, as reproducers write it: `i32:-5`, `i64:7`, `f32:0x7fc00000`,
/// `externref:3`, `funcref:null`.
pub fn value_text(value: &Value) -> String {
    let reference = |reference: &Option<u32>| match reference {
        Some(value) => value.to_string(),
        None => "null".into(),
    };
    match value {
        Value::I32(value) => format!("i32:{value}"),
        Value::I64(value) => format!("i64:{value}"),
        Value::F32(bits) => format!("f32:0x{bits:08x}"),
        Value::F64(bits) => format!("f64:0x{bits:016x}"),
        Value::FuncRef(value) => format!("funcref:{}", reference(value)),
        Value::ExternRef(value) => format!("externref:{}", reference(value)),
    }
}

/// Parses [`value_text`]'s output.
pub fn parse_value(text: &str) -> Option<Value> {
    let (ty, number) = text.split_once(':')?;
    let hex = |text: &str| text.strip_prefix("0x").map(str::to_owned);
    let reference = |text: &str| match text {
        "null" => Some(None),
        number => number.parse().ok().map(Some),
    };
    Some(match ty {
        "i32" => Value::I32(number.parse().ok()?),
        "i64" => Value::I64(number.parse().ok()?),
        "f32" => Value::F32(u32::from_str_radix(&hex(number)?, 16).ok()?),
        "f64" => Value::F64(u64::from_str_radix(&hex(number)?, 16).ok()?),
        "funcref" => Value::FuncRef(reference(number)?),
        "externref" => Value::ExternRef(reference(number)?),
        _ => return None,
    })
}

/// The first difference between `expected` (the oracle) and `got`, as one line, or `None` when
/// they agree. `calls` names the calls for the message.
pub fn first_difference(
    expected: &Observation,
    got: &Observation,
    calls: &[crate::generator::Call],
) -> Option<String> {
    if expected.start != got.start {
        let text = |start: &Option<TrapKind>| match start {
            Some(kind) => format!("trapped: {}", kind.message()),
            None => "returned".to_owned(),
        };
        return Some(format!(
            "start function: oracle {}, JIT {}",
            text(&expected.start),
            text(&got.start)
        ));
    }
    for (index, (want, have)) in expected.calls.iter().zip(&got.calls).enumerate() {
        if want != have {
            let call = calls
                .get(index)
                .map(|call| {
                    let args: Vec<String> = call.args.iter().map(value_text).collect();
                    format!("{}({})", call.export, args.join(", "))
                })
                .unwrap_or_default();
            return Some(format!("call {index} {call}: oracle {want}, JIT {have}"));
        }
    }
    if expected.calls.len() != got.calls.len() {
        return Some(format!(
            "oracle made {} calls, JIT {}",
            expected.calls.len(),
            got.calls.len()
        ));
    }
    if expected.globals != got.globals {
        let index = expected
            .globals
            .iter()
            .zip(&got.globals)
            .position(|(want, have)| want != have)
            .unwrap_or(expected.globals.len().min(got.globals.len()));
        let show = |globals: &[Value]| {
            globals
                .get(index)
                .map(value_text)
                .unwrap_or_else(|| "missing".into())
        };
        return Some(format!(
            "global g{index}: oracle {}, JIT {}",
            show(&expected.globals),
            show(&got.globals)
        ));
    }
    if expected.memory != got.memory {
        return Some(match (&expected.memory, &got.memory) {
            (Some(want), Some(have)) if want.len() == have.len() => {
                let at = want.iter().zip(have).position(|(a, b)| a != b).unwrap_or(0);
                format!(
                    "memory differs first at byte {at:#x}: oracle {:#04x}, JIT {:#04x}",
                    want[at], have[at]
                )
            }
            (want, have) => format!(
                "memory size: oracle {:?} bytes, JIT {:?} bytes",
                want.as_ref().map(Vec::len),
                have.as_ref().map(Vec::len)
            ),
        });
    }
    if expected.nan_rule != got.nan_rule {
        return Some(format!(
            "computed float NaNs outside the spec's set: oracle {:?}, JIT {:?}",
            expected.nan_rule, got.nan_rule
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values print and parse back, whatever the type.
    #[test]
    fn values_round_trip() {
        for value in [
            Value::I32(-5),
            Value::I32(i32::MIN),
            Value::I64(i64::MAX),
            Value::F32(0x7fc0_0001),
            Value::F64(0x8000_0000_0000_0000),
            Value::FuncRef(None),
            Value::FuncRef(Some(3)),
            Value::ExternRef(None),
            Value::ExternRef(Some(u32::MAX - 1)),
        ] {
            assert_eq!(parse_value(&value_text(&value)), Some(value));
        }
        assert_eq!(parse_value("i32"), None);
        assert_eq!(parse_value("i16:3"), None);
    }

    /// Each kind of difference is found and named.
    #[test]
    fn differences_are_named() {
        let base = Observation {
            start: None,
            calls: vec![CallOutcome::Returned(vec![Value::I32(1)])],
            memory: Some(vec![0; 4]),
            globals: vec![Value::I32(0)],
            nan_rule: Some(0),
        };
        assert_eq!(first_difference(&base, &base.clone(), &[]), None);
        let mut call = base.clone();
        call.calls[0] = CallOutcome::Trapped(TrapKind::IntegerDivideByZero);
        assert!(
            first_difference(&base, &call, &[])
                .unwrap()
                .contains("call 0")
        );
        let mut memory = base.clone();
        memory.memory = Some(vec![0, 0, 7, 0]);
        assert!(
            first_difference(&base, &memory, &[])
                .unwrap()
                .contains("byte 0x2")
        );
        let mut global = base.clone();
        global.globals[0] = Value::I32(9);
        assert!(
            first_difference(&base, &global, &[])
                .unwrap()
                .contains("g0")
        );
        let mut nan = base.clone();
        nan.nan_rule = Some(1);
        assert!(
            first_difference(&base, &nan, &[])
                .unwrap()
                .contains("NaNs outside")
        );
    }
}
