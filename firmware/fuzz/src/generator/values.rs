//! Value types, constants and call arguments: mostly edge values, written exactly (floats as
//! hexadecimal floats or `nan:0x..` with their payload, so the module holds the bits drawn).

use plugin_format::message::Value;

use super::{Bits, ModuleGen};
use crate::subset::{Feature, ValueType};

/// Edge values every integer operator should meet.
const I32_EDGES: [i32; 16] = [
    0,
    1,
    -1,
    2,
    7,
    31,
    32,
    33,
    255,
    256,
    0x7fff,
    0x8000,
    0xffff,
    i32::MIN,
    i32::MAX,
    i32::MIN + 1,
];

const I64_EDGES: [i64; 14] = [
    0,
    1,
    -1,
    31,
    32,
    63,
    64,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff,
    -0x8000_0000,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
];

/// `f32` edge values, as bits: zeros, infinities, NaNs (canonical, with payloads, signalling,
/// both signs), subnormal and normal limits, rounding halfway cases, and the limits of every
/// float-to-int conversion and their neighbours.
const F32_EDGES: [u32; 36] = [
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x7fc0_0000, // canonical NaN
    0xffc0_0000, // negative canonical NaN (the x87's default NaN)
    0x7fc0_0001, // quiet NaN with a payload
    0xffff_ffff, // negative quiet NaN, every payload bit
    0x7fa0_0000, // signalling NaN
    0xff80_0001, // negative signalling NaN, smallest payload
    0x7fbf_ffff, // signalling NaN, largest payload
    0x0000_0001, // smallest subnormal
    0x8000_0001,
    0x007f_ffff, // largest subnormal
    0x0080_0000, // smallest normal
    0x7f7f_ffff, // largest finite
    0xff7f_ffff,
    0x3f80_0000, // 1
    0xbf80_0000, // -1
    0x3f00_0000, // 0.5
    0xbf00_0000, // -0.5
    0x3fc0_0000, // 1.5
    0x4020_0000, // 2.5
    0x3eff_ffff, // just below 0.5
    0x4b00_0001, // 2^23 + 1: the last odd integer
    0x4b80_0000, // 2^24
    0x4eff_ffff, // just below 2^31
    0x4f00_0000, // 2^31
    0xcf00_0000, // -2^31
    0xcf00_0001, // just below -2^31
    0x4f7f_ffff, // just below 2^32
    0x4f80_0000, // 2^32
    0x5eff_ffff, // just below 2^63
    0x5f00_0000, // 2^63
    0xdf00_0000, // -2^63
    0x5f80_0000, // 2^64
];

/// `f64` edge values, as bits (as [`F32_EDGES`], and the products and quotients whose
/// subnormal results an x87 rounds twice).
const F64_EDGES: [u64; 38] = [
    0x0000_0000_0000_0000, // +0
    0x8000_0000_0000_0000, // -0
    0x7ff0_0000_0000_0000, // +inf
    0xfff0_0000_0000_0000, // -inf
    0x7ff8_0000_0000_0000, // canonical NaN
    0xfff8_0000_0000_0000, // negative canonical NaN
    0x7ff8_0000_0000_0001, // quiet NaN with a payload
    0xffff_ffff_ffff_ffff,
    0x7ff4_0000_0000_0000, // signalling NaN
    0xfff0_0000_0000_0001, // negative signalling NaN, smallest payload
    0x7ff7_ffff_ffff_ffff, // signalling NaN, largest payload
    0x0000_0000_0000_0001, // smallest subnormal
    0x8000_0000_0000_0001,
    0x000f_ffff_ffff_ffff, // largest subnormal
    0x0010_0000_0000_0000, // smallest normal
    0x7fef_ffff_ffff_ffff, // largest finite
    0xffef_ffff_ffff_ffff,
    0x3ff0_0000_0000_0000, // 1
    0xbff0_0000_0000_0000, // -1
    0x3fe0_0000_0000_0000, // 0.5
    0xbfe0_0000_0000_0000, // -0.5
    0x3ff8_0000_0000_0000, // 1.5
    0x4004_0000_0000_0000, // 2.5
    0x3ff0_0000_0000_0001, // 1 + ulp
    0x1ff0_0000_0000_0001, // 2^-512 (1 + ulp): squares and quotients land among subnormals
    0x2000_0000_0000_0003,
    0x41df_ffff_ffc0_0000, // 2^31 - 1
    0x41e0_0000_0000_0000, // 2^31
    0xc1e0_0000_0000_0000, // -2^31
    0xc1e0_0000_0020_0000, // -2^31 - 1
    0x41ef_ffff_ffe0_0000, // 2^32 - 1
    0x41f0_0000_0000_0000, // 2^32
    0x43df_ffff_ffff_ffff, // just below 2^63
    0x43e0_0000_0000_0000, // 2^63
    0xc3e0_0000_0000_0000, // -2^63
    0xc3e0_0000_0000_0001, // just below -2^63
    0x43ef_ffff_ffff_ffff, // just below 2^64
    0x43f0_0000_0000_0000, // 2^64
];

/// Whether `bits` is an `f32` NaN other than the canonical ones.
fn f32_unclean(bits: u32) -> bool {
    bits & 0x7f80_0000 == 0x7f80_0000
        && bits & 0x007f_ffff != 0
        && bits & 0x7fff_ffff != 0x7fc0_0000
}

/// Whether `bits` is an `f64` NaN other than the canonical ones.
fn f64_unclean(bits: u64) -> bool {
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    bits & EXPONENT == EXPONENT
        && bits & 0x000f_ffff_ffff_ffff != 0
        && bits & 0x7fff_ffff_ffff_ffff != 0x7ff8_0000_0000_0000
}

/// The exact WAT text of the `f32` with `bits`: `inf`, `nan:0x..` (its payload), or a
/// hexadecimal float (`-0x1.800000p+3`, `0x0.000002p-126`).
fn f32_text(bits: u32) -> String {
    let sign = if bits >> 31 != 0 { "-" } else { "" };
    let exponent = (bits >> 23) & 0xff;
    let mantissa = bits & 0x007f_ffff;
    match exponent {
        0xff if mantissa == 0 => format!("{sign}inf"),
        0xff => format!("{sign}nan:{mantissa:#x}"),
        // 23 fraction bits shifted to 24: six hexadecimal digits.
        0 => format!("{sign}0x0.{:06x}p-126", mantissa << 1),
        _ => format!(
            "{sign}0x1.{:06x}p{:+}",
            mantissa << 1,
            exponent as i32 - 127
        ),
    }
}

/// The exact WAT text of the `f64` with `bits` (as [`f32_text`]).
fn f64_text(bits: u64) -> String {
    let sign = if bits >> 63 != 0 { "-" } else { "" };
    let exponent = (bits >> 52) & 0x7ff;
    let mantissa = bits & 0x000f_ffff_ffff_ffff;
    match exponent {
        0x7ff if mantissa == 0 => format!("{sign}inf"),
        0x7ff => format!("{sign}nan:{mantissa:#x}"),
        0 => format!("{sign}0x0.{mantissa:013x}p-1022"),
        _ => format!("{sign}0x1.{mantissa:013x}p{:+}", exponent as i64 - 1023),
    }
}

impl ModuleGen<'_> {
    /// Any value type of the subset; `i32` twice as often as all the others together
    /// (addresses, conditions and indices are i32), a reference one time in five of the rest.
    pub(super) fn value_type(&mut self) -> ValueType {
        if self.rng.u32(..3) != 0 {
            return ValueType::I32;
        }
        if self.subset.has(Feature::ReferenceTypes) && self.rng.u32(..5) == 0 {
            return [ValueType::FuncRef, ValueType::ExternRef][self.rng.usize(..2)];
        }
        let types = &self.subset.value_types;
        types[self.rng.usize(..types.len())]
    }

    /// A number type of the subset, `i32` twice as often as the others together.
    pub(super) fn number_type(&mut self) -> ValueType {
        if self.rng.u32(..3) != 0 {
            return ValueType::I32;
        }
        let types = &self.subset.value_types;
        types[self.rng.usize(..types.len())]
    }

    /// An integer type of the subset.
    pub(super) fn integer_type(&mut self) -> ValueType {
        if self.subset.has_type(ValueType::I64) && self.rng.bool() {
            ValueType::I64
        } else {
            ValueType::I32
        }
    }

    /// A float type of the subset, if it has one.
    pub(super) fn float_type(&mut self) -> Option<ValueType> {
        let floats: Vec<ValueType> = [ValueType::F32, ValueType::F64]
            .into_iter()
            .filter(|&ty| self.subset.has_type(ty))
            .collect();
        (!floats.is_empty()).then(|| floats[self.rng.usize(..floats.len())])
    }

    /// A constant instruction of `ty` (also a constant expression, for globals), and what is
    /// known of its bits.
    pub(super) fn constant(&mut self, ty: ValueType) -> (String, Bits) {
        match ty {
            ValueType::I32 => (format!("i32.const {}", self.i32_value()), Bits::CLEAN),
            ValueType::I64 => (format!("i64.const {}", self.i64_value()), Bits::CLEAN),
            ValueType::F32 => {
                let bits = self.f32_bits();
                let known = if f32_unclean(bits) {
                    Bits::EXACT
                } else {
                    Bits::CLEAN
                };
                (format!("f32.const {}", f32_text(bits)), known)
            }
            ValueType::F64 => {
                let bits = self.f64_bits();
                let known = if f64_unclean(bits) {
                    Bits::EXACT
                } else {
                    Bits::CLEAN
                };
                (format!("f64.const {}", f64_text(bits)), known)
            }
            ValueType::FuncRef if self.rng.bool() => {
                let function = self.rng.usize(..self.functions.len());
                (format!("ref.func $f{function}"), Bits::CLEAN)
            }
            ValueType::FuncRef => ("ref.null func".into(), Bits::CLEAN),
            ValueType::ExternRef => ("ref.null extern".into(), Bits::CLEAN),
        }
    }

    pub(super) fn i32_value(&mut self) -> i32 {
        match self.rng.u32(..4) {
            0 => I32_EDGES[self.rng.usize(..I32_EDGES.len())],
            1 => self.rng.i32(-64..64),
            _ => self.rng.i32(..),
        }
    }

    fn i64_value(&mut self) -> i64 {
        match self.rng.u32(..4) {
            0 => I64_EDGES[self.rng.usize(..I64_EDGES.len())],
            1 => self.rng.i64(-64..64),
            _ => self.rng.i64(..),
        }
    }

    /// Mostly edge values and small numbers, some random bits, some random numbers near the
    /// ends of the exponent range.
    fn f32_bits(&mut self) -> u32 {
        match self.rng.u32(..8) {
            0..=2 => F32_EDGES[self.rng.usize(..F32_EDGES.len())],
            3 | 4 => {
                (self.rng.i32(-64..64) as f32 / [1.0, 2.0, 4.0, 3.0][self.rng.usize(..4)]).to_bits()
            }
            5 => self.rng.u32(..),
            6 => {
                let exponent = if self.rng.bool() {
                    self.rng.u32(0..=24)
                } else {
                    self.rng.u32(230..=255)
                };
                (u32::from(self.rng.bool()) << 31) | (exponent << 23) | self.rng.u32(..1 << 23)
            }
            _ => {
                // A number of moderate size.
                let exponent = self.rng.u32(100..=160);
                (u32::from(self.rng.bool()) << 31) | (exponent << 23) | self.rng.u32(..1 << 23)
            }
        }
    }

    /// As [`ModuleGen::f32_bits`], for `f64`.
    fn f64_bits(&mut self) -> u64 {
        match self.rng.u32(..8) {
            0..=2 => F64_EDGES[self.rng.usize(..F64_EDGES.len())],
            3 | 4 => (f64::from(self.rng.i32(-64..64)) / [1.0, 2.0, 4.0, 3.0][self.rng.usize(..4)])
                .to_bits(),
            5 => self.rng.u64(..),
            6 => {
                let exponent = if self.rng.bool() {
                    self.rng.u64(0..=60)
                } else {
                    self.rng.u64(1990..=2047)
                };
                (u64::from(self.rng.bool()) << 63) | (exponent << 52) | self.rng.u64(..1 << 52)
            }
            _ => {
                let exponent = self.rng.u64(900..=1150);
                (u64::from(self.rng.bool()) << 63) | (exponent << 52) | self.rng.u64(..1 << 52)
            }
        }
    }

    /// Two operands of `ty`'s `mul` (or `div`) whose exact product (quotient) lies in or
    /// near the subnormal range, with random significands: where an x87 rounds twice unless
    /// the lowering corrects it.
    pub(super) fn subnormal_operands(&mut self, ty: ValueType, divide: bool) -> (String, String) {
        let sign = |rng: &mut fastrand::Rng, bits: u32| u64::from(rng.bool()) << (bits - 1);
        if ty == ValueType::F32 {
            // The result's exponent, from just below the smallest subnormal to the smallest
            // normal; each operand normal.
            let target = self.rng.i32(-152..=-124);
            let (a, b) = if divide {
                let b = self.rng.i32(30..=100);
                (target + b, b)
            } else {
                let a = self.rng.i32(-90..=-50);
                (a, target - a)
            };
            let mut operand = |exponent: i32| {
                let bits = sign(&mut self.rng, 32) as u32
                    | ((exponent + 127) as u32) << 23
                    | self.rng.u32(..1 << 23);
                format!("f32.const {}", f32_text(bits))
            };
            (operand(a), operand(b))
        } else {
            let target = self.rng.i32(-1078..=-1020);
            let (a, b) = if divide {
                let b = self.rng.i32(100..=600);
                (target + b, b)
            } else {
                let a = self.rng.i32(-600..=-420);
                (a, target - a)
            };
            let mut operand = |exponent: i32| {
                let bits = sign(&mut self.rng, 64)
                    | ((exponent + 1023) as u64) << 52
                    | self.rng.u64(..1 << 52);
                format!("f64.const {}", f64_text(bits))
            };
            (operand(a), operand(b))
        }
    }

    /// An argument of `ty` for an exported function. A `funcref` argument is null: the oracle
    /// cannot be handed a function from the host.
    pub(super) fn argument(&mut self, ty: ValueType) -> Value {
        match ty {
            ValueType::I32 => Value::I32(self.i32_value()),
            ValueType::I64 => Value::I64(self.i64_value()),
            ValueType::F32 => Value::F32(self.f32_bits()),
            ValueType::F64 => Value::F64(self.f64_bits()),
            ValueType::FuncRef => Value::FuncRef(None),
            // Any host word but null's (`u32::MAX`, which the runtime refuses).
            ValueType::ExternRef => {
                Value::ExternRef(self.rng.bool().then(|| self.rng.u32(..u32::MAX)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float text of every edge value, and of random bits, is the exact constant: wat
    /// parses it back to the same bits.
    #[test]
    fn float_text_is_exact() {
        let mut rng = fastrand::Rng::with_seed(5);
        let f32s: Vec<u32> = F32_EDGES
            .iter()
            .copied()
            .chain((0..2000).map(|_| rng.u32(..)))
            .collect();
        let f64s: Vec<u64> = F64_EDGES
            .iter()
            .copied()
            .chain((0..2000).map(|_| rng.u64(..)))
            .collect();
        let mut body = String::new();
        for &bits in &f32s {
            body.push_str(&format!(
                " (f32.const {}) (i32.reinterpret_f32) (drop)",
                f32_text(bits)
            ));
        }
        for &bits in &f64s {
            body.push_str(&format!(
                " (f64.const {}) (i64.reinterpret_f64) (drop)",
                f64_text(bits)
            ));
        }
        let wasm = wat::parse_str(format!("(module (func{body}))")).expect("valid WAT");
        let mut got32 = Vec::new();
        let mut got64 = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(&wasm) {
            if let wasmparser::Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut reader = body.get_operators_reader().unwrap();
                while !reader.eof() {
                    match reader.read().unwrap() {
                        wasmparser::Operator::F32Const { value } => got32.push(value.bits()),
                        wasmparser::Operator::F64Const { value } => got64.push(value.bits()),
                        _ => {}
                    }
                }
            }
        }
        assert_eq!(got32, f32s);
        assert_eq!(got64, f64s);
    }

    /// Canonical NaNs (either sign) and numbers are clean; every other NaN is not.
    #[test]
    fn clean_constants() {
        assert!(!f32_unclean(0x7fc0_0000) && !f32_unclean(0xffc0_0000));
        assert!(!f32_unclean(0x7f80_0000) && !f32_unclean(0x3f80_0000));
        assert!(f32_unclean(0x7fc0_0001) && f32_unclean(0x7fa0_0000));
        assert!(!f64_unclean(0xfff8_0000_0000_0000) && !f64_unclean(0xfff0_0000_0000_0000));
        assert!(f64_unclean(0x7ff4_0000_0000_0000) && f64_unclean(0xffff_ffff_ffff_ffff));
    }
}
