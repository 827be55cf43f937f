//! The `kplug-silicon` command line: `run` (one call) and `serve` (JSON lines on stdin/stdout,
//! for `kplug run --local` / `kplug wast --local`).

use crate::Silicon;
use crate::host::{HarnessHost, Output};
use kplug_core::compiler::CompileOptions;
use kplug_core::table::{PluginTable, TableError};
use kplug_core::{Isolation, Outcome};
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapRecord;
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::time::Instant;

/// Plugin slots in `serve`.
const SERVE_SLOTS: usize = 64;

/// Usage text.
pub const USAGE: &str = "usage:
  kplug-silicon run [--isolation hardware|software] [--naive] [--memory PAGES] [--stack BYTES]
                    [--budget-us US] [--json] FILE.wasm|FILE.wat EXPORT [ARGS...]
  kplug-silicon serve        JSON lines on stdin/stdout (see the crate docs)
  kplug-silicon link [--isolation hardware|software]
                             the kplug host-link protocol on stdin/stdout (what `kplug --local` uses)";

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
            Some(value) => call_args.push(value),
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
        Ok(Outcome::Returned(value)) => {
            if json_output {
                println!(
                    "{}",
                    json!({ "results": value.into_iter().collect::<Vec<_>>() })
                );
            } else if let Some(value) = value {
                println!("{value}");
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

/// One `serve` request.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    /// Compile, install, link and start a module.
    Load {
        /// The module (binary wasm), hex.
        module: String,
        /// A name for `stats`.
        #[serde(default)]
        name: String,
        /// `hardware` (default) or `software`.
        #[serde(default)]
        isolation: Option<String>,
        /// Limits (defaults from `plugin_format`).
        #[serde(default)]
        limits: Option<LimitsJson>,
    },
    /// Call an export.
    Invoke {
        id: u32,
        export: String,
        #[serde(default)]
        args: Vec<Value>,
    },
    /// Unlink and free a plugin.
    Unload { id: u32 },
    /// Per-plugin statistics.
    Stats,
}

#[derive(Debug, Deserialize)]
struct LimitsJson {
    max_memory_pages: Option<u32>,
    stack_bytes: Option<u32>,
    budget_us: Option<u32>,
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn error(kind: &str, message: impl ToString) -> Value {
    json!({ "ok": false, "kind": kind, "error": message.to_string() })
}

fn serve_one(
    line: &str,
    platform: &mut Silicon,
    host: &mut HarnessHost,
    table: &mut PluginTable<Silicon>,
) -> Value {
    let request: Request = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(e) => return error("request", e),
    };
    match request {
        Request::Load {
            module,
            name,
            isolation,
            limits,
        } => {
            let Some(bytes) = hex_decode(&module) else {
                return error("request", "module is not hex");
            };
            let isolation = match parse_isolation(isolation.as_deref().unwrap_or("hardware")) {
                Ok(isolation) => isolation,
                Err(e) => return error("request", e),
            };
            let mut plugin_limits = Limits::default();
            if let Some(limits) = limits {
                if let Some(v) = limits.max_memory_pages {
                    plugin_limits.max_memory_pages = v;
                }
                if let Some(v) = limits.stack_bytes {
                    plugin_limits.stack_bytes = v;
                }
                if let Some(v) = limits.budget_us {
                    plugin_limits.budget_us = v;
                }
            }
            let started = Instant::now();
            let options = CompileOptions::new(isolation);
            match table.load(platform, host, &name, &bytes, plugin_limits, &options) {
                Ok(id) => {
                    let entry = table.get(id).expect("just loaded");
                    let module = entry.plugin.module();
                    json!({
                        "ok": true,
                        "id": id,
                        "code_bytes": module.stats.code_bytes,
                        "wasm_code_bytes": module.stats.wasm_code_bytes,
                        "imports": module.imports.iter().map(|i| format!("{}.{}", i.module, i.name)).collect::<Vec<_>>(),
                        "load_us": started.elapsed().as_micros() as u64,
                        "logs": std::mem::take(&mut host.logs),
                    })
                }
                Err(TableError::Compile(e)) => error("compile", e),
                Err(TableError::Load(kplug_core::LoadError::Link(e))) => error("link", e),
                Err(TableError::Load(kplug_core::LoadError::StartTrapped(trap))) => {
                    json!({ "ok": false, "kind": "trap", "error": trap.to_string(), "trap": trap_json(&trap) })
                }
                Err(TableError::Load(e)) => error("load", e),
            }
        }
        Request::Invoke { id, export, args } => {
            let mut values = Vec::new();
            for (index, arg) in args.iter().enumerate() {
                let parsed = match arg {
                    Value::Number(n) => n
                        .as_i64()
                        .filter(|v| *v >= i64::from(i32::MIN) && *v <= i64::from(u32::MAX))
                        .map(|v| v as i32),
                    Value::String(s) => parse_i32(s),
                    _ => None,
                };
                match parsed {
                    Some(value) => values.push(value),
                    None => {
                        return error(
                            "invoke",
                            kplug_core::InvokeError::WrongArgumentType {
                                index: index as u32,
                            },
                        );
                    }
                }
            }
            let result = table.invoke(platform, host, id, &export, &values);
            let logs = std::mem::take(&mut host.logs);
            let emitted = hex_encode(&std::mem::take(&mut host.emitted));
            match result {
                Ok(Outcome::Returned(value)) => json!({
                    "ok": true,
                    "results": value.into_iter().collect::<Vec<_>>(),
                    "logs": logs,
                    "emitted": emitted,
                }),
                Ok(Outcome::Trapped(trap)) => json!({
                    "ok": true,
                    "trap": trap_json(&trap),
                    "logs": logs,
                    "emitted": emitted,
                }),
                Err(e) => error("invoke", e),
            }
        }
        Request::Unload { id } => match table.unload(platform, id) {
            Ok(()) => json!({ "ok": true }),
            Err(e) => error("unload", e),
        },
        Request::Stats => {
            let plugins: Vec<Value> = table
                .iter()
                .map(|(id, entry)| {
                    let stats = &entry.plugin.stats;
                    json!({
                        "id": id,
                        "name": entry.name,
                        "invocations": stats.invocations,
                        "traps": stats.traps,
                        "code_bytes": stats.code_bytes,
                        "memory_bytes": stats.memory_bytes,
                        "last": match &stats.last {
                            Some(Outcome::Returned(v)) => json!({ "results": v.iter().collect::<Vec<_>>() }),
                            Some(Outcome::Trapped(t)) => json!({ "trap": trap_json(t) }),
                            None => Value::Null,
                        },
                    })
                })
                .collect();
            json!({ "ok": true, "plugins": plugins, "ldt_entries": crate::ldt::allocated() })
        }
    }
}

/// `kplug-silicon serve`; returns the exit code.
pub fn serve() -> i32 {
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let mut table = PluginTable::new(SERVE_SLOTS);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let reply = serve_one(&line, &mut platform, &mut host, &mut table);
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    0
}
