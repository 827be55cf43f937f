//! The float lowering (`kplug_core::compiler::float`) on the real CPU: every operator is emitted
//! into a kernel ([`bed`]), run over edge values (in every operand placement: `Data`, `Frame`,
//! in place, `Context`) and over random values, and compared bit for bit with Rust's results on
//! this machine (the `i686-unknown-linux-gnu` target computes `f32`/`f64` with SSE2, exact IEEE
//! arithmetic: checked against LLVM's APFloat below), under WebAssembly's NaN rules. Every case
//! also checks that the lowering left the x87 stack empty, the control word at 0x027F, and ECX,
//! EDX untouched. The trapping truncations are also run through `wasmi`.
//!
//! `KPLUG_X87_CASES` sets the random cases per operator (default 200 000), `KPLUG_X87_SEED`
//! the seed. `cargo test ... --test x87 -- --nocapture` prints the counts compared.
#![cfg(all(target_arch = "x86", target_os = "linux"))]

#[path = "x87/bed.rs"]
mod bed;
#[path = "x87/values.rs"]
mod values;

use bed::{Case, Kernel, Operands, Outcome, Placement, TRAP_INVALID, TRAP_NONE, TRAP_OVERFLOW};
use fastrand::Rng;
use kplug_core::compiler::encoder::{Encoder, Reg};
use kplug_core::compiler::float::{
    self, Arithmetic, Comparison, FloatType, IntType, MinMax, OutOfRange, Rounding, SignOperation,
    Signedness,
};
use values::word;

/// Cases per kernel call.
const BATCH: usize = 8192;
/// Failures printed before giving up on an operator.
const FAILURES_SHOWN: usize = 12;

/// Whether `bits` is a NaN of type `ty`.
fn is_nan(ty: FloatType, bits: u64) -> bool {
    match ty {
        FloatType::F32 => f32::from_bits(bits as u32).is_nan(),
        FloatType::F64 => f64::from_bits(bits).is_nan(),
    }
}

/// Whether `bits` is a canonical NaN (either sign) of type `ty`.
fn is_canonical_nan(ty: FloatType, bits: u64) -> bool {
    match ty {
        FloatType::F32 => bits as u32 & 0x7FFF_FFFF == 0x7FC0_0000,
        FloatType::F64 => bits & !(1 << 63) == 0x7FF8_0000_0000_0000,
    }
}

/// Whether `bits` is an arithmetic NaN (quiet bit set) of type `ty`.
fn is_arithmetic_nan(ty: FloatType, bits: u64) -> bool {
    is_nan(ty, bits)
        && match ty {
            FloatType::F32 => bits & 0x0040_0000 != 0,
            FloatType::F64 => bits & 0x0008_0000_0000_0000 != 0,
        }
}

/// The float result check: the same bits, or for a NaN result the spec's rule
/// (`nan:canonical` when every NaN input is canonical, `nan:arithmetic` otherwise).
fn check_float(
    ty: FloatType,
    expected: u64,
    actual: u64,
    inputs: &[(FloatType, u64)],
) -> Result<(), String> {
    if !is_nan(ty, expected) {
        return if expected == actual {
            Ok(())
        } else {
            Err(format!("expected {expected:#x}, got {actual:#x}"))
        };
    }
    let canonical_required = inputs
        .iter()
        .filter(|(ty, bits)| is_nan(*ty, *bits))
        .all(|(ty, bits)| is_canonical_nan(*ty, *bits));
    if canonical_required && !is_canonical_nan(ty, actual) {
        return Err(format!("expected nan:canonical, got {actual:#x}"));
    }
    if !is_arithmetic_nan(ty, actual) {
        return Err(format!("expected nan:arithmetic, got {actual:#x}"));
    }
    Ok(())
}

/// The output operand's bits for a 32-bit result, checking that the 4 bytes after it were left
/// alone (in place, they are the input's high word).
fn low_word(case: &Case, outcome: &Outcome, placement: Placement) -> Result<u64, String> {
    let expected_high = if placement == Placement::InPlace {
        case.lhs >> 32
    } else {
        bed::UNTOUCHED >> 32
    };
    if outcome.value >> 32 != expected_high {
        return Err(format!(
            "a 32-bit result wrote beyond its 4 bytes: {:#x}",
            outcome.value
        ));
    }
    Ok(outcome.value & 0xFFFF_FFFF)
}

/// The result's bits: all 8 bytes, or the low 4 (checked as [`low_word`]).
fn result_bits(
    wide: bool,
    case: &Case,
    outcome: &Outcome,
    placement: Placement,
) -> Result<u64, String> {
    if wide {
        Ok(outcome.value)
    } else {
        low_word(case, outcome, placement)
    }
}

/// What every lowering must leave behind, whatever the operator.
fn check_state(outcome: &Outcome) -> Result<(), String> {
    let control = outcome.environment[0] & 0xFFFF;
    let status = outcome.environment[1] & 0xFFFF;
    let tags = outcome.environment[2] & 0xFFFF;
    if outcome.registers_kept != 1 {
        return Err("ECX or EDX clobbered".into());
    }
    if control != u32::from(float::CONTROL_WORD) {
        return Err(format!("control word left at {control:#06x}"));
    }
    if (status >> 11) & 7 != 0 || tags != 0xFFFF {
        return Err(format!(
            "x87 stack not empty: status {status:#06x}, tags {tags:#06x}"
        ));
    }
    Ok(())
}

/// A check of one outcome against the reference.
type Check<'a> = &'a dyn Fn(&Case, &Outcome, Placement) -> Result<(), String>;

/// Runs one operator: `edges` in every placement, `random` in memory (and a quarter in place),
/// and checks every outcome. Returns the number of cases compared.
fn run_operator(
    name: &str,
    lowering: &dyn Fn(&mut Encoder, &Operands),
    edges: &[Case],
    random: &[Case],
    check: Check,
) -> usize {
    let mut failures = Vec::new();
    let mut failed = 0usize;
    let mut compared = 0usize;
    let mut run = |placement: Placement, cases: &[Case]| {
        let kernel = Kernel::build(placement, lowering);
        for batch in cases.chunks(BATCH) {
            for (case, outcome) in batch.iter().zip(kernel.run(batch)) {
                compared += 1;
                if let Err(error) =
                    check_state(&outcome).and_then(|()| check(case, &outcome, placement))
                {
                    failed += 1;
                    if failures.len() < FAILURES_SHOWN {
                        failures.push(format!(
                            "{placement:?} lhs {:#x} rhs {:#x}: {error}",
                            case.lhs, case.rhs
                        ));
                    }
                }
            }
        }
    };
    for placement in Placement::ALL {
        run(placement, edges);
    }
    run(Placement::Memory, random);
    run(Placement::InPlace, &random[..random.len() / 4]);
    assert!(
        failed == 0,
        "{name}: {failed} of {compared} cases wrong:\n  {}",
        failures.join("\n  ")
    );
    println!("x87 {name}: {compared} cases compared, all exact");
    compared
}

/// Every pair of `values`.
fn pairs(values: &[u64]) -> Vec<Case> {
    values
        .iter()
        .flat_map(|&lhs| values.iter().map(move |&rhs| Case { lhs, rhs }))
        .collect()
}

/// Each value as a one-operand case.
fn singles(values: &[u64]) -> Vec<Case> {
    values.iter().map(|&lhs| Case { lhs, rhs: 0 }).collect()
}

/// The edge values of `ty`, in case slots.
fn edges(ty: FloatType) -> Vec<u64> {
    match ty {
        FloatType::F32 => values::f32_edges().into_iter().map(word).collect(),
        FloatType::F64 => values::f64_edges(),
    }
}

/// `count` random values of `ty`, in case slots.
fn random_values(ty: FloatType, rng: &mut Rng, count: usize) -> Vec<u64> {
    (0..count)
        .map(|_| match ty {
            FloatType::F32 => word(values::random_f32(rng)),
            FloatType::F64 => values::random_f64(rng),
        })
        .collect()
}

/// `count` random pairs of `ty` aimed at `product` (see [`values::random_f64_pair`]).
fn random_pairs(ty: FloatType, rng: &mut Rng, count: usize, product: Option<bool>) -> Vec<Case> {
    (0..count)
        .map(|_| match ty {
            FloatType::F32 => {
                let (lhs, rhs) = values::random_f32_pair(rng, product);
                Case {
                    lhs: word(lhs),
                    rhs: word(rhs),
                }
            }
            FloatType::F64 => {
                let (lhs, rhs) = values::random_f64_pair(rng, product);
                Case { lhs, rhs }
            }
        })
        .collect()
}

fn rng(salt: u64) -> Rng {
    Rng::with_seed(values::seed() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Applies a binary `f32`/`f64` function to bit patterns.
fn on_bits(
    ty: FloatType,
    a: u64,
    b: u64,
    f32_op: fn(f32, f32) -> f32,
    f64_op: fn(f64, f64) -> f64,
) -> u64 {
    match ty {
        FloatType::F32 => {
            u64::from(f32_op(f32::from_bits(a as u32), f32::from_bits(b as u32)).to_bits())
        }
        FloatType::F64 => f64_op(f64::from_bits(a), f64::from_bits(b)).to_bits(),
    }
}

/// Applies a unary function to a bit pattern.
fn on_bits1(ty: FloatType, a: u64, f32_op: fn(f32) -> f32, f64_op: fn(f64) -> f64) -> u64 {
    match ty {
        FloatType::F32 => u64::from(f32_op(f32::from_bits(a as u32)).to_bits()),
        FloatType::F64 => f64_op(f64::from_bits(a)).to_bits(),
    }
}

const TYPES: [FloatType; 2] = [FloatType::F32, FloatType::F64];

/// `add sub mul div` are correctly rounded, subnormal results included, with wasm's NaNs.
#[test]
fn arithmetic_is_correctly_rounded() {
    for ty in TYPES {
        let edge_pairs = pairs(&edges(ty));
        for (op, name, product, f32_op, f64_op) in [
            (
                Arithmetic::Add,
                "add",
                None,
                (|a, b| a + b) as fn(f32, f32) -> f32,
                (|a, b| a + b) as fn(f64, f64) -> f64,
            ),
            (Arithmetic::Sub, "sub", None, |a, b| a - b, |a, b| a - b),
            (
                Arithmetic::Mul,
                "mul",
                Some(true),
                |a, b| a * b,
                |a, b| a * b,
            ),
            (
                Arithmetic::Div,
                "div",
                Some(false),
                |a, b| a / b,
                |a, b| a / b,
            ),
        ] {
            let random = random_pairs(
                ty,
                &mut rng(op as u64 + 10 * ty as u64),
                values::random_cases(),
                product,
            );
            run_operator(
                &format!("{ty:?}.{name}"),
                &|enc, operands| {
                    float::arithmetic(enc, ty, op, operands.lhs, operands.rhs, operands.out)
                },
                &edge_pairs,
                &random,
                &|case, outcome, placement| {
                    let actual = result_bits(ty == FloatType::F64, case, outcome, placement)?;
                    let expected = on_bits(ty, case.lhs, case.rhs, f32_op, f64_op);
                    check_float(ty, expected, actual, &[(ty, case.lhs), (ty, case.rhs)])
                },
            );
        }
    }
}

/// `sqrt` is correctly rounded.
#[test]
fn sqrt_is_correctly_rounded() {
    for ty in TYPES {
        let random = singles(&random_values(
            ty,
            &mut rng(20 + ty as u64),
            values::random_cases(),
        ));
        run_operator(
            &format!("{ty:?}.sqrt"),
            &|enc, operands| float::sqrt(enc, ty, operands.lhs, operands.out),
            &singles(&edges(ty)),
            &random,
            &|case, outcome, placement| {
                let actual = result_bits(ty == FloatType::F64, case, outcome, placement)?;
                let expected = on_bits1(ty, case.lhs, f32::sqrt, f64::sqrt);
                check_float(ty, expected, actual, &[(ty, case.lhs)])
            },
        );
    }
}

/// wasm's `min`/`max`: NaN if either operand is NaN, -0 < +0, otherwise the smaller/larger.
fn min_max_reference(ty: FloatType, op: MinMax, a: u64, b: u64) -> u64 {
    if is_nan(ty, a) || is_nan(ty, b) {
        return match ty {
            FloatType::F32 => 0x7FC0_0000,
            FloatType::F64 => 0x7FF8_0000_0000_0000,
        };
    }
    let less = match ty {
        FloatType::F32 => f32::from_bits(a as u32) < f32::from_bits(b as u32),
        FloatType::F64 => f64::from_bits(a) < f64::from_bits(b),
    };
    let equal = match ty {
        FloatType::F32 => f32::from_bits(a as u32) == f32::from_bits(b as u32),
        FloatType::F64 => f64::from_bits(a) == f64::from_bits(b),
    };
    match (op, equal, less) {
        (MinMax::Min, true, _) => a | b,
        (MinMax::Max, true, _) => a & b,
        (MinMax::Min, false, true) | (MinMax::Max, false, false) => a,
        _ => b,
    }
}

/// `min`/`max` follow wasm (not IEEE minNum/maxNum, not Rust's `f64::min`).
#[test]
fn min_max_follow_wasm() {
    for ty in TYPES {
        let edge_pairs = pairs(&edges(ty));
        for (op, name) in [(MinMax::Min, "min"), (MinMax::Max, "max")] {
            let random = random_pairs(
                ty,
                &mut rng(30 + op as u64 + 2 * ty as u64),
                values::random_cases(),
                None,
            );
            run_operator(
                &format!("{ty:?}.{name}"),
                &|enc, operands| {
                    float::min_max(enc, ty, op, operands.lhs, operands.rhs, operands.out)
                },
                &edge_pairs,
                &random,
                &|case, outcome, placement| {
                    let actual = result_bits(ty == FloatType::F64, case, outcome, placement)?;
                    // Bits of the inputs in their type (an f32 slot's high word is fill).
                    let (a, b) = match ty {
                        FloatType::F32 => (case.lhs & 0xFFFF_FFFF, case.rhs & 0xFFFF_FFFF),
                        FloatType::F64 => (case.lhs, case.rhs),
                    };
                    let expected = min_max_reference(ty, op, a, b);
                    check_float(ty, expected, actual, &[(ty, a), (ty, b)])
                },
            );
        }
    }
}

/// `ceil floor trunc nearest` (ties to even), signed zeros kept.
#[test]
fn rounding_to_integers() {
    for ty in TYPES {
        for (mode, name, f32_op, f64_op) in [
            (
                Rounding::Ceil,
                "ceil",
                f32::ceil as fn(f32) -> f32,
                f64::ceil as fn(f64) -> f64,
            ),
            (Rounding::Floor, "floor", f32::floor, f64::floor),
            (Rounding::Trunc, "trunc", f32::trunc, f64::trunc),
            (
                Rounding::Nearest,
                "nearest",
                f32::round_ties_even,
                f64::round_ties_even,
            ),
        ] {
            let random = singles(&random_values(
                ty,
                &mut rng(40 + mode as u64 + 4 * ty as u64),
                values::random_cases(),
            ));
            run_operator(
                &format!("{ty:?}.{name}"),
                &|enc, operands| float::round(enc, ty, mode, operands.lhs, operands.out),
                &singles(&edges(ty)),
                &random,
                &|case, outcome, placement| {
                    let actual = result_bits(ty == FloatType::F64, case, outcome, placement)?;
                    let expected = on_bits1(ty, case.lhs, f32_op, f64_op);
                    check_float(ty, expected, actual, &[(ty, case.lhs)])
                },
            );
        }
    }
}

/// `abs neg copysign` are bit operations: NaN payloads and signalling NaNs pass unchanged.
#[test]
fn sign_operations_are_bit_exact() {
    for ty in TYPES {
        let sign: u64 = match ty {
            FloatType::F32 => 0x8000_0000,
            FloatType::F64 => 1 << 63,
        };
        let mask: u64 = match ty {
            FloatType::F32 => 0xFFFF_FFFF,
            FloatType::F64 => u64::MAX,
        };
        let wide = ty == FloatType::F64;
        let random = random_pairs(ty, &mut rng(50 + ty as u64), values::random_cases(), None);
        for (op, name) in [(SignOperation::Abs, "abs"), (SignOperation::Neg, "neg")] {
            run_operator(
                &format!("{ty:?}.{name}"),
                &|enc, operands| float::sign(enc, ty, op, operands.lhs, operands.out),
                &singles(&edges(ty)),
                &random,
                &|case, outcome, placement| {
                    let actual = result_bits(wide, case, outcome, placement)?;
                    let a = case.lhs & mask;
                    let expected = match op {
                        SignOperation::Abs => a & !sign,
                        SignOperation::Neg => a ^ sign,
                    };
                    (actual == expected)
                        .then_some(())
                        .ok_or(format!("expected {expected:#x}, got {actual:#x}"))
                },
            );
        }
        run_operator(
            &format!("{ty:?}.copysign"),
            &|enc, operands| float::copysign(enc, ty, operands.lhs, operands.rhs, operands.out),
            &pairs(&edges(ty)),
            &random,
            &|case, outcome, placement| {
                let actual = result_bits(wide, case, outcome, placement)?;
                let expected = (case.lhs & mask & !sign) | (case.rhs & sign);
                (actual == expected)
                    .then_some(())
                    .ok_or(format!("expected {expected:#x}, got {actual:#x}"))
            },
        );
    }
}

/// `eq ne lt gt le ge` give IEEE's answers (every comparison with a NaN false but `ne`).
#[test]
fn comparisons_follow_ieee() {
    for ty in TYPES {
        let edge_pairs = pairs(&edges(ty));
        let random = random_pairs(ty, &mut rng(60 + ty as u64), values::random_cases(), None);
        for (comparison, name) in [
            (Comparison::Eq, "eq"),
            (Comparison::Ne, "ne"),
            (Comparison::Lt, "lt"),
            (Comparison::Gt, "gt"),
            (Comparison::Le, "le"),
            (Comparison::Ge, "ge"),
        ] {
            run_operator(
                &format!("{ty:?}.{name}"),
                &|enc, operands| {
                    let cond = float::compare(enc, ty, comparison, operands.lhs, operands.rhs);
                    enc.setcc_zx(cond, Reg::Eax);
                    enc.store32(operands.out, Reg::Eax);
                },
                &edge_pairs,
                &random,
                &|case, outcome, placement| {
                    let actual = low_word(case, outcome, placement)?;
                    let expected = u64::from(match ty {
                        FloatType::F32 => compare(
                            comparison,
                            f32::from_bits(case.lhs as u32),
                            f32::from_bits(case.rhs as u32),
                        ),
                        FloatType::F64 => compare(
                            comparison,
                            f64::from_bits(case.lhs),
                            f64::from_bits(case.rhs),
                        ),
                    });
                    (actual == expected)
                        .then_some(())
                        .ok_or(format!("expected {expected}, got {actual}"))
                },
            );
        }
    }
}

/// The reference comparison.
fn compare<T: PartialOrd>(comparison: Comparison, a: T, b: T) -> bool {
    match comparison {
        Comparison::Eq => a == b,
        Comparison::Ne => a != b,
        Comparison::Lt => a < b,
        Comparison::Gt => a > b,
        Comparison::Le => a <= b,
        Comparison::Ge => a >= b,
    }
}

/// Every integer-to-float conversion.
const CONVERSIONS: [(IntType, Signedness); 4] = [
    (IntType::I32, Signedness::Signed),
    (IntType::I32, Signedness::Unsigned),
    (IntType::I64, Signedness::Signed),
    (IntType::I64, Signedness::Unsigned),
];

/// The reference integer-to-float conversion (Rust's `as`, round to nearest even).
fn convert_reference(from: IntType, signedness: Signedness, to: FloatType, value: u64) -> u64 {
    match (from, signedness, to) {
        (IntType::I32, Signedness::Signed, FloatType::F32) => {
            u64::from((value as i32 as f32).to_bits())
        }
        (IntType::I32, Signedness::Unsigned, FloatType::F32) => {
            u64::from((value as u32 as f32).to_bits())
        }
        (IntType::I64, Signedness::Signed, FloatType::F32) => {
            u64::from((value as i64 as f32).to_bits())
        }
        (IntType::I64, Signedness::Unsigned, FloatType::F32) => u64::from((value as f32).to_bits()),
        (IntType::I32, Signedness::Signed, FloatType::F64) => (value as i32 as f64).to_bits(),
        (IntType::I32, Signedness::Unsigned, FloatType::F64) => (value as u32 as f64).to_bits(),
        (IntType::I64, Signedness::Signed, FloatType::F64) => (value as i64 as f64).to_bits(),
        (IntType::I64, Signedness::Unsigned, FloatType::F64) => (value as f64).to_bits(),
    }
}

/// Integer operands of type `from` in case slots.
fn integer_cases(from: IntType, values: impl IntoIterator<Item = u64>) -> Vec<Case> {
    values
        .into_iter()
        .map(|value| Case {
            lhs: match from {
                IntType::I32 => word(value as u32),
                IntType::I64 => value,
            },
            rhs: 0,
        })
        .collect()
}

/// `convert_i32/i64_s/u` round once, straight from the exact integer.
#[test]
fn conversions_from_integers_round_once() {
    for to in TYPES {
        for (from, signedness) in CONVERSIONS {
            let mut generator = rng(70 + from as u64 * 2 + signedness as u64 + 4 * to as u64);
            let random = integer_cases(
                from,
                (0..values::random_cases()).map(|_| values::random_integer(&mut generator)),
            );
            run_operator(
                &format!("{to:?}.convert_{from:?}_{signedness:?}"),
                &|enc, operands| {
                    float::convert_from_integer(
                        enc,
                        from,
                        signedness,
                        to,
                        operands.lhs,
                        operands.out,
                    )
                },
                &integer_cases(from, values::integer_edges()),
                &random,
                &|case, outcome, placement| {
                    let actual = result_bits(to == FloatType::F64, case, outcome, placement)?;
                    let input = match from {
                        IntType::I32 => case.lhs & 0xFFFF_FFFF,
                        IntType::I64 => case.lhs,
                    };
                    let expected = convert_reference(from, signedness, to, input);
                    (actual == expected)
                        .then_some(())
                        .ok_or(format!("expected {expected:#x}, got {actual:#x}"))
                },
            );
        }
    }
}

/// `f32.demote_f64` rounds once (subnormal results too); `f64.promote_f32` is exact; NaNs by
/// the spec's rule.
#[test]
fn demote_and_promote() {
    let random = singles(&random_values(
        FloatType::F64,
        &mut rng(80),
        values::random_cases(),
    ));
    run_operator(
        "f32.demote_f64",
        &|enc, operands| float::demote(enc, operands.lhs, operands.out),
        &singles(&values::f64_edges()),
        &random,
        &|case, outcome, placement| {
            let actual = low_word(case, outcome, placement)?;
            let expected = u64::from((f64::from_bits(case.lhs) as f32).to_bits());
            check_float(
                FloatType::F32,
                expected,
                actual,
                &[(FloatType::F64, case.lhs)],
            )
        },
    );
    let random = singles(&random_values(
        FloatType::F32,
        &mut rng(81),
        values::random_cases(),
    ));
    run_operator(
        "f64.promote_f32",
        &|enc, operands| float::promote(enc, operands.lhs, operands.out),
        &singles(&edges(FloatType::F32)),
        &random,
        &|case, outcome, _| {
            let expected = (f32::from_bits(case.lhs as u32) as f64).to_bits();
            check_float(
                FloatType::F64,
                expected,
                outcome.value,
                &[(FloatType::F32, case.lhs & 0xFFFF_FFFF)],
            )
        },
    );
}

/// The trapping truncation's reference: the value, or the trap.
fn truncate_reference(
    from: FloatType,
    to: IntType,
    signedness: Signedness,
    bits: u64,
) -> Result<u64, u32> {
    let x = as_double(from, bits);
    if x.is_nan() {
        return Err(TRAP_INVALID);
    }
    // The open interval of values whose truncation fits (both bounds exact doubles; for i64,
    // no double lies strictly between -2^63 - 1 and -2^63).
    let fits = match (to, signedness) {
        (IntType::I32, Signedness::Signed) => x > -2_147_483_649.0 && x < 2_147_483_648.0,
        (IntType::I32, Signedness::Unsigned) => x > -1.0 && x < 4_294_967_296.0,
        (IntType::I64, Signedness::Signed) => {
            (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x)
        }
        (IntType::I64, Signedness::Unsigned) => x > -1.0 && x < 18_446_744_073_709_551_616.0,
    };
    if !fits {
        return Err(TRAP_OVERFLOW);
    }
    Ok(saturate_reference(to, signedness, x))
}

/// The saturating truncation's reference (Rust's `as` saturates and maps NaN to 0, as
/// `trunc_sat` does).
fn saturate_reference(to: IntType, signedness: Signedness, x: f64) -> u64 {
    match (to, signedness) {
        (IntType::I32, Signedness::Signed) => u64::from(x as i32 as u32),
        (IntType::I32, Signedness::Unsigned) => u64::from(x as u32),
        (IntType::I64, Signedness::Signed) => x as i64 as u64,
        (IntType::I64, Signedness::Unsigned) => x as u64,
    }
}

/// Floats near every truncation limit: ±2^31, ±2^32, ±2^63, ±2^64 and -1, ±8 ulps.
fn truncation_edges(ty: FloatType) -> Vec<u64> {
    let mut all = edges(ty);
    for limit in [
        2_147_483_648.0f64,
        4_294_967_296.0,
        9_223_372_036_854_775_808.0,
        18_446_744_073_709_551_616.0,
        1.0,
    ] {
        for value in [limit, -limit] {
            for ulps in -8i64..=8 {
                all.push(match ty {
                    FloatType::F32 => word((value as f32).to_bits().wrapping_add(ulps as u32)),
                    FloatType::F64 => value.to_bits().wrapping_add(ulps as u64),
                });
            }
        }
    }
    all
}

/// Every float-to-integer truncation.
const TRUNCATIONS: [(FloatType, IntType, Signedness); 8] = [
    (FloatType::F32, IntType::I32, Signedness::Signed),
    (FloatType::F32, IntType::I32, Signedness::Unsigned),
    (FloatType::F64, IntType::I32, Signedness::Signed),
    (FloatType::F64, IntType::I32, Signedness::Unsigned),
    (FloatType::F32, IntType::I64, Signedness::Signed),
    (FloatType::F32, IntType::I64, Signedness::Unsigned),
    (FloatType::F64, IntType::I64, Signedness::Signed),
    (FloatType::F64, IntType::I64, Signedness::Unsigned),
];

/// The lowering of a truncation (trapping or saturating) for the bed.
fn truncation_lowering(
    from: FloatType,
    to: IntType,
    signedness: Signedness,
    saturating: bool,
) -> impl Fn(&mut Encoder, &Operands) {
    move |enc, operands| {
        let out_of_range = if saturating {
            OutOfRange::Saturate
        } else {
            OutOfRange::Trap(operands.traps)
        };
        float::truncate(
            enc,
            from,
            to,
            signedness,
            operands.lhs,
            operands.out,
            operands.scratch,
            out_of_range,
        )
    }
}

/// A float operand as a double (exact: every `f32` is one).
fn as_double(ty: FloatType, bits: u64) -> f64 {
    match ty {
        FloatType::F32 => f64::from(f32::from_bits(bits as u32)),
        FloatType::F64 => f64::from_bits(bits),
    }
}

/// Every truncation, trapping or saturating, against its reference.
fn check_truncations(saturating: bool) {
    for (from, to, signedness) in TRUNCATIONS {
        let salt = 90 + 20 * saturating as u64 + from as u64 * 4 + to as u64 * 2;
        let random = singles(&random_values(
            from,
            &mut rng(salt + signedness as u64),
            values::random_cases(),
        ));
        run_operator(
            &truncation_name(from, to, signedness, saturating),
            &truncation_lowering(from, to, signedness, saturating),
            &singles(&truncation_edges(from)),
            &random,
            &|case, outcome, placement| {
                let expected = if saturating {
                    Ok(saturate_reference(
                        to,
                        signedness,
                        as_double(from, case.lhs),
                    ))
                } else {
                    truncate_reference(from, to, signedness, case.lhs)
                };
                match expected {
                    Err(trap) => (outcome.trap == trap).then_some(()).ok_or(format!(
                        "expected trap {trap}, got {} ({:#x})",
                        outcome.trap, outcome.value
                    )),
                    Ok(expected) => {
                        if outcome.trap != TRAP_NONE {
                            return Err(format!(
                                "trapped ({}), expected {expected:#x}",
                                outcome.trap
                            ));
                        }
                        let actual = result_bits(to == IntType::I64, case, outcome, placement)?;
                        let expected = if to == IntType::I32 {
                            expected & 0xFFFF_FFFF
                        } else {
                            expected
                        };
                        (actual == expected)
                            .then_some(())
                            .ok_or(format!("expected {expected:#x}, got {actual:#x}"))
                    }
                }
            },
        );
    }
}

/// `trunc_f32/f64_s/u` trap with `integer overflow` / `invalid conversion to integer` exactly
/// where the spec says, and are exact elsewhere.
#[test]
fn truncations_trap_like_the_spec() {
    check_truncations(false);
}

/// `trunc_sat_f32/f64_s/u` (issue 11): NaN gives 0, out-of-range values the nearest bound, and
/// they never trap.
#[test]
fn saturating_truncations() {
    check_truncations(true);
}

/// The truncations, trapping and saturating, agree with `wasmi` (the harness's oracle) on the
/// limits and on random values: same value, or the same trap.
#[test]
fn truncations_agree_with_wasmi() {
    use kplug_reference::{Failure, Reference};
    use plugin_format::message::Value;
    use plugin_format::trap::TrapKind;
    let mut wat = String::from("(module\n");
    for (from, to, signedness) in TRUNCATIONS {
        for saturating in [false, true] {
            let name = truncation_name(from, to, signedness, saturating);
            wat += &format!(
                "(func (export \"{name}\") (param {}) (result {}) local.get 0 {name})\n",
                type_name(from),
                if to == IntType::I32 { "i32" } else { "i64" },
            );
        }
    }
    wat += ")";
    let wasm = wat::parse_str(&wat).expect("the truncation module assembles");
    let mut oracle = Reference::new(None);
    let instance = oracle
        .instantiate(&wasm)
        .unwrap_or_else(|failure| panic!("the oracle refused the module: {failure}"));
    let mut compared = 0;
    for (from, to, signedness) in TRUNCATIONS {
        let mut inputs = truncation_edges(from);
        inputs.extend(random_values(from, &mut rng(130 + from as u64), 5_000));
        let cases = singles(&inputs);
        for saturating in [false, true] {
            let name = truncation_name(from, to, signedness, saturating);
            let kernel = Kernel::build(
                Placement::Frame,
                &truncation_lowering(from, to, signedness, saturating),
            );
            let function = oracle.function(instance, &name).expect("export");
            for (case, outcome) in cases.iter().zip(kernel.run(&cases)) {
                let argument = match from {
                    FloatType::F32 => Value::F32(case.lhs as u32),
                    FloatType::F64 => Value::F64(case.lhs),
                };
                let oracle = match oracle.call(function, &[argument]) {
                    Ok(results) => Ok(match results[..] {
                        [Value::I32(value)] => u64::from(value as u32),
                        [Value::I64(value)] => value as u64,
                        ref other => panic!("unexpected result {other:?}"),
                    }),
                    Err(Failure::Trap(trap)) if trap.kind == Some(TrapKind::IntegerOverflow) => {
                        Err(TRAP_OVERFLOW)
                    }
                    Err(Failure::Trap(trap)) if trap.message == "invalid conversion to integer" => {
                        Err(TRAP_INVALID)
                    }
                    Err(failure) => panic!("unexpected oracle failure {failure}"),
                };
                let ours = if outcome.trap != TRAP_NONE {
                    Err(outcome.trap)
                } else if to == IntType::I32 {
                    Ok(outcome.value & 0xFFFF_FFFF)
                } else {
                    Ok(outcome.value)
                };
                assert_eq!(ours, oracle, "{name}({:#x}): x87 vs wasmi", case.lhs);
                compared += 1;
            }
        }
    }
    println!("x87 truncations vs wasmi: {compared} cases agree");
}

/// The wasm name of a truncation.
fn truncation_name(
    from: FloatType,
    to: IntType,
    signedness: Signedness,
    saturating: bool,
) -> String {
    format!(
        "{}.trunc{}_{}_{}",
        if to == IntType::I32 { "i32" } else { "i64" },
        if saturating { "_sat" } else { "" },
        type_name(from),
        if signedness == Signedness::Signed {
            "s"
        } else {
            "u"
        },
    )
}

/// The wasm name of a float type.
fn type_name(ty: FloatType) -> &'static str {
    match ty {
        FloatType::F32 => "f32",
        FloatType::F64 => "f64",
    }
}

/// The reference this bed compares with is exact IEEE arithmetic: this target computes `f32`
/// and `f64` with SSE2 (not the x87), and its results agree with LLVM's APFloat (a software
/// IEEE implementation) on the same kind of operands the bed uses, including the subnormal
/// products and quotients where an x87 would round twice, and the integer conversions.
#[test]
fn rust_reference_is_exact_ieee_on_this_target() {
    use rustc_apfloat::Float;
    use rustc_apfloat::ieee::{Double, Single};
    const {
        assert!(
            cfg!(target_feature = "sse2"),
            "the i686 reference must use SSE2 arithmetic, not the x87"
        )
    };
    let mut generator = rng(140);
    let mut compared = 0;
    for index in 0..values::random_cases() {
        let product = [None, Some(true), Some(false)][index % 3];
        let (a, b) = values::random_f64_pair(&mut generator, product);
        let (x, y) = (f64::from_bits(a), f64::from_bits(b));
        let ours = [x + y, x - y, x * y, x / y].map(|z| (!z.is_nan()).then(|| z.to_bits().into()));
        compared += agree_with_apfloat(
            Double::from_bits(a.into()),
            Double::from_bits(b.into()),
            ours,
        );
        let (a, b) = values::random_f32_pair(&mut generator, product);
        let (x, y) = (f32::from_bits(a), f32::from_bits(b));
        let ours = [x + y, x - y, x * y, x / y].map(|z| (!z.is_nan()).then(|| z.to_bits().into()));
        compared += agree_with_apfloat(
            Single::from_bits(a.into()),
            Single::from_bits(b.into()),
            ours,
        );
        let integer = values::random_integer(&mut generator);
        for (ours, theirs) in [
            (
                u128::from((integer as f32).to_bits()),
                Single::from_u128(integer.into()).value.to_bits(),
            ),
            (
                u128::from((integer as i64 as f32).to_bits()),
                Single::from_i128((integer as i64).into()).value.to_bits(),
            ),
            (
                u128::from((integer as f64).to_bits()),
                Double::from_u128(integer.into()).value.to_bits(),
            ),
            (
                u128::from((integer as i64 as f64).to_bits()),
                Double::from_i128((integer as i64).into()).value.to_bits(),
            ),
        ] {
            assert_eq!(ours, theirs, "conversion of {integer:#x}");
            compared += 1;
        }
    }
    println!("x87 reference (Rust on i686) vs APFloat: {compared} results agree");
}

/// Asserts that `ours` (the bits of `p + q`, `p - q`, `p * q`, `p / q`, `None` for a NaN) are
/// APFloat's results, rounded to nearest even; returns how many were compared.
fn agree_with_apfloat<F: rustc_apfloat::Float>(p: F, q: F, ours: [Option<u128>; 4]) -> usize {
    let round = rustc_apfloat::Round::NearestTiesToEven;
    let theirs = [
        p.add_r(q, round).value,
        p.sub_r(q, round).value,
        p.mul_r(q, round).value,
        p.div_r(q, round).value,
    ];
    for (ours, theirs) in ours.into_iter().zip(theirs) {
        if let Some(bits) = ours {
            assert_eq!(
                bits,
                theirs.to_bits(),
                "{:#x} ? {:#x}",
                p.to_bits(),
                q.to_bits()
            );
        }
    }
    ours.len()
}

/// The bed can fail: the plain x87 sequences the lowering avoids (`fmul`/`fdiv` and a store,
/// with no subnormal correction; `f32.convert_i64_u` with its addition at 53 bits) disagree
/// with the reference on the bed's own random operands, so the checks above are not vacuous
/// and the corrections are needed.
#[test]
fn the_bed_catches_double_rounding() {
    use kplug_core::compiler::encoder::x87::{FloatFormat, FpuArithmetic, IntegerFormat};
    let wrong = |lowering: &dyn Fn(&mut Encoder, &Operands),
                 cases: &[Case],
                 reference: &dyn Fn(&Case) -> u64| {
        let kernel = Kernel::build(Placement::Memory, lowering);
        cases
            .chunks(BATCH)
            .flat_map(|batch| {
                batch
                    .iter()
                    .zip(kernel.run(batch))
                    .map(|(case, outcome)| (*case, outcome))
                    .collect::<Vec<_>>()
            })
            .filter(|(case, outcome)| {
                let expected = reference(case);
                !(expected == outcome.value
                    || (f64::from_bits(expected).is_nan()
                        && f64::from_bits(outcome.value).is_nan()))
            })
            .count()
    };
    for (op, name, product, reference) in [
        (
            FpuArithmetic::Mul,
            "f64.mul",
            true,
            (|a: f64, b: f64| a * b) as fn(f64, f64) -> f64,
        ),
        (FpuArithmetic::Div, "f64.div", false, |a, b| a / b),
    ] {
        let cases = random_pairs(
            FloatType::F64,
            &mut rng(150 + op as u64),
            values::random_cases(),
            Some(product),
        );
        let naive = wrong(
            &|enc, operands| {
                enc.fld(operands.lhs, FloatFormat::Double);
                enc.farith_m(op, operands.rhs, FloatFormat::Double);
                enc.fst(operands.out, FloatFormat::Double, true);
            },
            &cases,
            &|case| reference(f64::from_bits(case.lhs), f64::from_bits(case.rhs)).to_bits(),
        );
        let corrected = wrong(
            &|enc, operands| {
                let op = if op == FpuArithmetic::Mul {
                    Arithmetic::Mul
                } else {
                    Arithmetic::Div
                };
                float::arithmetic(
                    enc,
                    FloatType::F64,
                    op,
                    operands.lhs,
                    operands.rhs,
                    operands.out,
                )
            },
            &cases,
            &|case| reference(f64::from_bits(case.lhs), f64::from_bits(case.rhs)).to_bits(),
        );
        println!(
            "x87 {name}: plain fmul/fdiv + fstp wrong in {naive} of {} cases, the lowering in {corrected}",
            cases.len()
        );
        assert!(
            naive > 0,
            "{name}: the plain sequence should round twice somewhere"
        );
        assert_eq!(corrected, 0);
    }
    let mut generator = rng(152);
    let cases = integer_cases(
        IntType::I64,
        (0..values::random_cases()).map(|_| values::random_integer(&mut generator) | 1 << 63),
    );
    let naive = wrong(
        &|enc, operands| {
            enc.fild(operands.lhs, IntegerFormat::Qword);
            enc.store_imm(
                operands.out,
                0x5F80_0000,
                kplug_core::compiler::encoder::Width::Dword,
            );
            enc.farith_m(FpuArithmetic::Add, operands.out, FloatFormat::Single);
            enc.fst(operands.out, FloatFormat::Single, true);
        },
        &cases,
        &|case| u64::from((case.lhs as f32).to_bits()) | bed::UNTOUCHED << 32,
    );
    println!(
        "x87 f32.convert_i64_u: adding 2^64 at 53 bits is wrong in {naive} of {} cases",
        cases.len()
    );
    assert!(
        naive > 0,
        "the 53-bit addition should round twice somewhere"
    );
}

/// `reset_fpu` leaves a clean FPU whatever the previous state: control word 0x027F, status
/// word 0 (no exception flags, TOP = 0), every register empty and *zero* (an `fnsave` sees none
/// of the previous values), no instruction or data pointer. Without the reset the same `fnsave`
/// sees the dirt, so the check can fail.
#[test]
fn fpu_reset_clears_the_state() {
    use kplug_core::compiler::encoder::x87::{FloatFormat, FpuArithmetic, St};
    use kplug_core::compiler::encoder::{Mem, Reg};
    const HOST_CONTROL_WORD: i32 = 200;
    const DIRTY_CONTROL_WORD: i32 = 204;
    const DIRTY_VALUE: i32 = 160;
    let build = |reset: bool| {
        let mut enc = Encoder::new();
        enc.enter_frame();
        enc.push_r(Reg::Ebx);
        enc.load32(Reg::Ebx, Mem::Frame(8));
        let buffer = |offset| Mem::Data(Reg::Ebx, offset);
        enc.fnstcw(buffer(HOST_CONTROL_WORD));
        // Dirt: another control word, eight registers of another plugin's value, exception
        // flags (a division by zero and a stack overflow).
        enc.fldcw(buffer(DIRTY_CONTROL_WORD));
        for _ in 0..7 {
            enc.fld(buffer(DIRTY_VALUE), FloatFormat::Extended);
        }
        enc.fld1();
        enc.fldz();
        enc.farith_pop(FpuArithmetic::Div, St::new(1));
        enc.fld1();
        enc.fld1();
        if reset {
            float::reset_fpu(&mut enc);
        }
        enc.fnsave(buffer(0));
        enc.fldcw(buffer(HOST_CONTROL_WORD));
        enc.load32(Reg::Ebx, Mem::Frame(-4));
        enc.leave_ret(0);
        enc.asm.finish().expect("assembles")
    };
    let run = |reset: bool| -> [u8; 256] {
        let code = build(reset);
        let mut buffer = [0u8; 256];
        buffer[DIRTY_CONTROL_WORD as usize..][..2].copy_from_slice(&0x0C7Fu16.to_le_bytes());
        buffer[DIRTY_VALUE as usize..][..10]
            .copy_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0xFF, 0x3F]);
        // SAFETY: a fresh anonymous mapping, filled, made executable, called once with a
        // 256-byte buffer (the code touches offsets below 214) and unmapped.
        unsafe {
            let page = libc::mmap(
                core::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(page, libc::MAP_FAILED);
            core::ptr::copy_nonoverlapping(code.as_ptr(), page as *mut u8, code.len());
            assert_eq!(
                libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_EXEC),
                0
            );
            let entry: unsafe extern "C" fn(*mut u8) = core::mem::transmute(page);
            entry(buffer.as_mut_ptr());
            libc::munmap(page, 4096);
        }
        buffer
    };
    let word = |state: &[u8; 256], offset: usize| {
        u32::from_le_bytes(state[offset..offset + 4].try_into().unwrap())
    };
    let dirty = run(false);
    assert_ne!(word(&dirty, 0) & 0xFFFF, u32::from(float::CONTROL_WORD));
    assert_ne!(word(&dirty, 4) & 0xFFFF, 0, "exception flags were raised");
    assert!(
        dirty[28..108].iter().any(|&byte| byte != 0),
        "the registers hold values"
    );
    let clean = run(true);
    assert_eq!(
        word(&clean, 0) & 0xFFFF,
        u32::from(float::CONTROL_WORD),
        "control word"
    );
    assert_eq!(
        word(&clean, 4) & 0xFFFF,
        0,
        "status word: no flags, TOP = 0"
    );
    assert_eq!(
        word(&clean, 8) & 0xFFFF,
        0xFFFF,
        "tag word: every register empty"
    );
    assert_eq!(word(&clean, 12), 0, "instruction pointer");
    assert_eq!(word(&clean, 16) >> 16 & 0x7FF, 0, "last opcode");
    assert_eq!(word(&clean, 20), 0, "data pointer");
    assert!(
        clean[28..108].iter().all(|&byte| byte == 0),
        "register contents: {:x?}",
        &clean[28..108]
    );
}
