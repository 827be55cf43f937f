//! The oracle: a program run in `wasmi` 0.51 (the harness's reference interpreter; 2.0
//! miscompiles `select` on `eqz` conditions, see the workspace `Cargo.toml`).

use plugin_format::message::Value;
use plugin_format::trap::TrapKind;
use wasmi_oracle as wasmi;

use crate::generator::Call;
use crate::observation::{CallOutcome, Observation};

/// The trap kind of a wasmi error, or the error's text when it is not a wasm trap.
fn trap_kind(error: &wasmi::Error) -> Result<TrapKind, String> {
    use wasmi::TrapCode;
    Ok(match error.as_trap_code() {
        Some(TrapCode::UnreachableCodeReached) => TrapKind::Unreachable,
        Some(TrapCode::MemoryOutOfBounds) => TrapKind::OutOfBounds,
        Some(TrapCode::TableOutOfBounds) => TrapKind::IndirectCallOutOfRange,
        Some(TrapCode::IndirectCallToNull) => TrapKind::IndirectCallNull,
        Some(TrapCode::IntegerDivisionByZero) => TrapKind::IntegerDivideByZero,
        Some(TrapCode::IntegerOverflow) => TrapKind::IntegerOverflow,
        Some(TrapCode::StackOverflow) => TrapKind::StackExhausted,
        Some(TrapCode::BadSignature) => TrapKind::IndirectCallSignature,
        _ => return Err(format!("wasmi failed without a wasm trap: {error}")),
    })
}

fn to_val(value: &Value) -> wasmi::Val {
    match *value {
        Value::I32(value) => wasmi::Val::I32(value),
        Value::I64(value) => wasmi::Val::I64(value),
        Value::F32(bits) => wasmi::Val::F32(wasmi::core::F32::from_bits(bits)),
        Value::F64(bits) => wasmi::Val::F64(wasmi::core::F64::from_bits(bits)),
    }
}

fn from_val(value: &wasmi::Val) -> Result<Value, String> {
    Ok(match value {
        wasmi::Val::I32(value) => Value::I32(*value),
        wasmi::Val::I64(value) => Value::I64(*value),
        wasmi::Val::F32(value) => Value::F32(value.to_bits()),
        wasmi::Val::F64(value) => Value::F64(value.to_bits()),
        other => return Err(format!("a reference value {other:?} crossed the boundary")),
    })
}

/// Runs `calls` in order on one wasmi instance of `wasm`. Err: wasmi refused the module or
/// failed other than by a trap (the program, not the JIT, is then at fault).
pub fn run(wasm: &[u8], calls: &[Call]) -> Result<Observation, String> {
    let engine = wasmi::Engine::default();
    let module =
        wasmi::Module::new(&engine, wasm).map_err(|error| format!("wasmi refused: {error}"))?;
    let mut store = wasmi::Store::new(&engine, ());
    let linker = wasmi::Linker::<()>::new(&engine);
    let mut observation = Observation::default();
    let instance = match linker.instantiate_and_start(&mut store, &module) {
        Ok(instance) => instance,
        Err(error) => {
            observation.start = Some(trap_kind(&error)?);
            return Ok(observation);
        }
    };
    for call in calls {
        let func = instance
            .get_func(&store, &call.export)
            .ok_or_else(|| format!("no export `{}`", call.export))?;
        let params: Vec<wasmi::Val> = call.args.iter().map(to_val).collect();
        let results_len = func.ty(&store).results().len();
        let mut results = vec![wasmi::Val::I32(0); results_len];
        let outcome = match func.call(&mut store, &params, &mut results) {
            Ok(()) => CallOutcome::Returned(
                results
                    .iter()
                    .map(from_val)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Err(error) => CallOutcome::Trapped(trap_kind(&error)?),
        };
        observation.calls.push(outcome);
    }
    observation.memory = instance
        .get_memory(&store, "memory")
        .map(|memory| memory.data(&store).to_vec());
    let mut index = 0;
    while let Some(global) = instance.get_global(&store, &format!("g{index}")) {
        observation.globals.push(from_val(&global.get(&store))?);
        index += 1;
    }
    Ok(observation)
}
