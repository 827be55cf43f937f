//! A program run through kplug's JIT in the silicon harness: compiled for one isolation mode,
//! installed in real LDT segments, called at CPL 3 (i686 Linux only).

use kplug_core::{CompileOptions, Isolation, LoadError, Outcome, Plugin, compile};
use kplug_silicon::Silicon;
use kplug_silicon::host::{HarnessHost, Output};
use plugin_format::message::Value;
use plugin_format::plugin::Limits;

use crate::generator::{Call, NAN_RULE_EXPORT};
use crate::observation::{CallOutcome, Observation, comparable};

/// The limits programs run under: the generator's memories have at most 4 pages; its call depth
/// is bounded, so 256 KiB of stack is never exhausted; a generous budget (the fuel bounds the
/// work, the budget only guards against a JIT bug that loops; within the board's maximum).
pub fn limits() -> Limits {
    Limits {
        max_memory_pages: 4,
        stack_bytes: 256 * 1024,
        budget_us: 2_000_000,
    }
}

/// One invocation through the core's API (typed arguments and results).
fn invoke(
    plugin: &mut Plugin<Silicon>,
    platform: &mut Silicon,
    host: &mut HarnessHost,
    call: &Call,
) -> Result<CallOutcome, String> {
    let outcome = plugin
        .invoke(platform, host, &call.export, &call.args)
        .map_err(|error| format!("invoke {}: {error}", call.export))?;
    Ok(match outcome {
        Outcome::Returned(values) => {
            CallOutcome::Returned(values.into_iter().map(comparable).collect())
        }
        Outcome::Trapped(record) => CallOutcome::Trapped(record.kind),
    })
}

/// Runs `calls` in order on one instance of `wasm` compiled for `isolation`. Err: the JIT
/// refused or failed to load a module the oracle accepted (a finding in itself).
pub fn run(wasm: &[u8], isolation: Isolation, calls: &[Call]) -> Result<Observation, String> {
    let module = compile(wasm, &CompileOptions::new(isolation))
        .map_err(|error| format!("the JIT refused the module: {error}"))?;
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let limits = limits()
        .check()
        .map_err(|error| format!("limits: {error}"))?;
    let mut plugin = Plugin::install(&mut platform, module, limits)
        .map_err(|error| format!("install: {error}"))?;
    let result = observe(&mut plugin, &mut platform, &mut host, calls);
    plugin.uninstall(&mut platform);
    result
}

fn observe(
    plugin: &mut Plugin<Silicon>,
    platform: &mut Silicon,
    host: &mut HarnessHost,
    calls: &[Call],
) -> Result<Observation, String> {
    plugin
        .link(platform)
        .map_err(|error| format!("link: {error}"))?;
    let mut observation = Observation::default();
    match plugin.start(platform, host) {
        Ok(()) => {}
        Err(LoadError::StartTrapped(record)) => {
            observation.start = Some(record.kind);
            return Ok(observation);
        }
        Err(error) => return Err(format!("start: {error}")),
    }
    for call in calls {
        observation
            .calls
            .push(invoke(plugin, platform, host, call)?);
    }
    observation.memory = plugin
        .module()
        .memory
        .and_then(|_| plugin.read_memory(0, plugin.memory_bytes()));
    let mut index = 0;
    // The exported globals by name, as the oracle reads them.
    while let Some(value) = plugin
        .module()
        .global_export(&format!("g{index}"))
        .and_then(|global| plugin.global_value(global))
    {
        observation.globals.push(comparable(value));
        index += 1;
    }
    observation.nan_rule = match plugin
        .module()
        .global_export(NAN_RULE_EXPORT)
        .and_then(|global| plugin.global_value(global))
    {
        Some(Value::I32(count)) => Some(count),
        _ => None,
    };
    Ok(observation)
}
