//! Compile time against module size for adversarial shapes (issue 8): each shape is generated
//! at several sizes and compiled (validation and code generation, hardware mode), and time and
//! MB/s are reported per shape and size, with the growth exponent between the smallest and the
//! largest size that compiled (1 is linear, 2 quadratic), so a quadratic path in the compiler
//! shows as a falling MB/s and an exponent near 2.
//!
//! | shape | what the module holds (one function unless said) |
//! | --- | --- |
//! | `tee_chain` | `local.get 0; local.tee 1` repeated, every value left on the operand stack, then folded by `i32.add` |
//! | `deep_stack` | `local.get 0; i32.const k; i32.xor` repeated (an operand stack of computed values as deep as the module is long), then folded by `i32.add` |
//! | `many_locals` | as many locals as the size allows, each set from the previous one |
//! | `many_functions` | as many small functions as the size allows, each calling the previous one |
//! | `huge_br_table` | one `br_table` with as many entries as the size allows, over 16 nested blocks |
//!
//! A shape stops growing once one of its compiles takes longer than [`SLOW_COMPILE`]; the larger
//! sizes are reported as skipped, with why. A size the compiler refuses (a limit of the
//! firmware, say) is reported with the compiler's error: it is a figure too.

use super::BenchError;
use super::measure::{Clock, Summary, round};
use super::wat_module;
use kplug_core::{CompileOptions, Isolation, compile};
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Duration;

/// Target sizes of the generated modules, wasm bytes.
pub const SIZES: [usize; 4] = [4 << 10, 16 << 10, 64 << 10, 256 << 10];
/// The sizes of a quick run.
pub const QUICK_SIZES: [usize; 2] = [1 << 10, 4 << 10];
/// A compile slower than this ends its shape's growth.
pub const SLOW_COMPILE: Duration = Duration::from_secs(3);
/// At most this many compiles per size (fewer when each is slow).
const MAX_REPETITIONS: usize = 5;
/// Compiles of one size stop after this much time in total (at least one runs).
const SIZE_BUDGET: Duration = Duration::from_millis(500);

/// One adversarial shape: its name, what it is, and its generator (the WAT of a module with
/// `units` repetitions of the shape's unit).
pub struct Shape {
    /// The name in reports.
    pub name: &'static str,
    /// What the module holds, for people.
    pub description: &'static str,
    /// The module's text for `units` units.
    pub generate: fn(usize) -> String,
}

/// The shapes, in the order they are measured and reported.
pub const SHAPES: [Shape; 5] = [
    Shape {
        name: "tee_chain",
        description: "local.tee after local.get, every value left on the stack",
        generate: tee_chain,
    },
    Shape {
        name: "deep_stack",
        description: "computed values pushed as deep as the module is long, then added up",
        generate: deep_stack,
    },
    Shape {
        name: "many_locals",
        description: "one function with as many locals as fit, each set from the previous",
        generate: many_locals,
    },
    Shape {
        name: "many_functions",
        description: "as many small functions as fit, each calling the previous",
        generate: many_functions,
    },
    Shape {
        name: "huge_br_table",
        description: "one br_table with as many entries as fit, over 16 blocks",
        generate: huge_br_table,
    },
];

/// `count` `i32.add`s folding the stack (after `count + 1` values were pushed).
fn fold_adds(out: &mut String, count: usize) {
    for _ in 0..count {
        out.push_str("i32.add\n");
    }
}

fn tee_chain(units: usize) -> String {
    let units = units.max(1);
    let mut out =
        String::from("(module (func (export \"f\") (param i32) (result i32) (local i32)\n");
    for _ in 0..units {
        out.push_str("local.get 0 local.tee 1\n");
    }
    fold_adds(&mut out, units - 1);
    out.push_str("))");
    out
}

fn deep_stack(units: usize) -> String {
    let units = units.max(1);
    let mut out = String::from("(module (func (export \"f\") (param i32) (result i32)\n");
    for unit in 0..units {
        let _ = writeln!(out, "local.get 0 i32.const {} i32.xor", unit % 64);
    }
    fold_adds(&mut out, units - 1);
    out.push_str("))");
    out
}

fn many_locals(units: usize) -> String {
    let units = units.max(1);
    let mut out = format!(
        "(module (func (export \"f\") (param i32) (result i32) (local {})\n",
        " i32".repeat(units)
    );
    for local in 1..=units {
        let _ = writeln!(
            out,
            "(local.set {local} (i32.add (local.get {}) (i32.const 1)))",
            local - 1
        );
    }
    let _ = write!(out, "local.get {units}))");
    out
}

fn many_functions(units: usize) -> String {
    let units = units.max(1);
    let mut out = String::from(
        "(module (func $f0 (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))\n",
    );
    for function in 1..units {
        let _ = writeln!(
            out,
            "(func $f{function} (param i32) (result i32) \
             (i32.xor (call $f{} (local.get 0)) (i32.const {function})))",
            function - 1
        );
    }
    let _ = write!(out, "(export \"f\" (func $f{})))", units - 1);
    out
}

fn huge_br_table(units: usize) -> String {
    /// Nested blocks the table's entries choose from.
    const BLOCKS: usize = 16;
    let mut out = String::from("(module (func (export \"f\") (param i32) (result i32)\n");
    for _ in 0..BLOCKS {
        out.push_str("(block\n");
    }
    out.push_str("(br_table");
    for entry in 0..units.max(1) {
        let _ = write!(out, " {}", (entry * 7) % BLOCKS);
    }
    out.push_str(" 0 (local.get 0))\n");
    for block in 0..BLOCKS {
        let _ = writeln!(
            out,
            ") (local.set 0 (i32.add (local.get 0) (i32.const {block})))"
        );
    }
    out.push_str("(local.get 0)))");
    out
}

/// The module of `shape` closest to `target` bytes: the unit count is scaled from a probe.
pub fn module_of_size(shape: &Shape, target: usize) -> Result<Vec<u8>, BenchError> {
    const PROBE_UNITS: usize = 256;
    let probe = wat_module(shape.name, &(shape.generate)(PROBE_UNITS))?;
    let base = wat_module(shape.name, &(shape.generate)(1))?;
    let per_unit = (probe.len().saturating_sub(base.len()) as f64 / (PROBE_UNITS - 1) as f64)
        .max(f64::MIN_POSITIVE);
    let units = ((target.saturating_sub(base.len())) as f64 / per_unit).round() as usize;
    wat_module(shape.name, &(shape.generate)(units.max(1)))
}

/// One shape at one size.
enum Cell {
    /// Compiled: wasm bytes, code bytes, compile cycles.
    Compiled {
        wasm_bytes: usize,
        code_bytes: u32,
        cycles: Summary,
    },
    /// The compiler refused it.
    Refused { wasm_bytes: usize, error: String },
    /// Not compiled: a smaller size was already too slow.
    Skipped { target_bytes: usize, reason: String },
}

/// Measures every shape at `sizes` and returns the report's `compile_scaling` list.
pub fn measure(clock: &Clock, sizes: &[usize]) -> Result<Value, BenchError> {
    let options = CompileOptions::new(Isolation::Hardware);
    let mut shapes = Vec::with_capacity(SHAPES.len());
    for shape in &SHAPES {
        let mut cells = Vec::with_capacity(sizes.len());
        let mut too_slow: Option<String> = None;
        for &target in sizes {
            if let Some(reason) = &too_slow {
                cells.push(Cell::Skipped {
                    target_bytes: target,
                    reason: reason.clone(),
                });
                continue;
            }
            let wasm = module_of_size(shape, target)?;
            let mut samples = Vec::new();
            let mut spent = Duration::ZERO;
            let mut outcome = None;
            while samples.len() < MAX_REPETITIONS && (samples.is_empty() || spent < SIZE_BUDGET) {
                let mut result = None;
                let cycles = clock.time(|| result = Some(compile(&wasm, &options)));
                spent += Duration::from_secs_f64(cycles as f64 / clock.hz);
                samples.push(cycles);
                outcome = result;
                if spent > SLOW_COMPILE {
                    break;
                }
            }
            match outcome {
                Some(Ok(compiled)) => {
                    let cycles = Summary::of_cycles(&samples);
                    let seconds = cycles.median / clock.hz;
                    if seconds > SLOW_COMPILE.as_secs_f64() {
                        too_slow =
                            Some(format!("{} bytes already took {seconds:.1} s", wasm.len()));
                    }
                    cells.push(Cell::Compiled {
                        wasm_bytes: wasm.len(),
                        code_bytes: compiled.stats.code_bytes,
                        cycles,
                    });
                }
                Some(Err(error)) => cells.push(Cell::Refused {
                    wasm_bytes: wasm.len(),
                    error: error.to_string(),
                }),
                None => unreachable!("at least one compile runs"),
            }
        }
        shapes.push(shape_json(shape, &cells, clock));
    }
    Ok(Value::Array(shapes))
}

/// A shape's entry: its cells and the growth exponent.
fn shape_json(shape: &Shape, cells: &[Cell], clock: &Clock) -> Value {
    let sizes: Vec<Value> = cells
        .iter()
        .map(|cell| match cell {
            Cell::Compiled {
                wasm_bytes,
                code_bytes,
                cycles,
            } => {
                let seconds = cycles.median / clock.hz;
                json!({
                    "wasm_bytes": wasm_bytes,
                    "code_bytes": code_bytes,
                    "codegen_us": cycles.map(|cycles| clock.micros(cycles)).json(),
                    "bytes_per_sec": (*wasm_bytes as f64 / seconds).round(),
                })
            }
            Cell::Refused { wasm_bytes, error } => {
                json!({"wasm_bytes": wasm_bytes, "refused": error})
            }
            Cell::Skipped {
                target_bytes,
                reason,
            } => json!({"wasm_bytes": target_bytes, "skipped": reason}),
        })
        .collect();
    let compiled: Vec<(f64, f64)> = cells
        .iter()
        .filter_map(|cell| match cell {
            Cell::Compiled {
                wasm_bytes, cycles, ..
            } => Some((*wasm_bytes as f64, cycles.median)),
            _ => None,
        })
        .collect();
    let growth = match (compiled.first(), compiled.last()) {
        (Some(&(small_bytes, small_time)), Some(&(large_bytes, large_time)))
            if large_bytes > small_bytes && small_time > 0.0 =>
        {
            json!(round(
                (large_time / small_time).ln() / (large_bytes / small_bytes).ln()
            ))
        }
        _ => Value::Null,
    };
    json!({
        "shape": shape.name,
        "description": shape.description,
        "sizes": sizes,
        "growth_exponent": growth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape's generator makes a valid module (the reference engine instantiates it) near
    /// the size asked for, and the module grows with the size.
    #[test]
    fn shapes_hit_their_sizes() {
        for shape in &SHAPES {
            let small = module_of_size(shape, 4 << 10).expect("assembles");
            let large = module_of_size(shape, 16 << 10).expect("assembles");
            for module in [&small, &large] {
                kplug_reference::Reference::new(None)
                    .instantiate(module)
                    .unwrap_or_else(|error| panic!("{}: invalid module: {error:?}", shape.name));
            }
            assert!(
                (3 << 10..6 << 10).contains(&small.len()),
                "{}: {} bytes for 4 KiB",
                shape.name,
                small.len()
            );
            assert!(large.len() > 3 * small.len(), "{}", shape.name);
        }
    }
}
