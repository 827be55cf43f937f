//! The oracle: a program run in kplug's reference engine (`kplug-reference`, wasmi 0.51 with
//! the firmware symbol table stubbed; the one wrapper around wasmi in the tree).

use kplug_reference::{Failure, Reference};
use plugin_format::message::Value;
use plugin_format::trap::TrapKind;

use crate::generator::{Call, NAN_RULE_EXPORT};
use crate::observation::{CallOutcome, Observation};

/// Fuel (wasmi's instruction units) each call and the start function get in the oracle. A
/// generated program stays far below it (its own `fuel` global bounds it); a candidate of the
/// reducer that lost its fuel decrement runs out here instead of looping forever, and the
/// reducer rejects it.
pub const ORACLE_FUEL: u64 = 200_000_000;

/// The trap kind of a failure, or the failure's text when it is not a trap kplug has a kind
/// for (the program, not the JIT, is then at fault).
fn trap_kind(failure: Failure) -> Result<TrapKind, String> {
    match failure {
        Failure::Trap(trap) => trap
            .kind
            .ok_or_else(|| format!("the reference trapped without a kplug kind: {trap}")),
        other => Err(format!("the reference failed without a trap: {other}")),
    }
}

/// Runs `calls` in order on one reference instance of `wasm`. Err: the reference refused the
/// module or failed other than by a trap.
pub fn run(wasm: &[u8], calls: &[Call]) -> Result<Observation, String> {
    let mut reference = Reference::new(Some(ORACLE_FUEL));
    let mut observation = Observation::default();
    let instance = match reference.instantiate(wasm) {
        Ok(instance) => instance,
        Err(Failure::Instantiation(message)) => {
            return Err(format!("the reference refused to instantiate: {message}"));
        }
        Err(Failure::Invalid(message)) => return Err(format!("the reference refused: {message}")),
        Err(failure) => {
            observation.start = Some(trap_kind(failure)?);
            return Ok(observation);
        }
    };
    for call in calls {
        let outcome = match reference.invoke(instance, &call.export, &call.args) {
            Ok(values) => CallOutcome::Returned(values),
            Err(failure @ Failure::Trap(_)) => CallOutcome::Trapped(trap_kind(failure)?),
            Err(other) => return Err(format!("call `{}`: {other}", call.export)),
        };
        observation.calls.push(outcome);
    }
    observation.memory = reference.memory(instance, "memory").map(<[u8]>::to_vec);
    let mut index = 0;
    while let Ok(value) = reference.global(instance, &format!("g{index}")) {
        observation.globals.push(value);
        index += 1;
    }
    observation.nan_rule = match reference.global(instance, NAN_RULE_EXPORT) {
        Ok(Value::I32(count)) => Some(count),
        _ => None,
    };
    Ok(observation)
}
