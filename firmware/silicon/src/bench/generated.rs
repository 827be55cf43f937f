//! The large generated module of the code-generation benchmark (issue 5: "a large generated
//! module of at least 64 KiB of code"): [`FUNCTIONS`] functions of straight-line arithmetic,
//! loads and stores, `if`/`else`, counted loops, `br_table` and calls to earlier functions,
//! drawn by a fixed-seed PRNG so every run and every machine compiles the same bytes.
//!
//! Only `std` is used here: `plugin-host-tool`'s bench includes this file too (by path), so the
//! board compiles exactly the module the silicon harness does.

use std::fmt::Write;

/// Functions in the module. With the statement mix below this gives a little over 64 KiB of
/// function bodies (checked by a test).
pub const FUNCTIONS: usize = 260;
/// Statements per function.
const STATEMENTS: usize = 24;
/// The PRNG's seed.
const SEED: u64 = 0x6B70_6C75_6721_0005;
/// Locals per function besides the two parameters.
const LOCALS: usize = 4;

/// xorshift64*: small, deterministic, good enough to vary code shapes.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() >> 33) as usize % bound
    }

    fn constant(&mut self) -> i32 {
        (self.next() >> 32) as i32
    }
}

const BINARY: [&str; 10] = [
    "i32.add",
    "i32.sub",
    "i32.mul",
    "i32.and",
    "i32.or",
    "i32.xor",
    "i32.shl",
    "i32.shr_u",
    "i32.shr_s",
    "i32.rotl",
];
const COMPARE: [&str; 6] = [
    "i32.lt_s", "i32.lt_u", "i32.gt_s", "i32.ge_u", "i32.eq", "i32.ne",
];
const LOADS: [&str; 5] = [
    "i32.load",
    "i32.load8_u",
    "i32.load8_s",
    "i32.load16_u",
    "i32.load16_s",
];
const STORES: [&str; 3] = ["i32.store", "i32.store8", "i32.store16"];

/// Any local (parameters included) of a function.
fn local(prng: &mut Prng) -> String {
    format!("(local.get {})", prng.below(2 + LOCALS))
}

/// A local the body may assign (not a parameter, not the loop counter).
fn target(prng: &mut Prng) -> usize {
    2 + prng.below(LOCALS - 1)
}

/// An address inside the first page, 4-byte aligned.
fn address(prng: &mut Prng) -> String {
    format!("(i32.and {} (i32.const 0xFFF0))", local(prng))
}

/// An expression of depth at most `depth`.
fn expression(prng: &mut Prng, depth: usize) -> String {
    match if depth == 0 {
        prng.below(2)
    } else {
        prng.below(5)
    } {
        0 => local(prng),
        1 => format!("(i32.const {})", prng.constant()),
        2 => format!(
            "({} offset={} {})",
            LOADS[prng.below(LOADS.len())],
            4 * prng.below(4),
            address(prng)
        ),
        3 => format!(
            "({} {} {})",
            COMPARE[prng.below(COMPARE.len())],
            expression(prng, depth - 1),
            expression(prng, depth - 1)
        ),
        _ => format!(
            "({} {} {})",
            BINARY[prng.below(BINARY.len())],
            expression(prng, depth - 1),
            expression(prng, depth - 1)
        ),
    }
}

/// One statement of function `index`.
fn statement(prng: &mut Prng, index: usize, out: &mut String) {
    let counter = 2 + LOCALS - 1;
    match prng.below(7) {
        0 | 1 => {
            let _ = write!(out, "(local.set {} {})", target(prng), expression(prng, 3));
        }
        2 => {
            let _ = write!(
                out,
                "({} offset={} {} {})",
                STORES[prng.below(STORES.len())],
                4 * prng.below(4),
                address(prng),
                expression(prng, 2)
            );
        }
        3 => {
            let _ = write!(
                out,
                "(if {} (then (local.set {} {})) (else (local.set {} {})))",
                expression(prng, 2),
                target(prng),
                expression(prng, 2),
                target(prng),
                expression(prng, 2)
            );
        }
        4 => {
            let _ = write!(
                out,
                "(local.set {counter} (i32.const {})) (loop $again (local.set {} {}) \
                 (br_if $again (local.tee {counter} (i32.sub (local.get {counter}) (i32.const 1)))))",
                1 + prng.below(8),
                target(prng),
                expression(prng, 2)
            );
        }
        5 if index > 0 => {
            let _ = write!(
                out,
                "(local.set {} (call $f{} {} {}))",
                target(prng),
                prng.below(index),
                expression(prng, 1),
                expression(prng, 1)
            );
        }
        _ => {
            let _ = write!(
                out,
                "(block $c (block $b (block $a (br_table $a $b $c (i32.and {} (i32.const 3))))\
                 (local.set {} {})) (local.set {} {}))",
                local(prng),
                target(prng),
                expression(prng, 1),
                target(prng),
                expression(prng, 1)
            );
        }
    }
}

/// The module as WAT text: one page of memory, [`FUNCTIONS`] functions `(i32, i32) -> i32`
/// (each may call earlier ones), the last few exported as `f<index>`. It is compiled and
/// linked, never run.
pub fn generated_module_wat() -> String {
    let mut prng = Prng(SEED);
    let mut out = String::from("(module (memory (export \"memory\") 1)\n");
    for index in 0..FUNCTIONS {
        let _ = writeln!(
            out,
            "(func $f{index} (param i32 i32) (result i32) (local{})",
            " i32".repeat(LOCALS)
        );
        for _ in 0..STATEMENTS {
            statement(&mut prng, index, &mut out);
            out.push('\n');
        }
        out.push_str("(i32.xor (local.get 2) (i32.xor (local.get 3) (local.get 4))))\n");
    }
    for index in FUNCTIONS.saturating_sub(4)..FUNCTIONS {
        let _ = writeln!(out, "(export \"f{index}\" (func $f{index}))");
    }
    out.push(')');
    out
}
