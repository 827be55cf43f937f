//! [`ReferenceEngine`]: the reference interpreter (`kplug-reference`, wasmi 0.51 with the
//! firmware symbol table stubbed) as an [`Engine`]. It links registered modules to each other,
//! as the spec does, so `kplug wast --reference` checks a script itself, and the runner's own
//! tests run the official suite through it.

use kplug_reference::{Failure, Reference};
use plugin_format::message::Value;

use super::engine::{Engine, EngineError, Refusal, RefusalKind, Trap, link_words};

/// Fuel per call and per instantiation: far more than any script needs, and a bound on a
/// script that loops forever.
pub const REFERENCE_FUEL: u64 = 20_000_000_000;

/// The reference interpreter as an [`Engine`].
pub struct ReferenceEngine {
    reference: Reference,
}

impl Default for ReferenceEngine {
    fn default() -> Self {
        ReferenceEngine::new()
    }
}

impl ReferenceEngine {
    /// A fresh interpreter, with [`REFERENCE_FUEL`] per call.
    pub fn new() -> ReferenceEngine {
        ReferenceEngine {
            reference: Reference::new(Some(REFERENCE_FUEL)),
        }
    }

    /// The interpreter (its stub board, its memories).
    pub fn reference(&mut self) -> &mut Reference {
        &mut self.reference
    }
}

/// The runner's trap for the interpreter's.
fn trap(trap: kplug_reference::Trap) -> Trap {
    Trap::from_message(trap.kind, trap.message)
}

/// A failure to load a module as the runner's refusal.
fn load_refusal(failure: Failure) -> EngineError {
    let message = failure.to_string();
    EngineError::Refused(Refusal::new(
        match failure {
            Failure::Invalid(_) => RefusalKind::Invalid,
            Failure::Link(error) => RefusalKind::Link(link_words(&error)),
            Failure::Trap(stopped) => RefusalKind::Instantiation(trap(stopped)),
            Failure::Instantiation(why) => {
                RefusalKind::Instantiation(Trap::from_message(None, why))
            }
            Failure::Call(_) => RefusalKind::Other,
        },
        message,
    ))
}

/// A failure of a request on a loaded module as the runner's error.
fn request_refusal(failure: Failure) -> EngineError {
    let message = failure.to_string();
    EngineError::Refused(Refusal::new(RefusalKind::Other, message))
}

impl Engine for ReferenceEngine {
    fn load(&mut self, _name: &str, wasm: &[u8]) -> Result<u32, EngineError> {
        let instance = self.reference.instantiate(wasm).map_err(load_refusal)?;
        u32::try_from(instance).map_err(|_| EngineError::Failed("too many instances".into()))
    }

    fn invoke(
        &mut self,
        module: u32,
        export: &str,
        args: &[Value],
    ) -> Result<Result<Vec<Value>, Trap>, EngineError> {
        match self.reference.invoke(module as usize, export, args) {
            Ok(values) => Ok(Ok(values)),
            Err(Failure::Trap(stopped)) => Ok(Err(trap(stopped))),
            Err(failure) => Err(request_refusal(failure)),
        }
    }

    fn global(&mut self, module: u32, name: &str) -> Result<Value, EngineError> {
        self.reference
            .global(module as usize, name)
            .map_err(request_refusal)
    }

    fn unload(&mut self, module: u32) -> Result<(), EngineError> {
        self.reference
            .drop_instance(module as usize)
            .map_err(request_refusal)
    }

    fn links_modules(&self) -> bool {
        true
    }

    fn register(&mut self, module: u32, name: &str) -> Result<(), EngineError> {
        self.reference
            .register(module as usize, name)
            .map_err(request_refusal)
    }
}
