//! The `kplug-silicon` command line: `run` (one call). `link` (the host-link protocol on
//! stdin/stdout, what `kplug --local` uses) is in `crate::link`.

use crate::Silicon;
use crate::host::{HarnessHost, Output};
use kplug_core::compiler::CompileOptions;
use kplug_core::table::PluginTable;
use kplug_core::{Isolation, Outcome};
use plugin_format::message::Value as WasmValue;
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapRecord;
use serde_json::{Value, json};

/// Usage text.
pub const USAGE: &str = "usage:
  kplug-silicon run [--isolation hardware|software] [--naive] [--memory PAGES] [--stack BYTES]
                    [--budget-us US] [--json] FILE.wasm|FILE.wat EXPORT [ARGS...]
  kplug-silicon link [--isolation hardware|software] [--listen PATH]
                             the kplug host-link protocol on stdin/stdout (what `kplug --local` uses),
                             or on a Unix socket, host after host (`kplug board up --emulator silicon`)";

/// A trap record as JSON.
pub fn trap_json(trap: &TrapRecord) -> Value {
    json!({
        "kind": trap.kind.message(),
        "code": trap.kind.as_u32(),
        "function": trap.function,
        "offset": trap.offset,
        "vector": trap.vector,
        "error_code": trap.error_code,
        "eip": trap.eip,
        "text": trap.to_string(),
    })
}

fn parse_isolation(text: &str) -> Result<Isolation, String> {
    match text {
        "hardware" => Ok(Isolation::Hardware),
        "software" => Ok(Isolation::Software),
        other => Err(format!(
            "unknown isolation `{other}` (hardware or software)"
        )),
    }
}

/// Parses `link`'s arguments: the isolation mode (default hardware) and the socket to listen
/// on, if any.
pub fn parse_link(args: &[String]) -> Result<(Isolation, Option<std::path::PathBuf>), String> {
    let mut isolation = Isolation::Hardware;
    let mut listen = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--isolation" => isolation = parse_isolation(&value()?)?,
            "--listen" => listen = Some(value()?.into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((isolation, listen))
}

/// Parses an `i32` argument (decimal, negative, or `0x` hex; u32 values wrap).
pub fn parse_i32(text: &str) -> Option<i32> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).ok().map(|v| v as i32);
    }
    text.parse::<i32>()
        .ok()
        .or_else(|| text.parse::<u32>().ok().map(|v| v as i32))
}

/// Reads a `.wasm` or `.wat` file.
pub fn read_module(path: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{path}: {error}"))?;
    if bytes.starts_with(b"\0asm") {
        Ok(bytes)
    } else {
        wat::parse_bytes(&bytes)
            .map(|cow| cow.into_owned())
            .map_err(|error| format!("{path}: {error}"))
    }
}

/// `kplug-silicon run ...`; returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let mut isolation = Isolation::Hardware;
    let mut naive = false;
    let mut json_output = false;
    let mut limits = Limits::default();
    let mut positional = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let parsed: Result<(), String> = match arg.as_str() {
            "--isolation" => {
                value("--isolation").and_then(|v| parse_isolation(&v).map(|i| isolation = i))
            }
            "--naive" => {
                naive = true;
                Ok(())
            }
            "--json" => {
                json_output = true;
                Ok(())
            }
            "--memory" => value("--memory").and_then(|v| {
                v.parse()
                    .map(|p| limits.max_memory_pages = p)
                    .map_err(|_| "bad --memory".into())
            }),
            "--stack" => value("--stack").and_then(|v| {
                v.parse()
                    .map(|p| limits.stack_bytes = p)
                    .map_err(|_| "bad --stack".into())
            }),
            "--budget-us" => value("--budget-us").and_then(|v| {
                v.parse()
                    .map(|p| limits.budget_us = p)
                    .map_err(|_| "bad --budget-us".into())
            }),
            _ if positional.len() < 2 && arg.starts_with("--") => {
                Err(format!("unknown option {arg}"))
            }
            _ => {
                positional.push(arg.clone());
                Ok(())
            }
        };
        if let Err(error) = parsed {
            eprintln!("error: {error}\n{USAGE}");
            return 2;
        }
    }
    if positional.len() < 2 {
        eprintln!("{USAGE}");
        return 2;
    }
    let module = match read_module(&positional[0]) {
        Ok(module) => module,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let export = &positional[1];
    let mut call_args = Vec::new();
    for (index, text) in positional[2..].iter().enumerate() {
        match parse_i32(text) {
            Some(value) => call_args.push(WasmValue::I32(value)),
            None => {
                eprintln!("error: argument {index} (`{text}`) is not an i32");
                return 2;
            }
        }
    }
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Print);
    let mut table = PluginTable::new(1);
    let mut options = CompileOptions::new(isolation);
    options.naive = naive;
    // `--budget-us 0` runs without a budget here: this is the user's own process.
    let checked = if limits.budget_us == 0 {
        limits.check_without_budget()
    } else {
        limits.check()
    };
    let limits = match checked {
        Ok(limits) => limits,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let id = match table.load(
        &mut platform,
        &mut host,
        &positional[0],
        &module,
        limits,
        &options,
    ) {
        Ok(id) => id,
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let outcome = table.invoke(&mut platform, &mut host, id, export, &call_args);
    let code = match outcome {
        Ok(Outcome::Returned(values)) => {
            let results: Vec<Value> = values
                .iter()
                .map(|value| match *value {
                    WasmValue::I32(value) => json!(value),
                    WasmValue::I64(value) => json!(value),
                    other => json!(format!("{other:?}")),
                })
                .collect();
            if json_output {
                println!("{}", json!({ "results": results }));
            } else {
                for value in results {
                    println!("{value}");
                }
            }
            0
        }
        Ok(Outcome::Trapped(trap)) => {
            if json_output {
                println!("{}", json!({ "trap": trap_json(&trap) }));
            } else {
                println!("trap: {trap}");
            }
            1
        }
        Err(error) => {
            eprintln!("error: {error}");
            2
        }
    };
    let _ = table.unload(&mut platform, id);
    code
}
