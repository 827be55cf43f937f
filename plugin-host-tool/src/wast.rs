//! The WebAssembly script (`.wast`) runner behind `kplug wast`: runs each directive of a script
//! against an [`Engine`] (a board or the silicon harness, through [`LinkEngine`]) and reports
//! one [`Failure`] per directive that did not go as the script says, and a reason per skip.
//!
//! # How directives map onto plugins
//!
//! - `module` uploads the module as a plugin with a unique name (`wast<pid>.<n>`); the module it
//!   replaces as the current one is unloaded first, unless it has a `$name`. Named modules stay
//!   loaded until the end of the file, when everything still loaded is unloaded. A directive
//!   addressed to a module that was skipped is skipped for the same reason; one addressed to a
//!   module that failed to load fails.
//! - `invoke`, `assert_return`, `assert_trap`, `assert_exhaustion` call exports with `i32`
//!   arguments. Values of other types are skipped, naming the type (the firmware compiles the
//!   i32 subset; see [`Engine::supports`]).
//! - `assert_trap` on an invoke matches the script's message against the trap kind's text
//!   ([`TrapKind::message`] uses the spec tests' wording, plus [`TRAP_MESSAGE_ALIASES`]); on a
//!   module it expects the load to fail the way instantiation fails: the start function trapped,
//!   or a data or element segment does not fit ([`INSTANTIATION_MESSAGES`]).
//! - `assert_invalid` and `assert_malformed` pass when the engine refuses the module as
//!   [`PluginErrorKind::Invalid`] (or, for `assert_malformed`, when the text does not even parse
//!   on the host); they fail when it accepts the module.
//! - `assert_unlinkable` passes when the engine refuses a link: the spec's "unknown import" or
//!   "incompatible import type" is derived from the typed [`LinkError`].
//! - Refusals with [`PluginErrorKind::Unsupported`] are skips naming the operator or feature.
//! - `register` records the name; since the firmware links only against its own symbol table,
//!   a later module that imports from a registered name (or from the spec tests' `spectest`) is
//!   skipped with that reason. `get` is skipped: the host-link protocol has no way to read an
//!   exported global. Module definitions and instances, threads, exceptions, stack switching,
//!   components and custom-section assertions are skipped by name.
//!
//! An [`EngineError::Broken`] (the link timed out or closed) stops the file: that directive and
//! every later one fail.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use plugin_format::error::{PluginError, PluginErrorKind, RequestError};
use plugin_format::message::{PluginRef, Value};
use plugin_format::plugin::Limits;
use plugin_format::symbols::{self, LinkError as SymbolLinkError, ValType};
use plugin_format::trap::{TrapKind, TrapRecord};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

use crate::link::{Link, LinkError};
use crate::plugin;
use crate::refusal::Refusal;
use crate::transport::Transport;

/// What the runner needs from the thing that runs the modules.
pub trait Engine {
    /// Loads (validates, compiles, links, instantiates) `wasm` as a plugin named `name`, which
    /// no loaded plugin has; returns its id.
    fn load(&mut self, name: &str, wasm: &[u8]) -> Result<u32, EngineError>;

    /// Calls `export` of plugin `plugin`: its results, or the trap that ended the call.
    fn invoke(
        &mut self,
        plugin: u32,
        export: &str,
        args: &[Value],
    ) -> Result<Result<Vec<Value>, TrapRecord>, EngineError>;

    /// Unloads plugin `plugin`.
    fn unload(&mut self, plugin: u32) -> Result<(), EngineError>;

    /// Whether arguments and results of type `ty` can be passed (the firmware: `i32` only).
    fn supports(&self, ty: ValType) -> bool {
        ty == ValType::I32
    }
}

/// Why an engine request did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The engine refused, with its typed reason (the module is invalid, an import does not
    /// link, the export does not exist, ...). The engine is fine.
    Refused(PluginError),
    /// The request failed in another way, but the engine still answers.
    Failed(String),
    /// The engine stopped answering (the link timed out or closed): the script cannot go on.
    Broken(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Refused(error) => f.write_str(&error.message),
            EngineError::Failed(message) | EngineError::Broken(message) => f.write_str(message),
        }
    }
}

impl From<LinkError> for EngineError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Device(RequestError::Plugin(error)) => EngineError::Refused(error),
            error @ (LinkError::Device(_) | LinkError::UnexpectedReply { .. }) => {
                EngineError::Failed(error.to_string())
            }
            error => EngineError::Broken(error.to_string()),
        }
    }
}

/// An [`Engine`] over a host link: a board, or the silicon harness through
/// [`ChildTransport`](crate::local::ChildTransport). One connection serves every module and
/// call; events (plugin output) are read and dropped.
pub struct LinkEngine<T: Transport = Box<dyn Transport>> {
    /// The link, after its handshake.
    link: Link<T>,
    /// The limits every module is loaded with.
    limits: Limits,
}

impl<T: Transport> LinkEngine<T> {
    /// An engine over `link` (handshake done), loading every module with `limits`.
    pub fn new(link: Link<T>, limits: Limits) -> Self {
        LinkEngine { link, limits }
    }

    /// The link.
    pub fn link_mut(&mut self) -> &mut Link<T> {
        &mut self.link
    }

    /// Gives the link back.
    pub fn into_link(self) -> Link<T> {
        self.link
    }

    /// Drops the events that arrived with the last answer (nothing is outstanding).
    fn discard_events(&mut self) -> Result<(), EngineError> {
        plugin::drain_queued_events(&mut self.link, &mut |_| {}).map_err(EngineError::from)
    }
}

impl<T: Transport> Engine for LinkEngine<T> {
    fn load(&mut self, name: &str, wasm: &[u8]) -> Result<u32, EngineError> {
        let description = plugin::describe_unchecked(name, wasm.to_vec(), self.limits);
        let report = plugin::upload(&mut self.link, description, |_, _| {})?;
        self.discard_events()?;
        Ok(report.id)
    }

    fn invoke(
        &mut self,
        plugin: u32,
        export: &str,
        args: &[Value],
    ) -> Result<Result<Vec<Value>, TrapRecord>, EngineError> {
        let report = plugin::invoke(&mut self.link, PluginRef::Id(plugin), export, args.to_vec())?;
        self.discard_events()?;
        Ok(report.outcome)
    }

    fn unload(&mut self, plugin: u32) -> Result<(), EngineError> {
        plugin::unload(&mut self.link, PluginRef::Id(plugin))?;
        self.discard_events()
    }
}

/// Spec-test trap wordings that differ from [`TrapKind::message`]: (script text, kind).
pub const TRAP_MESSAGE_ALIASES: &[(&str, TrapKind)] = &[
    // Older spec tests.
    (
        "indirect call signature mismatch",
        TrapKind::IndirectCallSignature,
    ),
    // Newer spec tests say this for a call_indirect index past the table.
    (
        "out of bounds table access",
        TrapKind::IndirectCallOutOfRange,
    ),
    ("stack overflow", TrapKind::StackExhausted),
];

/// How the firmware words the instantiation failures that the spec calls traps:
/// (a part of the firmware's message, the spec's trap message). The protocol reports them as
/// [`PluginErrorKind::Invalid`] with this text.
pub const INSTANTIATION_MESSAGES: &[(&str, &str)] = &[
    ("does not fit in memory", "out of bounds memory access"),
    ("does not fit in the table", "out of bounds table access"),
];

/// Whether a trap or failure described by `actual` (the engine's words) says what the script's
/// `expected` says: equal, one containing the other's start (`unreachable` for `unreachable
/// executed`, `uninitialized element` for `uninitialized element 2`).
pub fn message_matches(actual: &str, expected: &str) -> bool {
    !actual.is_empty() && (actual.contains(expected) || expected.starts_with(actual))
}

/// Whether a trap of `kind` is what the script's `expected` message describes.
pub fn trap_matches(kind: TrapKind, expected: &str) -> bool {
    message_matches(kind.message(), expected)
        || TRAP_MESSAGE_ALIASES
            .iter()
            .any(|&(text, alias)| alias == kind && message_matches(text, expected))
}

/// The spec's wording for a load that failed the way instantiation fails, if it did.
pub fn instantiation_failure(error: &PluginError) -> Option<String> {
    match &error.kind {
        PluginErrorKind::StartTrapped(record) => Some(record.kind.message().to_owned()),
        PluginErrorKind::Invalid => INSTANTIATION_MESSAGES
            .iter()
            .find(|(firmware, _)| error.message.contains(firmware))
            .map(|(_, spec)| (*spec).to_owned()),
        _ => None,
    }
}

/// The spec's wording for a module the firmware refused to link, if it refused a link: "unknown
/// import" for a name the symbol table lacks, "incompatible import type" for a name it has with
/// another type or kind. `wasm` is the module, to name a non-function import the compiler
/// refused before linking.
pub fn link_failure(error: &PluginError, wasm: &[u8]) -> Option<&'static str> {
    let spec_words = |module: &str, name: &str| {
        if symbols::lookup(module, name).is_some() {
            "incompatible import type"
        } else {
            "unknown import"
        }
    };
    match &error.kind {
        PluginErrorKind::Link(SymbolLinkError::UnknownImport { .. }) => Some("unknown import"),
        PluginErrorKind::Link(SymbolLinkError::SignatureMismatch { .. }) => {
            Some("incompatible import type")
        }
        PluginErrorKind::Link(SymbolLinkError::UnsupportedImportKind { module, name }) => {
            Some(spec_words(module, name))
        }
        // The compiler refuses an import of a memory, table or global before linking; it is
        // still that import the firmware cannot link.
        PluginErrorKind::Unsupported {
            operator,
            function: None,
            ..
        } => imports(wasm)
            .into_iter()
            .filter(|import| !import.function)
            .find(|import| operator.contains(&format!("`{}.{}`", import.module, import.name)))
            .map(|import| spec_words(&import.module, &import.name)),
        _ => None,
    }
}

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    module: String,
    name: String,
    /// A function import (not a memory, table, global or tag).
    function: bool,
}

/// The imports of `wasm`, as far as it decodes.
fn imports(wasm: &[u8]) -> Vec<Import> {
    let mut found = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                for import in reader.into_imports().flatten() {
                    found.push(Import {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                        function: matches!(
                            import.ty,
                            wasmparser::TypeRef::Func(_) | wasmparser::TypeRef::FuncExact(_)
                        ),
                    });
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    found
}

/// A directive that did not go as the script says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The script, as given.
    pub file: String,
    /// 1-based line of the directive.
    pub line: usize,
    /// Which engine ran it, when a run has several (`hardware`, `software`).
    pub engine: Option<String>,
    /// The directive, shortened: `assert_return (invoke "add" 1 2)`.
    pub directive: String,
    /// What was expected and what happened.
    pub message: String,
}

impl fmt::Display for Failure {
    /// `file:line: [engine] directive: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(engine) = &self.engine {
            write!(f, "[{engine}] ")?;
        }
        write!(f, "{}: {}", self.directive, self.message)
    }
}

/// What a run of one or more scripts did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Directives that went as the script says.
    pub passed: usize,
    /// Directives that did not, in order.
    pub failures: Vec<Failure>,
    /// Skipped directives, counted by reason.
    pub skips: BTreeMap<String, usize>,
}

impl Report {
    /// Directives that failed.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Directives skipped.
    pub fn skipped(&self) -> usize {
        self.skips.values().sum()
    }

    /// Every directive counted.
    pub fn directives(&self) -> usize {
        self.passed + self.failed() + self.skipped()
    }

    /// Adds `other`'s counts, failures and skips to this report.
    pub fn merge(&mut self, other: Report) {
        self.passed += other.passed;
        self.failures.extend(other.failures);
        for (reason, count) in other.skips {
            *self.skips.entry(reason).or_default() += count;
        }
    }

    /// Marks every failure as coming from `engine`.
    pub fn label_engine(&mut self, engine: &str) {
        for failure in &mut self.failures {
            failure.engine = Some(engine.to_owned());
        }
    }

    /// `N passed, M failed, K skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed(),
            self.skipped()
        )
    }

    /// One `skipped N: reason` line per reason, most frequent first.
    pub fn skip_lines(&self) -> Vec<String> {
        let mut reasons: Vec<(&String, &usize)> = self.skips.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        reasons
            .into_iter()
            .map(|(reason, count)| format!("skipped {count}: {reason}"))
            .collect()
    }

    fn record(&mut self, outcome: Outcome, failure: impl FnOnce(String) -> Failure) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed(message) => self.failures.push(failure(message)),
            Outcome::Skipped(reason) => *self.skips.entry(reason).or_default() += 1,
        }
    }
}

/// What one directive did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// The engine stopped answering; the file cannot go on.
#[derive(Debug)]
struct Abort(String);

type Step = Result<Outcome, Abort>;

/// Skip reasons the runner gives (beyond those naming a value type or an unsupported feature).
mod reason {
    pub const GET: &str = "get (the host-link protocol cannot read an exported global)";
    pub const DEFINITIONS: &str = "module definitions and instances";
    pub const COMPONENTS: &str = "components";
    pub const EXCEPTIONS: &str = "exceptions (assert_exception)";
    pub const SUSPENSIONS: &str = "stack switching (assert_suspension)";
    pub const THREADS: &str = "threads";
    pub const CUSTOM: &str = "custom-section assertions";
    pub const OTHER: &str = "directives this runner does not know";
}

/// A module of the script, as the runner tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModuleState {
    /// Loaded as this plugin.
    Loaded(u32),
    /// Not loaded, for this skip reason.
    Skipped(String),
    /// It should have loaded and did not; the directive at this line says why.
    Failed(usize),
}

/// Runs scripts against one engine.
pub struct Runner<'e, E: Engine> {
    engine: &'e mut E,
    /// Prefix of plugin names: unique to this process.
    name_prefix: String,
    /// Modules loaded so far (for unique plugin names).
    loads: u64,
}

impl<'e, E: Engine> Runner<'e, E> {
    /// A runner on `engine`.
    pub fn new(engine: &'e mut E) -> Self {
        Runner {
            engine,
            name_prefix: format!("wast{}", std::process::id()),
            loads: 0,
        }
    }

    /// Reads and runs the script at `path` (named in failures as `path` shows).
    pub fn run_file(&mut self, path: &Path) -> Report {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => self.run_text(&file, &text),
            Err(error) => {
                let mut report = Report::default();
                report.failures.push(Failure {
                    file,
                    line: 0,
                    engine: None,
                    directive: "script".into(),
                    message: format!("cannot read it: {error}"),
                });
                report
            }
        }
    }

    /// Runs the script `text`, naming it `file` in failures.
    pub fn run_text(&mut self, file: &str, text: &str) -> Report {
        let mut report = Report::default();
        let buffer = match ParseBuffer::new(text) {
            Ok(buffer) => buffer,
            Err(error) => {
                report.failures.push(parse_failure(file, text, error));
                return report;
            }
        };
        let script = match parser::parse::<Wast<'_>>(&buffer) {
            Ok(script) => script,
            Err(error) => {
                report.failures.push(parse_failure(file, text, error));
                return report;
            }
        };
        let mut state = ScriptState::default();
        let mut directives = script.directives.into_iter();
        while let Some(directive) = directives.next() {
            let line = directive.span().linecol_in(text).0 + 1;
            let label = label_of(&directive);
            let failure = |message| Failure {
                file: file.to_owned(),
                line,
                engine: None,
                directive: label.clone(),
                message,
            };
            match self.run_directive(&mut state, directive, line) {
                Ok(outcome) => report.record(outcome, failure),
                Err(Abort(why)) => {
                    report
                        .failures
                        .push(failure(format!("the engine stopped answering: {why}")));
                    for directive in directives.by_ref() {
                        let line = directive.span().linecol_in(text).0 + 1;
                        report.failures.push(Failure {
                            file: file.to_owned(),
                            line,
                            engine: None,
                            directive: label_of(&directive),
                            message: "not run: the engine stopped answering earlier".into(),
                        });
                    }
                    return report;
                }
            }
        }
        // Unload what the script left loaded. A failure here is the engine's, not a
        // directive's; it shows up in the next file.
        for plugin in state.loaded() {
            let _ = self.engine.unload(plugin);
        }
        report
    }

    /// A fresh plugin name.
    fn next_name(&mut self) -> String {
        self.loads += 1;
        format!("{}.{}", self.name_prefix, self.loads)
    }

    fn run_directive(
        &mut self,
        state: &mut ScriptState,
        directive: WastDirective<'_>,
        line: usize,
    ) -> Step {
        match directive {
            WastDirective::Module(module) => self.define_module(state, module, line),
            WastDirective::Register { name, module, .. } => Ok(match state.module(module) {
                Ok(_) => {
                    state.registered.push(name.to_owned());
                    Outcome::Passed
                }
                Err(outcome) => outcome,
            }),
            WastDirective::Invoke(invoke) => Ok(match self.call(state, &invoke)? {
                Call::Done(Ok(_)) => Outcome::Passed,
                Call::Done(Err(trap)) => Outcome::Failed(format!("trapped: {}", trap_text(&trap))),
                Call::NotRun(outcome) => outcome,
            }),
            WastDirective::AssertReturn { exec, results, .. } => {
                self.assert_return(state, exec, &results)
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                self.assert_trap(state, exec, message)
            }
            WastDirective::AssertExhaustion { call, message, .. } => {
                Ok(match self.call(state, &call)? {
                    Call::Done(Err(trap))
                        if trap.kind == TrapKind::StackExhausted
                            && trap_matches(trap.kind, message) =>
                    {
                        Outcome::Passed
                    }
                    Call::Done(Err(trap)) => Outcome::Failed(format!(
                        "expected exhaustion \"{message}\", trapped: {}",
                        trap_text(&trap)
                    )),
                    Call::Done(Ok(values)) => Outcome::Failed(format!(
                        "expected exhaustion \"{message}\", returned {}",
                        values_text(&values)
                    )),
                    Call::NotRun(outcome) => outcome,
                })
            }
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => {
                if is_component(&module) {
                    return Ok(Outcome::Skipped(reason::COMPONENTS.into()));
                }
                match module.encode() {
                    Ok(wasm) => self.expect_refusal(&wasm, "an invalid module", message),
                    Err(error) => Ok(Outcome::Failed(format!(
                        "expected an invalid module (\"{message}\"), but its text does not \
                         parse: {}",
                        one_line(&error.to_string())
                    ))),
                }
            }
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                if is_component(&module) {
                    return Ok(Outcome::Skipped(reason::COMPONENTS.into()));
                }
                match module.encode() {
                    // The text format is decoded on the host: malformed text never reaches the
                    // engine, as the script says.
                    Err(_) => Ok(Outcome::Passed),
                    Ok(wasm) => self.expect_refusal(&wasm, "a malformed module", message),
                }
            }
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => {
                if matches!(module, Wat::Component(_)) {
                    return Ok(Outcome::Skipped(reason::COMPONENTS.into()));
                }
                match module.encode() {
                    Ok(wasm) => self.assert_unlinkable(state, &wasm, message),
                    Err(error) => Ok(Outcome::Failed(format!(
                        "the module's text does not parse: {}",
                        one_line(&error.to_string())
                    ))),
                }
            }
            WastDirective::ModuleDefinition(_) | WastDirective::ModuleInstance { .. } => {
                Ok(Outcome::Skipped(reason::DEFINITIONS.into()))
            }
            WastDirective::AssertException { .. } => {
                Ok(Outcome::Skipped(reason::EXCEPTIONS.into()))
            }
            WastDirective::AssertSuspension { .. } => {
                Ok(Outcome::Skipped(reason::SUSPENSIONS.into()))
            }
            WastDirective::Thread(_) | WastDirective::Wait { .. } => {
                Ok(Outcome::Skipped(reason::THREADS.into()))
            }
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. } => {
                Ok(Outcome::Skipped(reason::CUSTOM.into()))
            }
            #[allow(unreachable_patterns)]
            _ => Ok(Outcome::Skipped(reason::OTHER.into())),
        }
    }

    /// A `module` directive: the new current module (and a named one, with a `$name`).
    fn define_module(
        &mut self,
        state: &mut ScriptState,
        mut module: QuoteWat<'_>,
        line: usize,
    ) -> Step {
        let name = module.name().map(|id| id.name().to_owned());
        let loaded = if is_component(&module) {
            ModuleState::Skipped(reason::COMPONENTS.into())
        } else {
            match module.encode() {
                Err(error) => {
                    state.replace_current(self.engine, ModuleState::Failed(line), name)?;
                    return Ok(Outcome::Failed(format!(
                        "the module's text does not parse: {}",
                        one_line(&error.to_string())
                    )));
                }
                Ok(wasm) => match state.foreign_imports(&wasm) {
                    Some(reason) => ModuleState::Skipped(reason),
                    None => {
                        // Free the module this one replaces before loading it: slots are few.
                        state.release_current(self.engine)?;
                        let plugin_name = self.next_name();
                        match self.engine.load(&plugin_name, &wasm) {
                            Ok(plugin) => ModuleState::Loaded(plugin),
                            Err(EngineError::Broken(why)) => return Err(Abort(why)),
                            Err(EngineError::Refused(error)) => match unsupported(&error, &wasm) {
                                Some(reason) => ModuleState::Skipped(reason),
                                None => {
                                    state.replace_current(
                                        self.engine,
                                        ModuleState::Failed(line),
                                        name,
                                    )?;
                                    let message = match instantiation_failure(&error) {
                                        Some(_) => format!(
                                            "the module did not instantiate: {}",
                                            error.message
                                        ),
                                        None => format!(
                                            "the engine refused the module: {}",
                                            error.message
                                        ),
                                    };
                                    return Ok(Outcome::Failed(message));
                                }
                            },
                            Err(EngineError::Failed(why)) => {
                                state.replace_current(
                                    self.engine,
                                    ModuleState::Failed(line),
                                    name,
                                )?;
                                return Ok(Outcome::Failed(format!("loading failed: {why}")));
                            }
                        }
                    }
                },
            }
        };
        let outcome = match &loaded {
            ModuleState::Skipped(reason) => Outcome::Skipped(reason.clone()),
            _ => Outcome::Passed,
        };
        state.replace_current(self.engine, loaded, name)?;
        Ok(outcome)
    }

    /// Calls an invoke's export, unless its module or arguments rule it out.
    fn call(&mut self, state: &ScriptState, invoke: &WastInvoke<'_>) -> Result<Call, Abort> {
        let plugin = match state.module(invoke.module) {
            Ok(plugin) => plugin,
            Err(outcome) => return Ok(Call::NotRun(outcome)),
        };
        let mut args = Vec::with_capacity(invoke.args.len());
        for arg in &invoke.args {
            match argument(arg, |ty| self.engine.supports(ty)) {
                Ok(value) => args.push(value),
                Err(reason) => return Ok(Call::NotRun(Outcome::Skipped(reason))),
            }
        }
        match self.engine.invoke(plugin, invoke.name, &args) {
            Ok(result) => Ok(Call::Done(result)),
            Err(EngineError::Broken(why)) => Err(Abort(why)),
            Err(error) => Ok(Call::NotRun(Outcome::Failed(format!(
                "the engine refused the call: {error}"
            )))),
        }
    }

    fn assert_return(
        &mut self,
        state: &mut ScriptState,
        exec: WastExecute<'_>,
        results: &[WastRet<'_>],
    ) -> Step {
        let mut expected = Vec::with_capacity(results.len());
        for result in results {
            match expectation(result, |ty| self.engine.supports(ty)) {
                Ok(expectation) => expected.push(expectation),
                Err(reason) => {
                    // A module that did not load is the first reason the call cannot be made.
                    if let WastExecute::Invoke(invoke) = &exec
                        && let Err(outcome) = state.module(invoke.module)
                    {
                        return Ok(outcome);
                    }
                    return Ok(Outcome::Skipped(reason));
                }
            }
        }
        match exec {
            WastExecute::Invoke(invoke) => Ok(match self.call(state, &invoke)? {
                Call::Done(Ok(values)) => compare(&values, &expected),
                Call::Done(Err(trap)) => Outcome::Failed(format!(
                    "expected {}, trapped: {}",
                    expectations_text(&expected),
                    trap_text(&trap)
                )),
                Call::NotRun(outcome) => outcome,
            }),
            WastExecute::Get { .. } => Ok(Outcome::Skipped(reason::GET.into())),
            WastExecute::Wat(mut module) => {
                let wasm = match action_module(state, &mut module) {
                    Ok(wasm) => wasm,
                    Err(outcome) => return Ok(outcome),
                };
                Ok(match self.load_transient(&wasm)? {
                    Ok(()) => compare(&[], &expected),
                    Err(error) => match unsupported(&error, &wasm) {
                        Some(reason) => Outcome::Skipped(reason),
                        None => Outcome::Failed(format!(
                            "the engine refused the module: {}",
                            error.message
                        )),
                    },
                })
            }
        }
    }

    fn assert_trap(
        &mut self,
        state: &mut ScriptState,
        exec: WastExecute<'_>,
        message: &str,
    ) -> Step {
        match exec {
            WastExecute::Invoke(invoke) => Ok(match self.call(state, &invoke)? {
                Call::Done(Err(trap)) if trap_matches(trap.kind, message) => Outcome::Passed,
                Call::Done(Err(trap)) => Outcome::Failed(format!(
                    "expected trap \"{message}\", trapped: {}",
                    trap_text(&trap)
                )),
                Call::Done(Ok(values)) => Outcome::Failed(format!(
                    "expected trap \"{message}\", returned {}",
                    values_text(&values)
                )),
                Call::NotRun(outcome) => outcome,
            }),
            WastExecute::Get { .. } => Ok(Outcome::Skipped(reason::GET.into())),
            WastExecute::Wat(mut module) => {
                let wasm = match action_module(state, &mut module) {
                    Ok(wasm) => wasm,
                    Err(outcome) => return Ok(outcome),
                };
                Ok(match self.load_transient(&wasm)? {
                    Ok(()) => Outcome::Failed(format!(
                        "expected instantiation to trap \"{message}\", but the module loaded"
                    )),
                    Err(error) => match (instantiation_failure(&error), unsupported(&error, &wasm))
                    {
                        (Some(text), _) if message_matches(&text, message) => Outcome::Passed,
                        (Some(text), _) => Outcome::Failed(format!(
                            "expected instantiation to trap \"{message}\", it failed with \
                             \"{text}\": {}",
                            error.message
                        )),
                        (None, Some(reason)) => Outcome::Skipped(reason),
                        (None, None) => Outcome::Failed(format!(
                            "expected instantiation to trap \"{message}\", the engine refused \
                             the module: {}",
                            error.message
                        )),
                    },
                })
            }
        }
    }

    fn assert_unlinkable(&mut self, state: &ScriptState, wasm: &[u8], message: &str) -> Step {
        if let Some(reason) = state.foreign_imports(wasm) {
            return Ok(Outcome::Skipped(reason));
        }
        Ok(match self.load_transient(wasm)? {
            Ok(()) => Outcome::Failed(format!(
                "expected a link error \"{message}\", but the module linked"
            )),
            Err(error) => match (link_failure(&error, wasm), unsupported(&error, wasm)) {
                (Some(text), _) if message_matches(text, message) => Outcome::Passed,
                (Some(text), _) => Outcome::Failed(format!(
                    "expected a link error \"{message}\", got \"{text}\": {}",
                    error.message
                )),
                (None, Some(reason)) => Outcome::Skipped(reason),
                (None, None) => Outcome::Failed(format!(
                    "expected a link error \"{message}\", the engine refused the module for \
                     another reason: {}",
                    error.message
                )),
            },
        })
    }

    /// `assert_invalid` / `assert_malformed` of a binary: the engine must refuse it as invalid.
    fn expect_refusal(&mut self, wasm: &[u8], what: &str, message: &str) -> Step {
        Ok(match self.load_transient(wasm)? {
            Ok(()) => Outcome::Failed(format!(
                "expected {what} (\"{message}\") to be refused, but the engine loaded it"
            )),
            Err(error) if error.kind == PluginErrorKind::Invalid => Outcome::Passed,
            Err(error) => match unsupported(&error, wasm) {
                Some(reason) => Outcome::Skipped(reason),
                None => Outcome::Failed(format!(
                    "expected {what} (\"{message}\") to be refused as invalid, the engine \
                     refused it for another reason: {}",
                    error.message
                )),
            },
        })
    }

    /// Loads a module that an assertion expects to fail, and unloads it again if it loads.
    /// The inner error is the engine's refusal.
    fn load_transient(&mut self, wasm: &[u8]) -> Result<Result<(), PluginError>, Abort> {
        let name = self.next_name();
        match self.engine.load(&name, wasm) {
            Ok(plugin) => match self.engine.unload(plugin) {
                Err(EngineError::Broken(why)) => Err(Abort(why)),
                _ => Ok(Ok(())),
            },
            Err(EngineError::Refused(error)) => Ok(Err(error)),
            Err(EngineError::Failed(why)) => Ok(Err(PluginError {
                kind: PluginErrorKind::Internal,
                message: why,
            })),
            Err(EngineError::Broken(why)) => Err(Abort(why)),
        }
    }
}

/// What calling an export came to.
enum Call {
    /// The engine ran it: its results or its trap.
    Done(Result<Vec<Value>, TrapRecord>),
    /// It was not run; this is the directive's outcome.
    NotRun(Outcome),
}

/// The modules of one script.
#[derive(Default)]
struct ScriptState {
    /// Every module defined so far.
    modules: Vec<ModuleState>,
    /// The current module (the target of invokes without a `$name`), an index into `modules`.
    current: Option<usize>,
    /// `$name` -> index into `modules`.
    named: HashMap<String, usize>,
    /// Names given by `register`.
    registered: Vec<String>,
}

impl ScriptState {
    /// The plugin a directive addresses, or why it cannot run.
    fn module(&self, id: Option<Id<'_>>) -> Result<u32, Outcome> {
        let index = match id {
            None => self
                .current
                .ok_or_else(|| Outcome::Failed("no module is defined before it".into()))?,
            Some(id) => *self
                .named
                .get(id.name())
                .ok_or_else(|| Outcome::Failed(format!("no module is named ${}", id.name())))?,
        };
        match &self.modules[index] {
            ModuleState::Loaded(plugin) => Ok(*plugin),
            ModuleState::Skipped(reason) => Err(Outcome::Skipped(reason.clone())),
            ModuleState::Failed(line) => Err(Outcome::Failed(format!(
                "its module (line {line}) did not load"
            ))),
        }
    }

    /// Whether module `index` is still needed: it is current or has a name.
    fn in_use(&self, index: usize) -> bool {
        self.current == Some(index) || self.named.values().any(|&named| named == index)
    }

    /// Unloads the current module if nothing else refers to it (it is about to be replaced).
    fn release_current<E: Engine>(&mut self, engine: &mut E) -> Result<(), Abort> {
        let Some(index) = self.current.take() else {
            return Ok(());
        };
        self.release_if_unused(engine, index)
    }

    fn release_if_unused<E: Engine>(&mut self, engine: &mut E, index: usize) -> Result<(), Abort> {
        if self.in_use(index) {
            return Ok(());
        }
        if let ModuleState::Loaded(plugin) = self.modules[index] {
            self.modules[index] = ModuleState::Skipped("unloaded".into());
            if let Err(EngineError::Broken(why)) = engine.unload(plugin) {
                return Err(Abort(why));
            }
        }
        Ok(())
    }

    /// Makes `module` the current module (named `name`, if given), unloading what it replaces.
    fn replace_current<E: Engine>(
        &mut self,
        engine: &mut E,
        module: ModuleState,
        name: Option<String>,
    ) -> Result<(), Abort> {
        self.release_current(engine)?;
        self.modules.push(module);
        let index = self.modules.len() - 1;
        self.current = Some(index);
        if let Some(name) = name
            && let Some(previous) = self.named.insert(name, index)
        {
            self.release_if_unused(engine, previous)?;
        }
        Ok(())
    }

    /// Every plugin still loaded.
    fn loaded(&self) -> Vec<u32> {
        self.modules
            .iter()
            .filter_map(|module| match module {
                ModuleState::Loaded(plugin) => Some(*plugin),
                _ => None,
            })
            .collect()
    }

    /// Why `wasm` cannot be linked by the firmware for a reason outside the firmware: it imports
    /// from a module the script registered, or from the spec tests' `spectest`.
    fn foreign_imports(&self, wasm: &[u8]) -> Option<String> {
        imports(wasm).into_iter().find_map(|import| {
            if self.registered.contains(&import.module) {
                Some(format!(
                    "imports from a registered module (\"{}\"): the firmware links only against \
                     its symbol table",
                    import.module
                ))
            } else if import.module == "spectest" {
                Some(
                    "imports from spectest: the firmware links only against its symbol table"
                        .into(),
                )
            } else {
                None
            }
        })
    }
}

/// The skip reason for an [`PluginErrorKind::Unsupported`] refusal of `wasm`: it names the
/// feature (proposal) and the operator or construct, as `kplug upload` does.
fn unsupported(error: &PluginError, wasm: &[u8]) -> Option<String> {
    Refusal::of_plugin_error(wasm, error)
        .map(|refusal| format!("unsupported by the engine: {}", refusal.label()))
}

/// Whether a module is a component (not a core module).
fn is_component(module: &QuoteWat<'_>) -> bool {
    matches!(
        module,
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
    )
}

/// The skip reason for a value of type `ty` an engine cannot pass.
fn type_reason(ty: ValType) -> String {
    format!("{ty} values")
}

/// A script argument as a [`Value`], or the skip reason.
fn argument(arg: &WastArg<'_>, supports: impl Fn(ValType) -> bool) -> Result<Value, String> {
    let (value, ty) = match arg {
        WastArg::Core(WastArgCore::I32(value)) => (Value::I32(*value), ValType::I32),
        WastArg::Core(WastArgCore::I64(value)) => (Value::I64(*value), ValType::I64),
        WastArg::Core(WastArgCore::F32(value)) => (Value::F32(value.bits), ValType::F32),
        WastArg::Core(WastArgCore::F64(value)) => (Value::F64(value.bits), ValType::F64),
        WastArg::Core(WastArgCore::V128(_)) => return Err("v128 values".into()),
        WastArg::Core(_) => return Err("reference values".into()),
        #[allow(unreachable_patterns)]
        _ => return Err("component values".into()),
    };
    if supports(ty) {
        Ok(value)
    } else {
        Err(type_reason(ty))
    }
}

/// What one result of an `assert_return` must be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// This value.
    Exactly(Value),
    /// Any of these values.
    OneOf(Vec<Value>),
}

impl Expected {
    fn accepts(&self, value: Value) -> bool {
        match self {
            Expected::Exactly(expected) => *expected == value,
            Expected::OneOf(values) => values.contains(&value),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Exactly(value) => write!(f, "{}", ValueText(*value)),
            Expected::OneOf(values) => {
                let texts: Vec<String> = values.iter().map(|v| ValueText(*v).to_string()).collect();
                write!(f, "one of {}", texts.join(" | "))
            }
        }
    }
}

/// A script result as an [`Expected`], or the skip reason.
fn expectation(
    ret: &WastRet<'_>,
    supports: impl Fn(ValType) -> bool + Copy,
) -> Result<Expected, String> {
    fn core(ret: &WastRetCore<'_>, supports: impl Fn(ValType) -> bool) -> Result<Value, String> {
        let (value, ty) = match ret {
            WastRetCore::I32(value) => (Value::I32(*value), ValType::I32),
            WastRetCore::I64(value) => (Value::I64(*value), ValType::I64),
            WastRetCore::F32(NanPattern::Value(value)) => (Value::F32(value.bits), ValType::F32),
            WastRetCore::F64(NanPattern::Value(value)) => (Value::F64(value.bits), ValType::F64),
            WastRetCore::F32(_) if supports(ValType::F32) => return Err("NaN patterns".into()),
            WastRetCore::F32(_) => return Err(type_reason(ValType::F32)),
            WastRetCore::F64(_) if supports(ValType::F64) => return Err("NaN patterns".into()),
            WastRetCore::F64(_) => return Err(type_reason(ValType::F64)),
            WastRetCore::V128(_) => return Err("v128 values".into()),
            WastRetCore::Either(_) => return Err("nested alternatives".into()),
            _ => return Err("reference values".into()),
        };
        if supports(ty) {
            Ok(value)
        } else {
            Err(type_reason(ty))
        }
    }
    match ret {
        WastRet::Core(WastRetCore::Either(alternatives)) => alternatives
            .iter()
            .map(|alternative| core(alternative, supports))
            .collect::<Result<Vec<_>, _>>()
            .map(Expected::OneOf),
        WastRet::Core(ret) => core(ret, supports).map(Expected::Exactly),
        #[allow(unreachable_patterns)]
        _ => Err("component values".into()),
    }
}

/// Compares returned values with the expectations.
fn compare(values: &[Value], expected: &[Expected]) -> Outcome {
    if values.len() == expected.len()
        && values
            .iter()
            .zip(expected)
            .all(|(value, expected)| expected.accepts(*value))
    {
        Outcome::Passed
    } else {
        Outcome::Failed(format!(
            "expected {}, got {}",
            expectations_text(expected),
            values_text(values)
        ))
    }
}

/// A value for messages: `-873187034 (0xcbf43926)` for an i32.
struct ValueText(Value);

impl fmt::Display for ValueText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::I32(value) => write!(f, "{value} ({:#010x})", value as u32),
            Value::I64(value) => write!(f, "i64 {value} ({:#018x})", value as u64),
            Value::F32(bits) => write!(f, "f32 {} ({bits:#010x})", f32::from_bits(bits)),
            Value::F64(bits) => write!(f, "f64 {} ({bits:#018x})", f64::from_bits(bits)),
        }
    }
}

fn values_text(values: &[Value]) -> String {
    if values.is_empty() {
        "nothing".into()
    } else {
        values
            .iter()
            .map(|value| ValueText(*value).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn expectations_text(expected: &[Expected]) -> String {
    if expected.is_empty() {
        "nothing".into()
    } else {
        expected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A trap for messages: `integer divide by zero (function 3, offset 0x1a2)`.
fn trap_text(trap: &TrapRecord) -> String {
    let mut text = trap.kind.message().to_owned();
    let mut details = Vec::new();
    if let Some(function) = trap.function {
        details.push(format!("function {function}"));
    }
    if let Some(offset) = trap.offset {
        details.push(format!("offset {offset:#x}"));
    }
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join(", ")));
    }
    text
}

/// The first line of a (possibly multi-line) error message.
fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// A failure for a script that does not parse.
fn parse_failure(file: &str, text: &str, error: wast::Error) -> Failure {
    let line = error.span().linecol_in(text).0 + 1;
    Failure {
        file: file.to_owned(),
        line,
        engine: None,
        directive: "script".into(),
        message: format!("does not parse: {}", one_line(error.message().as_str())),
    }
}

/// A short description of a directive for failure lines.
fn label_of(directive: &WastDirective<'_>) -> String {
    match directive {
        WastDirective::Module(module) => match module.name() {
            Some(id) => format!("module ${}", id.name()),
            None => "module".into(),
        },
        WastDirective::Register { name, .. } => format!("register \"{name}\""),
        WastDirective::Invoke(invoke) => invoke_label(invoke),
        WastDirective::AssertReturn { exec, .. } => format!("assert_return {}", exec_label(exec)),
        WastDirective::AssertTrap { exec, .. } => format!("assert_trap {}", exec_label(exec)),
        WastDirective::AssertExhaustion { call, .. } => {
            format!("assert_exhaustion {}", invoke_label(call))
        }
        WastDirective::AssertInvalid { .. } => "assert_invalid".into(),
        WastDirective::AssertMalformed { .. } => "assert_malformed".into(),
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable".into(),
        WastDirective::ModuleDefinition(_) => "module definition".into(),
        WastDirective::ModuleInstance { .. } => "module instance".into(),
        WastDirective::AssertException { .. } => "assert_exception".into(),
        WastDirective::AssertSuspension { .. } => "assert_suspension".into(),
        WastDirective::Thread(_) => "thread".into(),
        WastDirective::Wait { .. } => "wait".into(),
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom".into(),
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom".into(),
        #[allow(unreachable_patterns)]
        _ => "directive".into(),
    }
}

fn exec_label(exec: &WastExecute<'_>) -> String {
    match exec {
        WastExecute::Invoke(invoke) => invoke_label(invoke),
        WastExecute::Wat(_) => "(module)".into(),
        WastExecute::Get { global, .. } => format!("(get \"{global}\")"),
    }
}

/// `(invoke $m "name" 1 -2)`.
fn invoke_label(invoke: &WastInvoke<'_>) -> String {
    let mut text = String::from("(invoke ");
    if let Some(id) = invoke.module {
        text.push_str(&format!("${} ", id.name()));
    }
    text.push_str(&format!("\"{}\"", invoke.name));
    for arg in &invoke.args {
        let shown = match arg {
            WastArg::Core(WastArgCore::I32(value)) => value.to_string(),
            WastArg::Core(WastArgCore::I64(value)) => format!("i64:{value}"),
            WastArg::Core(WastArgCore::F32(value)) => format!("f32:{}", f32::from_bits(value.bits)),
            WastArg::Core(WastArgCore::F64(value)) => format!("f64:{}", f64::from_bits(value.bits)),
            _ => "…".into(),
        };
        text.push(' ');
        text.push_str(&shown);
    }
    text.push(')');
    text
}

/// Encodes a module used as an assertion's action (`assert_return (module ...)`,
/// `assert_trap (module ...)`), or the outcome that settles the assertion without loading it:
/// skipped (a component, or imports from a module the engine cannot provide) or failed (its
/// text does not parse).
fn action_module(state: &ScriptState, module: &mut Wat<'_>) -> Result<Vec<u8>, Outcome> {
    if matches!(module, Wat::Component(_)) {
        return Err(Outcome::Skipped(reason::COMPONENTS.into()));
    }
    let wasm = module.encode().map_err(|error| {
        Outcome::Failed(format!(
            "the module's text does not parse: {}",
            one_line(&error.to_string())
        ))
    })?;
    match state.foreign_imports(&wasm) {
        Some(reason) => Err(Outcome::Skipped(reason)),
        None => Ok(wasm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the fake engine does for a call of an export (whatever the module).
    type Behaviour = Result<Vec<Value>, TrapKind>;

    /// An engine that judges modules with `wasmparser` and the symbol table, and answers calls
    /// from a table of export behaviours. Records every request.
    #[derive(Default)]
    struct FakeEngine {
        /// Every request: `load NAME`, `invoke ID EXPORT ARGS`, `unload ID`.
        requests: Vec<String>,
        /// Loaded plugins and their names.
        loaded: BTreeMap<u32, String>,
        next_id: u32,
        /// Export name -> behaviour.
        exports: HashMap<&'static str, Behaviour>,
        /// After this many requests every request fails as broken.
        broken_after: Option<usize>,
    }

    fn refused(kind: PluginErrorKind, message: &str) -> EngineError {
        EngineError::Refused(PluginError {
            kind,
            message: message.into(),
        })
    }

    fn trap(kind: TrapKind) -> TrapRecord {
        TrapRecord {
            kind,
            function: Some(1),
            offset: Some(0x20),
            vector: None,
            error_code: None,
            eip: 0x10,
            registers: None,
        }
    }

    impl FakeEngine {
        fn with(exports: &[(&'static str, Behaviour)]) -> Self {
            FakeEngine {
                exports: exports.iter().cloned().collect(),
                ..FakeEngine::default()
            }
        }

        fn request(&mut self, text: String) -> Result<(), EngineError> {
            self.requests.push(text);
            match self.broken_after {
                Some(limit) if self.requests.len() > limit => {
                    Err(EngineError::Broken("the board closed the link".into()))
                }
                _ => Ok(()),
            }
        }

        /// What the firmware would say about `wasm`, roughly: invalid, i64 unsupported,
        /// non-function imports unsupported, imports resolved, start functions trap.
        fn judge(wasm: &[u8]) -> Result<(), EngineError> {
            wasmparser::Validator::new()
                .validate_all(wasm)
                .map_err(|error| refused(PluginErrorKind::Invalid, &error.to_string()))?;
            let mut types = Vec::new();
            for payload in wasmparser::Parser::new(0).parse_all(wasm) {
                match payload.expect("validated") {
                    wasmparser::Payload::TypeSection(reader) => {
                        for ty in reader.into_iter_err_on_gc_types() {
                            let ty = ty.expect("validated");
                            if ty
                                .params()
                                .iter()
                                .chain(ty.results())
                                .any(|ty| *ty != wasmparser::ValType::I32)
                            {
                                return Err(refused(
                                    PluginErrorKind::Unsupported {
                                        operator: "i64 type".into(),
                                        function: None,
                                        offset: 0,
                                    },
                                    "unsupported feature: i64 type",
                                ));
                            }
                            types.push(ty);
                        }
                    }
                    wasmparser::Payload::ImportSection(reader) => {
                        for import in reader.into_imports() {
                            let import = import.expect("validated");
                            let wasmparser::TypeRef::Func(index) = import.ty else {
                                let text = format!(
                                    "import `{}.{}` is not a function",
                                    import.module, import.name
                                );
                                return Err(refused(
                                    PluginErrorKind::Unsupported {
                                        operator: text.clone(),
                                        function: None,
                                        offset: 0,
                                    },
                                    &text,
                                ));
                            };
                            let ty = &types[index as usize];
                            let params: Vec<ValType> =
                                ty.params().iter().map(|_| ValType::I32).collect();
                            let results: Vec<ValType> =
                                ty.results().iter().map(|_| ValType::I32).collect();
                            symbols::resolve(import.module, import.name, &params, &results)
                                .map_err(|error| {
                                    refused(
                                        PluginErrorKind::Link(error.clone()),
                                        &error.to_string(),
                                    )
                                })?;
                        }
                    }
                    wasmparser::Payload::StartSection { .. } => {
                        return Err(refused(
                            PluginErrorKind::StartTrapped(trap(TrapKind::Unreachable)),
                            "start function trapped: unreachable",
                        ));
                    }
                    wasmparser::Payload::DataSection(_) => {
                        return Err(refused(
                            PluginErrorKind::Invalid,
                            "data segment 0 does not fit in memory",
                        ));
                    }
                    _ => {}
                }
            }
            Ok(())
        }
    }

    impl Engine for FakeEngine {
        fn load(&mut self, name: &str, wasm: &[u8]) -> Result<u32, EngineError> {
            self.request(format!("load {name}"))?;
            assert!(
                !self.loaded.values().any(|loaded| loaded == name),
                "the name {name} is in use"
            );
            Self::judge(wasm)?;
            let id = self.next_id;
            self.next_id += 1;
            self.loaded.insert(id, name.to_owned());
            Ok(id)
        }

        fn invoke(
            &mut self,
            plugin: u32,
            export: &str,
            args: &[Value],
        ) -> Result<Result<Vec<Value>, TrapRecord>, EngineError> {
            self.request(format!("invoke {plugin} {export} {args:?}"))?;
            if !self.loaded.contains_key(&plugin) {
                return Err(refused(PluginErrorKind::NoSuchPlugin, "no plugin"));
            }
            match self.exports.get(export) {
                Some(behaviour) => Ok(behaviour.clone().map_err(trap)),
                None => Err(refused(
                    PluginErrorKind::NoSuchExport,
                    "no exported function",
                )),
            }
        }

        fn unload(&mut self, plugin: u32) -> Result<(), EngineError> {
            self.request(format!("unload {plugin}"))?;
            self.loaded
                .remove(&plugin)
                .map(|_| ())
                .ok_or_else(|| refused(PluginErrorKind::NoSuchPlugin, "no plugin"))
        }
    }

    fn run(engine: &mut FakeEngine, script: &str) -> Report {
        Runner::new(engine).run_text("t.wast", script)
    }

    fn lines(report: &Report) -> Vec<String> {
        report.failures.iter().map(ToString::to_string).collect()
    }

    const MODULE: &str = r#"(module (func (export "one") (result i32) (i32.const 1)))"#;

    /// Right and wrong results, trap messages and returned-instead-of-trapped calls are told
    /// apart; each failure names its line, the directive, what was expected and what happened.
    #[test]
    fn returns_and_traps_are_checked() {
        let mut engine = FakeEngine::with(&[
            ("one", Ok(vec![Value::I32(1)])),
            ("div", Err(TrapKind::IntegerDivideByZero)),
            ("deep", Err(TrapKind::StackExhausted)),
            ("void", Ok(Vec::new())),
        ]);
        let script = format!(
            "{MODULE}
            (assert_return (invoke \"one\") (i32.const 1))
            (assert_return (invoke \"one\") (i32.const 2))
            (assert_return (invoke \"one\") (either (i32.const 3) (i32.const 1)))
            (assert_trap (invoke \"div\" (i32.const 1) (i32.const 0)) \"integer divide by zero\")
            (assert_trap (invoke \"div\") \"integer overflow\")
            (assert_trap (invoke \"one\") \"unreachable\")
            (assert_exhaustion (invoke \"deep\") \"call stack exhausted\")
            (assert_exhaustion (invoke \"div\") \"call stack exhausted\")
            (assert_return (invoke \"void\"))
            (invoke \"void\")
            (invoke \"div\")
            (assert_return (invoke \"missing\"))"
        );
        let report = run(&mut engine, &script);
        assert_eq!(report.passed, 7, "{:#?}", lines(&report));
        assert_eq!(
            lines(&report),
            [
                "t.wast:3: assert_return (invoke \"one\"): expected 2 (0x00000002), got 1 (0x00000001)",
                "t.wast:6: assert_trap (invoke \"div\"): expected trap \"integer overflow\", trapped: \
                 integer divide by zero (function 1, offset 0x20)",
                "t.wast:7: assert_trap (invoke \"one\"): expected trap \"unreachable\", returned 1 \
                 (0x00000001)",
                "t.wast:9: assert_exhaustion (invoke \"div\"): expected exhaustion \"call stack \
                 exhausted\", trapped: integer divide by zero (function 1, offset 0x20)",
                "t.wast:12: (invoke \"div\"): trapped: integer divide by zero (function 1, offset 0x20)",
                "t.wast:13: assert_return (invoke \"missing\"): the engine refused the call: no \
                 exported function",
            ]
        );
        assert!(
            engine
                .requests
                .contains(&"invoke 0 div [I32(1), I32(0)]".to_owned()),
            "{:?}",
            engine.requests
        );
    }

    /// Values other than i32 and `get` are skipped with a reason naming them, without a call.
    #[test]
    fn unsupported_values_are_skipped_by_name() {
        let mut engine = FakeEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
        let script = format!(
            "{MODULE}
            (assert_return (invoke \"one\" (i64.const 1)) (i32.const 1))
            (assert_return (invoke \"one\") (i64.const 1))
            (assert_return (invoke \"one\") (f32.const 1))
            (assert_return (invoke \"one\") (f64.const nan:canonical))
            (assert_return (get \"g\") (i32.const 1))
            (assert_trap (invoke \"one\" (f64.const 0)) \"unreachable\")"
        );
        let report = run(&mut engine, &script);
        assert_eq!(report.passed, 1);
        assert_eq!(report.failed(), 0, "{:#?}", lines(&report));
        assert_eq!(report.skips["i64 values"], 2);
        assert_eq!(report.skips["f32 values"], 1);
        assert_eq!(report.skips["f64 values"], 2);
        assert_eq!(report.skips[reason::GET], 1);
        assert!(
            !engine
                .requests
                .iter()
                .any(|request| request.starts_with("invoke")),
            "{:?}",
            engine.requests
        );
        assert_eq!(
            report.skip_lines()[0],
            "skipped 2: f64 values",
            "most frequent first, then by name"
        );
    }

    /// Invalid and malformed modules pass when refused as invalid (or, for text, when the text
    /// does not parse) and fail when loaded; unlinkable ones pass with the spec's wording derived
    /// from the typed link error, including imports of other kinds.
    #[test]
    fn refusals_are_checked() {
        let mut engine = FakeEngine::default();
        let script = r#"
            (assert_invalid (module (func (result i32) (nop))) "type mismatch")
            (assert_invalid (module (func)) "type mismatch")
            (assert_malformed (module quote "(func") "unexpected end")
            (assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
            (assert_malformed (module binary "\00asm\01\00\00\00") "anything")
            (assert_unlinkable (module (import "env" "nope" (func))) "unknown import")
            (assert_unlinkable (module (import "env" "log" (func (param i32)))) "incompatible import type")
            (assert_unlinkable (module (import "env" "memory" (memory 1))) "unknown import")
            (assert_unlinkable (module (import "env" "log" (global i32))) "incompatible import type")
            (assert_unlinkable (module (import "env" "nope" (func))) "incompatible import type")
            (assert_unlinkable (module (import "env" "log" (func (param i32 i32)))) "unknown import")
        "#;
        let report = run(&mut engine, script);
        assert_eq!(report.passed, 7, "{:#?}", lines(&report));
        let failures = lines(&report);
        assert_eq!(failures.len(), 4, "{failures:#?}");
        assert!(failures[0].starts_with("t.wast:3: assert_invalid: expected an invalid module"));
        assert!(failures[0].ends_with("but the engine loaded it"));
        assert!(failures[1].starts_with("t.wast:6: assert_malformed: expected a malformed module"));
        assert!(
            failures[2].starts_with(
                "t.wast:11: assert_unlinkable: expected a link error \"incompatible import type\", \
                 got \"unknown import\""
            ),
            "{}",
            failures[2]
        );
        assert_eq!(
            failures[3],
            "t.wast:12: assert_unlinkable: expected a link error \"unknown import\", but the \
             module linked"
        );
        assert!(
            engine.loaded.is_empty(),
            "modules that loaded were unloaded"
        );
    }

    /// assert_trap on a module passes when instantiation fails as the script says (a trapping
    /// start function, a segment that does not fit) and fails when the module loads.
    #[test]
    fn instantiation_traps_are_checked() {
        let mut engine = FakeEngine::default();
        let script = r#"
            (assert_trap (module (func $s (unreachable)) (start $s)) "unreachable")
            (assert_trap (module (memory 1) (data (i32.const 65536) "x")) "out of bounds memory access")
            (assert_trap (module (func $s (unreachable)) (start $s)) "integer overflow")
            (assert_trap (module (func)) "unreachable")
        "#;
        let report = run(&mut engine, script);
        assert_eq!(report.passed, 2, "{:#?}", lines(&report));
        let failures = lines(&report);
        assert!(
            failures[0].contains(
                "expected instantiation to trap \"integer overflow\", it failed with \
                 \"unreachable\""
            ),
            "{failures:#?}"
        );
        assert!(
            failures[1].contains("but the module loaded"),
            "{failures:#?}"
        );
    }

    /// A module replaced as the current one is unloaded before the next is loaded, a named
    /// module stays loaded until the end of the file, plugin names never repeat, and nothing is
    /// left loaded afterwards.
    #[test]
    fn modules_are_replaced_and_unloaded() {
        let mut engine = FakeEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
        let script = format!(
            "{MODULE}
            (module $named (func (export \"one\") (result i32) (i32.const 1)))
            {MODULE}
            (assert_return (invoke $named \"one\") (i32.const 1))
            (assert_return (invoke \"one\") (i32.const 1))
            (assert_return (invoke $nobody \"one\") (i32.const 1))"
        );
        let report = run(&mut engine, &script);
        assert_eq!(report.passed, 5, "{:#?}", lines(&report));
        assert_eq!(
            lines(&report),
            ["t.wast:6: assert_return (invoke $nobody \"one\"): no module is named $nobody"]
        );
        let prefix = format!("wast{}", std::process::id());
        let expected: Vec<String> = [
            format!("load {prefix}.1"),
            "unload 0".into(),
            format!("load {prefix}.2"),
            format!("load {prefix}.3"),
            "invoke 1 one []".into(),
            "invoke 2 one []".into(),
            "unload 1".into(),
            "unload 2".into(),
        ]
        .into();
        assert_eq!(engine.requests, expected);
        assert!(engine.loaded.is_empty());
    }

    /// Modules the engine does not support are skipped with its reason, and so is everything
    /// addressed to them; a module that fails to load fails, and so does everything addressed
    /// to it.
    #[test]
    fn skipped_and_failed_modules_carry_over() {
        let mut engine = FakeEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
        let script = r#"
            (module (func (export "wide") (param i64)))
            (assert_return (invoke "wide" (i64.const 1)))
            (assert_return (invoke "one") (i32.const 1))
            (module (memory 1) (data (i32.const 0) "x"))
            (assert_return (invoke "one") (i32.const 1))
            (invoke "one")
        "#;
        let report = run(&mut engine, script);
        assert_eq!(report.passed, 0);
        assert_eq!(
            report.skips["unsupported by the engine: 64-bit integers (i64): i64 type"],
            3
        );
        assert_eq!(
            lines(&report),
            [
                "t.wast:5: module: the module did not instantiate: data segment 0 does not fit \
                 in memory",
                "t.wast:6: assert_return (invoke \"one\"): its module (line 5) did not load",
                "t.wast:7: (invoke \"one\"): its module (line 5) did not load",
            ]
        );
    }

    /// `register` is recorded; a module importing from a registered name, or from spectest, is
    /// skipped with that reason, as is what is addressed to it.
    #[test]
    fn registered_and_spectest_imports_are_skipped() {
        let mut engine = FakeEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
        let script = r#"(module $M (func (export "one") (result i32) (i32.const 1)))
            (register "M" $M)
            (module (import "M" "one" (func (result i32))))
            (assert_return (invoke "one") (i32.const 1))
            (module (import "spectest" "print_i32" (func (param i32))))
            (assert_unlinkable (module (import "M" "one" (func))) "incompatible import type")
            (assert_return (invoke $M "one") (i32.const 1))"#;
        let report = run(&mut engine, script);
        assert_eq!(report.passed, 3, "{:#?}", lines(&report));
        assert_eq!(report.failed(), 0, "{:#?}", lines(&report));
        let registered = "imports from a registered module (\"M\"): the firmware links only \
                          against its symbol table";
        assert_eq!(report.skips[registered], 3);
        assert_eq!(
            report.skips["imports from spectest: the firmware links only against its symbol table"],
            1
        );
    }

    /// When the engine stops answering, that directive and every later one of the file fail,
    /// and the summary counts them.
    #[test]
    fn a_broken_engine_stops_the_file() {
        let mut engine = FakeEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
        engine.broken_after = Some(2);
        let script = format!(
            "{MODULE}
            (assert_return (invoke \"one\") (i32.const 1))
            (assert_return (invoke \"one\") (i32.const 1))
            (assert_return (invoke \"one\") (i32.const 1))"
        );
        let report = run(&mut engine, &script);
        assert_eq!(report.passed, 2);
        assert_eq!(
            lines(&report),
            [
                "t.wast:3: assert_return (invoke \"one\"): the engine stopped answering: the \
                 board closed the link",
                "t.wast:4: assert_return (invoke \"one\"): not run: the engine stopped answering \
                 earlier",
            ]
        );
        assert_eq!(report.summary_line(), "2 passed, 2 failed, 0 skipped");
    }

    /// A script that does not parse is one failure at the line of the error; reports merge, and
    /// failures can carry the engine's label.
    #[test]
    fn parse_errors_and_merged_reports() {
        let mut engine = FakeEngine::default();
        let mut report = run(&mut engine, "(module)\n(assert_return (invoke \"f\")");
        assert_eq!(report.failed(), 1);
        assert!(
            report.failures[0]
                .to_string()
                .starts_with("t.wast:2: script: does not parse"),
            "{}",
            report.failures[0]
        );
        report.label_engine("software");
        assert!(
            report.failures[0]
                .to_string()
                .starts_with("t.wast:2: [software] script")
        );
        let mut other = Report {
            passed: 4,
            ..Report::default()
        };
        other.skips.insert("i64 values".into(), 2);
        report.merge(other);
        assert_eq!(report.summary_line(), "4 passed, 1 failed, 2 skipped");
        assert_eq!(report.skip_lines(), ["skipped 2: i64 values"]);
        assert_eq!(report.directives(), 7);
    }

    /// Trap messages match the spec wording, its prefixes and aliases, and nothing else.
    #[test]
    fn trap_messages_match() {
        assert!(trap_matches(TrapKind::Unreachable, "unreachable"));
        assert!(trap_matches(TrapKind::Unreachable, "unreachable executed"));
        assert!(trap_matches(
            TrapKind::IndirectCallNull,
            "uninitialized element 2"
        ));
        assert!(trap_matches(
            TrapKind::IndirectCallSignature,
            "indirect call signature mismatch"
        ));
        assert!(trap_matches(
            TrapKind::ImportFault,
            "import rejected an argument"
        ));
        assert!(!trap_matches(
            TrapKind::IntegerOverflow,
            "integer divide by zero"
        ));
        assert!(!trap_matches(TrapKind::OutOfBounds, "unreachable"));
        assert!(!message_matches("", "anything"));
    }
}
