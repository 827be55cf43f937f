//! What the runner needs from the thing that runs the modules ([`Engine`]), and the runner's
//! engine-neutral vocabulary for what went wrong: a [`Trap`], a [`Refusal`] with its
//! [`RefusalKind`], an [`EngineError`]. Each engine translates its own errors into these once,
//! so the script logic and the message matching exist once, in the runner.

use std::fmt;

use plugin_format::message::Value;
use plugin_format::symbols::{self, LinkError};
use plugin_format::trap::{TrapKind, TrapRecord};

/// An engine: loads modules, calls their exports, reads their exported globals.
///
/// Module ids are the engine's; names passed to [`Engine::load`] are unique among the loaded
/// modules.
pub trait Engine {
    /// Loads (validates, compiles, links, instantiates) `wasm` as a module named `name`.
    fn load(&mut self, name: &str, wasm: &[u8]) -> Result<u32, EngineError>;

    /// Calls `export` of `module`: its results, or the trap that ended the call.
    fn invoke(
        &mut self,
        module: u32,
        export: &str,
        args: &[Value],
    ) -> Result<Result<Vec<Value>, Trap>, EngineError>;

    /// The current value of the global `module` exports as `name`.
    fn global(&mut self, module: u32, name: &str) -> Result<Value, EngineError>;

    /// Unloads `module`.
    fn unload(&mut self, module: u32) -> Result<(), EngineError>;

    /// Whether modules can import what other modules export ([`Engine::register`]). kplug
    /// plugins cannot: each is its own protection domain.
    fn links_modules(&self) -> bool {
        false
    }

    /// Makes the exports of `module` importable as `name` by modules loaded later. Only called
    /// when [`Engine::links_modules`].
    fn register(&mut self, module: u32, name: &str) -> Result<(), EngineError> {
        let _ = (module, name);
        Err(EngineError::Failed(
            "this engine does not link modules to each other".into(),
        ))
    }
}

/// A trap, as the runner compares it with a script's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// kplug's trap kind, when the engine's trap is one.
    pub kind: Option<TrapKind>,
    /// The engine's words for it (for kplug's kinds, [`TrapKind::message`]: the spec's).
    pub message: String,
    /// The wasm function it happened in, when known.
    pub function: Option<u32>,
    /// The byte offset in the module of the operator that trapped, when known.
    pub offset: Option<u32>,
}

impl From<&TrapRecord> for Trap {
    fn from(record: &TrapRecord) -> Trap {
        Trap {
            kind: Some(record.kind),
            message: record.kind.message().to_owned(),
            function: record.function,
            offset: record.offset,
        }
    }
}

impl Trap {
    /// A trap known only by its words.
    pub fn from_message(kind: Option<TrapKind>, message: impl Into<String>) -> Trap {
        Trap {
            kind,
            message: message.into(),
            function: None,
            offset: None,
        }
    }
}

impl fmt::Display for Trap {
    /// `integer divide by zero (function 3, offset 0x1a2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut details = Vec::new();
        if let Some(function) = self.function {
            details.push(format!("function {function}"));
        }
        if let Some(offset) = self.offset {
            details.push(format!("offset {offset:#x}"));
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

/// What kind of refusal an engine gave, in the spec's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalKind {
    /// The module is not valid (or does not decode).
    Invalid,
    /// The engine does not support this (an operator, a feature, a value type): a skip.
    Unsupported(String),
    /// An import did not link; the spec's words: `unknown import` or `incompatible import type`.
    Link(&'static str),
    /// Instantiation failed the way the spec calls a trap (the start function trapped, a data
    /// or element segment does not fit): this trap.
    Instantiation(Trap),
    /// Anything else: no such export, wrong arguments, a resource limit, an internal error.
    Other,
}

/// An engine's refusal: its kind, and the engine's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// The engine's message.
    pub message: String,
}

impl Refusal {
    /// A refusal of `kind` saying `message`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Refusal {
        Refusal {
            kind,
            message: message.into(),
        }
    }
}

/// Why an engine request did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The engine refused, for a reason it could tell (the module is invalid, an import does
    /// not link, a feature is unsupported, the export does not exist, ...). The engine is fine.
    Refused(Refusal),
    /// The request failed in another way, but the engine still answers.
    Failed(String),
    /// The engine stopped answering (the link timed out or closed): the script cannot go on.
    Broken(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Refused(refusal) => f.write_str(&refusal.message),
            EngineError::Failed(message) | EngineError::Broken(message) => f.write_str(message),
        }
    }
}

/// The spec's words for a link error of the firmware symbol table: `unknown import` for a name
/// the table lacks, `incompatible import type` for one it has with another type or kind.
pub fn link_words(error: &LinkError) -> &'static str {
    match error {
        LinkError::UnknownImport { .. } => "unknown import",
        LinkError::SignatureMismatch { .. } => "incompatible import type",
        LinkError::UnsupportedImportKind { module, name } => import_words(module, name),
    }
}

/// The spec's words for an import `module.name` the symbol table cannot provide as what it
/// is: `incompatible import type` if the table has the name, `unknown import` if not.
pub fn import_words(module: &str, name: &str) -> &'static str {
    if symbols::lookup(module, name).is_some() {
        "incompatible import type"
    } else {
        "unknown import"
    }
}
