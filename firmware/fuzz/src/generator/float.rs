//! Float expressions, and how their results are compared as the spec does.
//!
//! # What the spec leaves open, and how the programs handle it
//!
//! A float operator that computes (arithmetic, `sqrt`, rounding, `min`/`max`,
//! `promote`/`demote`) and returns a NaN may return any NaN of a set (the spec's "NaN
//! propagation", under Numerics, Floating-Point Operations): a canonical NaN (payload
//! `0x400000` / `0x8000000000000`, either sign) when every NaN operand is canonical, otherwise
//! any arithmetic NaN (quiet bit set, any payload and sign). kplug's x87 lowering returns the x87's default NaN or the quieted
//! operand; wasmi returns what SSE and Rust do; both are right, and they differ, for example on
//! which of two NaN operands comes through. Every other float operator is exact: constants,
//! loads, stores, moves, `reinterpret`, `abs`, `neg` and `copysign` are bit operations, a
//! comparison or a truncation does not depend on a NaN's bits, and a converted integer is a
//! number.
//!
//! So the generator tracks, for every float expression it builds, what is known of its bits
//! ([`Bits`]): **exact** (every correct engine computes the same bits, signalling NaNs
//! included) or **loose** (a NaN here may differ between correct engines); **clean** (a NaN
//! here, if any, is canonical); **computed** (a NaN here, if any, came out of a computing
//! operator, so it is arithmetic; a `select` between a computed value and a moved signalling
//! NaN is loose but not computed). A loose value may flow on through computing operators,
//! sign operations, `select`, comparisons and truncations. Where it would leave the expression
//! tree — into a local, a global, memory, a call, a branch, a result, `reinterpret`, or
//! `copysign`'s sign — it is **settled** ([`ModuleGen::settle`]): the program itself checks the
//! spec's rule on it (a NaN must be canonical if the value is clean, arithmetic if computed),
//! adds each breach to the exported global [`NAN_RULE_EXPORT`], and replaces a NaN by the
//! canonical `+nan`. From then on every correct engine holds the same bits, and results,
//! memory and globals compare bit for bit: an exact value (a signalling NaN stored, loaded,
//! negated, passed, returned) must come out exactly, and a correct engine leaves the count at
//! 0 (`differential::judge` holds both engines to it).

use core::fmt::Write as _;

use super::{FunctionGen, ModuleGen};
use crate::subset::{Feature, ValueType};

/// The export of the global that counts the loose float values which broke the spec's NaN
/// rule (present when the subset has floats).
pub const NAN_RULE_EXPORT: &str = "nan_rule";

/// What the generator knows of a value's bits (see the module docs). Integers and references
/// are always exact and clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bits {
    /// Every correct engine computes the same bits.
    exact: bool,
    /// The value is a number or a canonical NaN.
    clean: bool,
    /// Any NaN it is came out of a computing operator, so the spec says it is arithmetic (a
    /// `select` between such a value and a moved signalling NaN is not).
    computed: bool,
}

impl Bits {
    /// The same bits in every engine, which may be any NaN (a local, a load, a parameter).
    pub(super) const EXACT: Bits = Bits {
        exact: true,
        clean: false,
        computed: false,
    };
    /// The same bits in every engine, a number or a canonical NaN (a constant, a converted
    /// integer, a settled value, every integer and reference).
    pub(super) const CLEAN: Bits = Bits {
        exact: true,
        clean: true,
        computed: false,
    };

    /// The result of a computing operator on operands known as `operands`: loose, arithmetic,
    /// and clean when they all are (the spec's canonical case).
    pub(super) fn computed(operands: &[Bits]) -> Bits {
        Bits {
            exact: false,
            clean: operands.iter().all(|bits| bits.clean),
            computed: true,
        }
    }

    /// A value that is one of two (`select`).
    pub(super) fn either(self, other: Bits) -> Bits {
        Bits {
            exact: self.exact && other.exact,
            clean: self.clean && other.clean,
            computed: self.computed && other.computed,
        }
    }
}

/// Float binary operators that compute (NaN results are loose).
const COMPUTING_BINARY: [&str; 6] = ["add", "sub", "mul", "div", "min", "max"];
/// Float unary operators that compute.
const COMPUTING_UNARY: [&str; 5] = ["sqrt", "ceil", "floor", "trunc", "nearest"];
/// Float comparisons.
const COMPARISONS: [&str; 6] = ["eq", "ne", "lt", "gt", "le", "ge"];

impl ModuleGen<'_> {
    /// Settles a value of `ty` on the operand stack known as `bits` (see the module docs): a
    /// loose float is checked against the spec's NaN rule and a NaN replaced by `+nan`; what is
    /// known of the bits afterwards.
    pub(super) fn settle(&mut self, function: &mut FunctionGen, ty: ValueType, bits: Bits) -> Bits {
        if bits.exact || !ty.is_float() {
            return bits;
        }
        let scratch = function.scratch(ty);
        let name = ty.name();
        let _ = writeln!(function.out, "    local.tee {scratch}");
        let int = if ty == ValueType::F32 { "i32" } else { "i64" };
        let (mask, want) = match (ty, bits.clean, bits.computed) {
            // Canonical: every bit but the sign is the canonical NaN's.
            (ValueType::F32, true, _) => (Some(0x7fff_ffff_u64), 0x7fc0_0000_u64),
            (_, true, _) => (Some(0x7fff_ffff_ffff_ffff), 0x7ff8_0000_0000_0000),
            // Arithmetic: the quiet bit is set.
            (ValueType::F32, false, true) => (Some(0x0040_0000), 0x0040_0000),
            (_, false, true) => (Some(0x0008_0000_0000_0000), 0x0008_0000_0000_0000),
            // Possibly a moved NaN, which may be any: nothing to check.
            (_, false, false) => (None, 0),
        };
        if let Some(mask) = mask {
            let _ = writeln!(
                function.out,
                "    global.get ${NAN_RULE_EXPORT} local.get {scratch} local.get {scratch} {name}.ne local.get {scratch} {int}.reinterpret_{name} {int}.const {mask:#x} {int}.and {int}.const {want:#x} {int}.ne i32.and i32.add global.set ${NAN_RULE_EXPORT}"
            );
        }
        let _ = writeln!(
            function.out,
            "    {name}.const nan local.get {scratch} local.get {scratch} {name}.eq select"
        );
        Bits::CLEAN
    }

    /// A float expression of `ty` built with a float operator (the common constructs are in
    /// [`ModuleGen::expression`]).
    pub(super) fn float(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let name = ty.name();
        match self.rng.u32(..12) {
            0..=3 => {
                let operator = COMPUTING_BINARY[self.rng.usize(..COMPUTING_BINARY.len())];
                if matches!(operator, "mul" | "div") && self.rng.u32(..3) == 0 {
                    let (left, right) = self.subnormal_operands(ty, operator == "div");
                    let _ = writeln!(
                        function.out,
                        "    {left}\n    {right}\n    {name}.{operator}"
                    );
                    return Bits::computed(&[Bits::CLEAN]);
                }
                let left = self.expression(function, ty, depth + 1);
                let right = self.expression(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {name}.{operator}");
                Bits::computed(&[left, right])
            }
            4 => {
                // The magnitude may be loose (its NaN payload comes through); the sign must
                // not be, or numbers would differ too.
                let magnitude = self.expression(function, ty, depth + 1);
                self.value(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {name}.copysign");
                magnitude
            }
            5 | 6 => {
                let operator = COMPUTING_UNARY[self.rng.usize(..COMPUTING_UNARY.len())];
                let operand = self.expression(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {name}.{operator}");
                Bits::computed(&[operand])
            }
            7 => {
                let operator = ["abs", "neg"][self.rng.usize(..2)];
                let operand = self.expression(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {name}.{operator}");
                operand
            }
            8 => {
                let from = self.integer_type();
                self.value(function, from, depth + 1);
                let sign = ["s", "u"][self.rng.usize(..2)];
                let _ = writeln!(function.out, "    {name}.convert_{}_{sign}", from.name());
                Bits::CLEAN
            }
            9 => {
                let (other, operator) = match ty {
                    ValueType::F32 => (ValueType::F64, "f32.demote_f64"),
                    _ => (ValueType::F32, "f64.promote_f32"),
                };
                if !self.subset.has_type(other) {
                    return self.leaf(function, ty);
                }
                let operand = self.expression(function, other, depth + 1);
                let _ = writeln!(function.out, "    {operator}");
                Bits::computed(&[operand])
            }
            10 => {
                let from = match ty {
                    ValueType::F32 => ValueType::I32,
                    _ => ValueType::I64,
                };
                if !self.subset.has_type(from) {
                    return self.leaf(function, ty);
                }
                self.value(function, from, depth + 1);
                let _ = writeln!(function.out, "    {name}.reinterpret_{}", from.name());
                Bits::EXACT
            }
            _ => self.leaf(function, ty),
        }
    }

    /// An `i32` comparison of two floats (`None` without floats).
    pub(super) fn float_comparison(
        &mut self,
        function: &mut FunctionGen,
        depth: u32,
    ) -> Option<()> {
        let ty = self.float_type()?;
        let operator = COMPARISONS[self.rng.usize(..COMPARISONS.len())];
        // The bits of a NaN operand do not matter to a comparison: loose operands are fine.
        self.expression(function, ty, depth + 1);
        self.expression(function, ty, depth + 1);
        let _ = writeln!(function.out, "    {}.{operator}", ty.name());
        Some(())
    }

    /// An integer of `ty` from a float: `reinterpret`, a saturating truncation, or a trapping
    /// one, mostly on an operand guarded into range so that the call goes on (`None` without
    /// floats).
    pub(super) fn float_to_integer(
        &mut self,
        function: &mut FunctionGen,
        ty: ValueType,
        depth: u32,
    ) -> Option<()> {
        let from = self.float_type()?;
        let same_width = matches!(
            (ty, from),
            (ValueType::I32, ValueType::F32) | (ValueType::I64, ValueType::F64)
        );
        let choice = self.rng.u32(..6);
        if choice == 0 && same_width {
            self.value(function, from, depth + 1);
            let _ = writeln!(
                function.out,
                "    {}.reinterpret_{}",
                ty.name(),
                from.name()
            );
            return Some(());
        }
        let signed = self.rng.bool();
        let sign = if signed { "s" } else { "u" };
        self.expression(function, from, depth + 1);
        if choice <= 2 && self.subset.has(Feature::SaturatingFloatToInt) {
            let _ = writeln!(
                function.out,
                "    {}.trunc_sat_{}_{sign}",
                ty.name(),
                from.name()
            );
            return Some(());
        }
        if self.rng.u32(..3) != 0 {
            // NaN to 0, then clamped into the target's range (each bound, rounded to either
            // width, lies strictly inside it).
            let (low, high) = match (ty, signed) {
                (ValueType::I32, true) => ("-2e9", "2e9"),
                (ValueType::I32, false) => ("0", "4e9"),
                (_, true) => ("-9e18", "9e18"),
                (_, false) => ("0", "1.8e19"),
            };
            let scratch = function.scratch(from);
            let name = from.name();
            let _ = writeln!(
                function.out,
                "    local.tee {scratch} {name}.const 0 local.get {scratch} local.get {scratch} {name}.eq select\n    {name}.const {high} {name}.min {name}.const {low} {name}.max"
            );
        }
        let _ = writeln!(
            function.out,
            "    {}.trunc_{}_{sign}",
            ty.name(),
            from.name()
        );
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subset::Subset;

    /// The text `settle` emits for a value of `ty` known as `bits`.
    fn settled(ty: ValueType, bits: Bits) -> String {
        let subset = Subset::jit();
        let mut module = ModuleGen {
            rng: fastrand::Rng::with_seed(1),
            subset: &subset,
            types: Vec::new(),
            functions: vec![0],
            globals: Vec::new(),
            tables: Vec::new(),
            memory_max_pages: 1,
            passive: Vec::new(),
            passive_elements: Vec::new(),
        };
        let mut function = FunctionGen {
            locals: Vec::new(),
            writable: 0,
            labels: Vec::new(),
            out: String::new(),
            budget: 0,
            index: 0,
            scratch: [None; ValueType::ALL.len()],
        };
        let after = module.settle(&mut function, ty, bits);
        // A settled float is clean; anything else passes as it was.
        let want = if bits.exact || !ty.is_float() {
            bits
        } else {
            Bits::CLEAN
        };
        assert_eq!(after, want);
        function.out
    }

    /// Exact values pass as they are; a computed value is checked to be arithmetic, a clean
    /// one canonical, and a value that may be a moved NaN (a `select` of a computed value and
    /// a local) is only canonicalised: such a NaN may be signalling. Found by the fuzzer
    /// itself, which first checked that `select` as arithmetic.
    #[test]
    fn settling_checks_only_what_the_spec_says() {
        assert_eq!(settled(ValueType::F32, Bits::EXACT), "");
        assert_eq!(settled(ValueType::F64, Bits::CLEAN), "");
        let computed = Bits::computed(&[Bits::EXACT, Bits::CLEAN]);
        let text = settled(ValueType::F32, computed);
        assert!(text.contains("i32.const 0x400000 i32.and i32.const 0x400000 i32.ne"));
        assert!(text.contains("f32.const nan local.get 0 local.get 0 f32.eq select"));
        let text = settled(ValueType::F64, Bits::computed(&[Bits::CLEAN, Bits::CLEAN]));
        assert!(text.contains("i64.const 0x7fffffffffffffff i64.and i64.const 0x7ff8000000000000"));
        let text = settled(ValueType::F32, computed.either(Bits::EXACT));
        assert!(!text.contains(NAN_RULE_EXPORT), "{text}");
        assert!(text.contains("f32.const nan"));
        assert_eq!(settled(ValueType::I64, computed), "");
    }

    /// Cleanliness: a computing operator's result is clean only when all its operands are; a
    /// local, a load or a block's result is not (any exact NaN may reach it). Found by the
    /// fuzzer itself, which first called a block's result clean.
    #[test]
    fn clean_only_from_clean_operands() {
        let clean = Bits::computed(&[Bits::CLEAN, Bits::CLEAN]);
        assert!(clean.clean && clean.computed && !clean.exact);
        assert!(!Bits::computed(&[Bits::CLEAN, Bits::EXACT]).clean);
        assert!(!clean.either(Bits::EXACT).clean);
        assert!(clean.either(Bits::CLEAN).clean);
    }
}
