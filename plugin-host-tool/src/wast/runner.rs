//! The script logic: runs each directive of a `.wast` script against an [`Engine`] and records
//! its [`Outcome`] in a [`Report`]. See the module docs of [`super`] for what each directive
//! does.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use plugin_format::message::Value;
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

use super::engine::{Engine, EngineError, Refusal, RefusalKind, Trap};
use super::linker::{self, ExportedCode, Exports, Linked, Provider, SPECTEST};
use super::messages::{message_matches, trap_matches};
use super::report::{Failure, Outcome, Report};
use super::values::{
    Expected, all_accepted, argument, argument_label, expectation, expectations_text, values_text,
};

/// Skip reasons the runner gives itself (beyond those naming a value or an unsupported
/// feature).
mod reason {
    pub const DEFINITIONS: &str = "module definitions and instances";
    pub const COMPONENTS: &str = "components";
    pub const EXCEPTIONS: &str = "exceptions (assert_exception)";
    pub const SUSPENSIONS: &str = "stack switching (assert_suspension)";
    pub const THREADS: &str = "threads";
    pub const CUSTOM: &str = "custom-section assertions";
    pub const OTHER: &str = "directives this runner does not know";
}

/// What `assert_invalid` expects, in messages.
const INVALID: &str = "an invalid module";
/// What `assert_malformed` expects, in messages.
const MALFORMED: &str = "a malformed module";
/// How an abort caused by reading a registered module's global starts.
const GLOBAL_READ_FAILED: &str = "reading a global to link a module failed";

/// Modules loaded by every runner of this process (for unique names).
static LOADS: AtomicU64 = AtomicU64::new(0);

/// The engine stopped answering; the file cannot go on.
#[derive(Debug)]
struct Abort(String);

impl From<EngineError> for Abort {
    fn from(error: EngineError) -> Abort {
        Abort(error.to_string())
    }
}

type Step = Result<Outcome, Abort>;

/// Where a module of the script stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModuleState {
    /// Loaded as this engine module.
    Loaded(u32),
    /// Not loaded, for this skip reason.
    Skipped(String),
    /// It should have loaded and did not; the directive at this line says why.
    Failed(usize),
    /// Unloaded after it was replaced as the current module.
    Unloaded,
}

/// A module of the script.
#[derive(Debug)]
struct ModuleRecord {
    state: ModuleState,
    /// What it exports (for modules that import from it once it is registered).
    exports: Exports,
    /// What of its code importers need ([`linker::exported_code`]).
    code: ExportedCode,
    /// Set when a module that would have changed this one's state (through a shared table,
    /// memory or global, or a start function calling into it) did not run: what is addressed
    /// to this module from then on is skipped for this reason.
    diverged: Option<String>,
}

/// The modules of one script.
#[derive(Default)]
struct ScriptState {
    modules: Vec<ModuleRecord>,
    /// The current module (the target of directives without a `$name`).
    current: Option<usize>,
    /// `$name` -> module.
    named: HashMap<String, usize>,
    /// Names given by `register` -> module (whatever became of the module).
    registered: HashMap<String, usize>,
}

impl ScriptState {
    /// The module a directive addresses.
    fn index(&self, id: Option<Id<'_>>) -> Result<usize, Outcome> {
        match id {
            None => self
                .current
                .ok_or_else(|| Outcome::Failed("no module is defined before it".into())),
            Some(id) => self
                .named
                .get(id.name())
                .copied()
                .ok_or_else(|| Outcome::Failed(format!("no module is named ${}", id.name()))),
        }
    }

    /// The engine module of module `index`, or why a directive addressed to it cannot run.
    fn loaded(&self, index: usize) -> Result<u32, Outcome> {
        let record = &self.modules[index];
        if let Some(reason) = &record.diverged {
            return Err(Outcome::Skipped(reason.clone()));
        }
        match &record.state {
            ModuleState::Loaded(module) => Ok(*module),
            ModuleState::Skipped(reason) => Err(Outcome::Skipped(reason.clone())),
            ModuleState::Failed(line) => Err(Outcome::Failed(format!(
                "its module (line {line}) did not load"
            ))),
            ModuleState::Unloaded => Err(Outcome::Failed("its module was unloaded".into())),
        }
    }

    /// The engine module a directive addresses.
    fn module(&self, id: Option<Id<'_>>) -> Result<u32, Outcome> {
        self.loaded(self.index(id)?)
    }

    /// Whether module `index` is still needed: it is current, named or registered.
    fn in_use(&self, index: usize) -> bool {
        self.current == Some(index)
            || self.named.values().any(|&named| named == index)
            || self
                .registered
                .values()
                .any(|&registered| registered == index)
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
        if let ModuleState::Loaded(module) = self.modules[index].state {
            self.modules[index].state = ModuleState::Unloaded;
            if let Err(EngineError::Broken(why)) = engine.unload(module) {
                return Err(Abort(why));
            }
        }
        Ok(())
    }

    /// Makes `record` the current module (named `name`, if given), unloading what it replaces.
    fn replace_current<E: Engine>(
        &mut self,
        engine: &mut E,
        record: ModuleRecord,
        name: Option<String>,
    ) -> Result<(), Abort> {
        self.release_current(engine)?;
        self.modules.push(record);
        let index = self.modules.len() - 1;
        self.current = Some(index);
        if let Some(name) = name
            && let Some(previous) = self.named.insert(name, index)
        {
            self.release_if_unused(engine, previous)?;
        }
        Ok(())
    }

    /// Every engine module still loaded.
    fn all_loaded(&self) -> Vec<u32> {
        self.modules
            .iter()
            .filter_map(|record| match record.state {
                ModuleState::Loaded(module) => Some(module),
                _ => None,
            })
            .collect()
    }

    /// The provider behind import module name `name`, if the runner handles it.
    fn provider<'a>(&'a self, name: &str, spectest: &'a Exports) -> Option<Provider<'a>> {
        if let Some(&index) = self.registered.get(name) {
            let record = &self.modules[index];
            return Some(match (&record.diverged, &record.state) {
                (Some(reason), _) => Provider::Unavailable(Ok(reason.clone())),
                (None, ModuleState::Loaded(module)) => Provider::Loaded {
                    exports: &record.exports,
                    code: &record.code,
                    module: *module,
                },
                (None, ModuleState::Skipped(reason)) => Provider::Unavailable(Ok(format!(
                    "imports from \"{name}\", which was skipped: {reason}"
                ))),
                (None, ModuleState::Failed(line)) => Provider::Unavailable(Err(format!(
                    "imports from \"{name}\", whose module (line {line}) did not load"
                ))),
                (None, ModuleState::Unloaded) => Provider::Unavailable(Err(format!(
                    "imports from \"{name}\", which was unloaded"
                ))),
            });
        }
        (name == SPECTEST).then_some(Provider::Spectest(spectest))
    }

    /// Marks the registered modules whose state `wasm` would have changed had it run (it
    /// imports a table, memory or mutable global from them, or a function and has a start
    /// function) as diverged: it did not run, for `why`.
    fn diverge_providers(&mut self, wasm: &[u8], why: &str) {
        let starts = wasmparser::Parser::new(0)
            .parse_all(wasm)
            .any(|payload| matches!(payload, Ok(wasmparser::Payload::StartSection { .. })));
        for import in linker::imports(wasm) {
            let shares = match import.ty {
                wasmparser::TypeRef::Func(_) | wasmparser::TypeRef::FuncExact(_) => starts,
                wasmparser::TypeRef::Global(ty) => ty.mutable,
                wasmparser::TypeRef::Table(_) | wasmparser::TypeRef::Memory(_) => true,
                wasmparser::TypeRef::Tag(_) => false,
            };
            if let (true, Some(&index)) = (shares, self.registered.get(&import.module)) {
                self.modules[index].diverged.get_or_insert_with(|| {
                    format!("its state depends on a module that did not run: {why}")
                });
            }
        }
    }
}

/// What calling an export came to.
enum Call {
    /// The engine ran it: its results or its trap.
    Done(Result<Vec<Value>, Trap>),
    /// It was not run; this is the directive's outcome.
    NotRun(Outcome),
}

/// Value types an engine may lack, as the engines' words name them.
const VALUE_TYPES: [&str; 6] = ["i64", "f32", "f64", "v128", "funcref", "externref"];

/// The skip reason for an engine's unsupported refusal, so that one missing feature is one
/// reason: a refusal that names value types (a function type, a local, a global, an operator
/// such as `f64.add`) is `unsupported by the engine: f32, f64 values`; any other keeps the
/// engine's words with numbers (function indices, offsets) replaced by `N`.
fn unsupported_reason(what: &str) -> String {
    let tokens: Vec<&str> = what.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let types: Vec<&str> = VALUE_TYPES
        .into_iter()
        .filter(|ty| tokens.contains(ty))
        .collect();
    if !types.is_empty() {
        return format!("unsupported by the engine: {} values", types.join(", "));
    }
    without_numbers(what)
}

/// `unsupported by the engine: WHAT`, with the numbers in `what` replaced by `N`.
fn without_numbers(what: &str) -> String {
    let mut text = String::with_capacity(what.len());
    let mut previous: Option<char> = None;
    let mut chars = what.chars().peekable();
    while let Some(c) = chars.next() {
        let starts_number = c.is_ascii_digit()
            && !previous.is_some_and(|p| p.is_ascii_alphanumeric() || p == '_' || p == '.');
        if starts_number {
            let mut word = String::from(c);
            while let Some(&next) = chars.peek().filter(|next| next.is_ascii_alphanumeric()) {
                word.push(next);
                chars.next();
            }
            let hex = word.starts_with("0x") && word[2..].chars().all(|d| d.is_ascii_hexdigit());
            if word.chars().all(|d| d.is_ascii_digit()) || hex {
                text.push('N');
            } else {
                text.push_str(&word);
            }
            previous = word.chars().last();
            continue;
        }
        text.push(c);
        previous = Some(c);
    }
    format!("unsupported by the engine: {text}")
}

/// The outcome of a refusal where the script expected the module to load or the call to run:
/// a skip for what the engine does not support, else a failure.
fn refused(refusal: &Refusal, what: &str) -> Outcome {
    match &refusal.kind {
        RefusalKind::Unsupported(feature) => Outcome::Skipped(unsupported_reason(feature)),
        RefusalKind::Instantiation(trap) => Outcome::Failed(format!(
            "{what}: the module did not instantiate: {trap} ({})",
            refusal.message
        )),
        _ => Outcome::Failed(format!("{what}: {}", refusal.message)),
    }
}

/// Runs scripts against one engine.
pub struct Runner<'e, E: Engine> {
    engine: &'e mut E,
    /// Prefix of module names: unique to this process.
    name_prefix: String,
    /// Whether a skip counts as a failure.
    skips_fail: bool,
    /// What `spectest` exports.
    spectest: Exports,
}

impl<'e, E: Engine> Runner<'e, E> {
    /// A runner on `engine`.
    pub fn new(engine: &'e mut E) -> Self {
        Runner {
            engine,
            name_prefix: format!("wast{}", std::process::id()),
            skips_fail: false,
            spectest: linker::spectest(),
        }
    }

    /// Makes every skipped directive a failure (for runs that must leave nothing out).
    pub fn fail_on_skip(mut self, skips_fail: bool) -> Self {
        self.skips_fail = skips_fail;
        self
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
        // The spec tests use identifiers and strings a careful lexer calls confusing
        // (`names.wast`); the scripts are data here, not code a person reviews.
        let mut lexer = Lexer::new(text);
        lexer.allow_confusing_unicode(true);
        let buffer = match ParseBuffer::new_with_lexer(lexer) {
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
                Ok(Outcome::Skipped(reason)) if self.skips_fail => report.record(
                    Outcome::Failed(format!("skipped ({reason}); this run allows no skips")),
                    failure,
                ),
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
        for module in state.all_loaded() {
            let _ = self.engine.unload(module);
        }
        report
    }

    /// A fresh module name, unique in this process (runners may share an engine).
    fn next_name(&mut self) -> String {
        let load = LOADS.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}.{load}", self.name_prefix)
    }

    fn run_directive(
        &mut self,
        state: &mut ScriptState,
        directive: WastDirective<'_>,
        line: usize,
    ) -> Step {
        match directive {
            WastDirective::Module(module) => self.define_module(state, module, line),
            WastDirective::Register { name, module, .. } => self.register(state, name, module),
            WastDirective::Invoke(invoke) => Ok(match self.call(state, &invoke)? {
                Call::Done(Ok(_)) => Outcome::Passed,
                Call::Done(Err(trap)) => Outcome::Failed(format!("trapped: {trap}")),
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
                        if trap.kind == Some(plugin_format::trap::TrapKind::StackExhausted)
                            && trap_matches(&trap, message) =>
                    {
                        Outcome::Passed
                    }
                    Call::Done(Err(trap)) => Outcome::Failed(format!(
                        "expected exhaustion \"{message}\", trapped: {trap}"
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
                    Ok(wasm) => self.expect_refusal(state, wasm, INVALID, message),
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
                    Ok(wasm) => self.expect_refusal(state, wasm, MALFORMED, message),
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

    /// Satisfies the imports of `wasm` the runner handles (spectest, registered modules).
    fn link(&mut self, state: &ScriptState, wasm: &[u8]) -> Result<Linked, Abort> {
        let links_modules = self.engine.links_modules();
        let spectest = &self.spectest;
        let engine = &mut *self.engine;
        let providers = |name: &str| state.provider(name, spectest);
        linker::link(wasm, &providers, links_modules, &mut |module, name| {
            engine.global(module, name)
        })
        .map_err(|error| match error {
            EngineError::Broken(why) => Abort(why),
            other => Abort(format!("{GLOBAL_READ_FAILED}: {other}")),
        })
    }

    /// A `module` directive: the new current module (and a named one, with a `$name`).
    fn define_module(
        &mut self,
        state: &mut ScriptState,
        mut module: QuoteWat<'_>,
        line: usize,
    ) -> Step {
        let name = module.name().map(|id| id.name().to_owned());
        let record = |state| ModuleRecord {
            state,
            exports: Exports::new(),
            code: ExportedCode::default(),
            diverged: None,
        };
        if is_component(&module) {
            state.replace_current(
                self.engine,
                record(ModuleState::Skipped(reason::COMPONENTS.into())),
                name,
            )?;
            return Ok(Outcome::Skipped(reason::COMPONENTS.into()));
        }
        let wasm = match module.encode() {
            Ok(wasm) => wasm,
            Err(error) => {
                state.replace_current(self.engine, record(ModuleState::Failed(line)), name)?;
                return Ok(Outcome::Failed(format!(
                    "the module's text does not parse: {}",
                    one_line(&error.to_string())
                )));
            }
        };
        let (loaded, outcome) = match self.link(state, &wasm)? {
            Linked::Skip(reason) => {
                state.diverge_providers(&wasm, &reason);
                (
                    ModuleState::Skipped(reason.clone()),
                    Outcome::Skipped(reason),
                )
            }
            Linked::Fail(message) => (ModuleState::Failed(line), Outcome::Failed(message)),
            Linked::Unlinkable { words, message } => (
                ModuleState::Failed(line),
                Outcome::Failed(format!("the module does not link ({words}): {message}")),
            ),
            Linked::Load { wasm: linked, .. } => {
                // Free the module this one replaces before loading it: slots are few.
                state.release_current(self.engine)?;
                let module_name = self.next_name();
                match self.engine.load(&module_name, &linked) {
                    Ok(module) => {
                        let mut loaded = record(ModuleState::Loaded(module));
                        loaded.exports = linker::module_exports(&linked);
                        loaded.code = linker::exported_code(&linked);
                        state.replace_current(self.engine, loaded, name)?;
                        return Ok(Outcome::Passed);
                    }
                    Err(EngineError::Broken(why)) => return Err(Abort(why)),
                    Err(EngineError::Refused(refusal)) => match &refusal.kind {
                        RefusalKind::Unsupported(feature) => {
                            let reason = unsupported_reason(feature);
                            state.diverge_providers(&wasm, &reason);
                            (
                                ModuleState::Skipped(reason.clone()),
                                Outcome::Skipped(reason),
                            )
                        }
                        RefusalKind::Instantiation(trap) => (
                            ModuleState::Failed(line),
                            Outcome::Failed(format!(
                                "the module did not instantiate: {trap} ({})",
                                refusal.message
                            )),
                        ),
                        _ => (
                            ModuleState::Failed(line),
                            Outcome::Failed(format!(
                                "the engine refused the module: {}",
                                refusal.message
                            )),
                        ),
                    },
                    Err(EngineError::Failed(why)) => (
                        ModuleState::Failed(line),
                        Outcome::Failed(format!("loading failed: {why}")),
                    ),
                }
            }
        };
        state.replace_current(self.engine, record(loaded), name)?;
        Ok(outcome)
    }

    /// `register`: the module's exports become importable under `name`, whatever became of
    /// the module (a module importing from a skipped one is skipped too).
    fn register(&mut self, state: &mut ScriptState, name: &str, module: Option<Id<'_>>) -> Step {
        let index = match state.index(module) {
            Ok(index) => index,
            Err(outcome) => return Ok(outcome),
        };
        state.registered.insert(name.to_owned(), index);
        let module = match state.loaded(index) {
            Ok(module) => module,
            Err(outcome) => return Ok(outcome),
        };
        if !self.engine.links_modules() {
            return Ok(Outcome::Passed);
        }
        Ok(match self.engine.register(module, name) {
            Ok(()) => Outcome::Passed,
            Err(EngineError::Broken(why)) => return Err(Abort(why)),
            Err(error) => Outcome::Failed(format!("the engine refused to register it: {error}")),
        })
    }

    /// Calls an invoke's export, unless its module or arguments rule it out.
    fn call(&mut self, state: &ScriptState, invoke: &WastInvoke<'_>) -> Result<Call, Abort> {
        let module = match state.module(invoke.module) {
            Ok(module) => module,
            Err(outcome) => return Ok(Call::NotRun(outcome)),
        };
        let mut args = Vec::with_capacity(invoke.args.len());
        for arg in &invoke.args {
            match argument(arg) {
                Ok(value) => args.push(value),
                Err(reason) => return Ok(Call::NotRun(Outcome::Skipped(reason))),
            }
        }
        match self.engine.invoke(module, invoke.name, &args) {
            Ok(result) => Ok(Call::Done(result)),
            Err(EngineError::Broken(why)) => Err(Abort(why)),
            Err(EngineError::Refused(refusal)) => Ok(Call::NotRun(refused(
                &refusal,
                "the engine refused the call",
            ))),
            Err(EngineError::Failed(why)) => Ok(Call::NotRun(Outcome::Failed(format!(
                "the call failed: {why}"
            )))),
        }
    }

    /// The results a `get` or `invoke` produced, or the outcome that settles the directive.
    fn execute(
        &mut self,
        state: &ScriptState,
        exec: &WastExecute<'_>,
    ) -> Result<Result<Result<Vec<Value>, Trap>, Outcome>, Abort> {
        match exec {
            WastExecute::Invoke(invoke) => Ok(match self.call(state, invoke)? {
                Call::Done(result) => Ok(result),
                Call::NotRun(outcome) => Err(outcome),
            }),
            WastExecute::Get { module, global, .. } => {
                let module = match state.module(*module) {
                    Ok(module) => module,
                    Err(outcome) => return Ok(Err(outcome)),
                };
                Ok(match self.engine.global(module, global) {
                    Ok(value) => Ok(Ok(vec![value])),
                    Err(EngineError::Broken(why)) => return Err(Abort(why)),
                    Err(EngineError::Refused(refusal)) => Err(refused(
                        &refusal,
                        &format!("the engine refused to read global \"{global}\""),
                    )),
                    Err(EngineError::Failed(why)) => Err(Outcome::Failed(format!(
                        "reading global \"{global}\" failed: {why}"
                    ))),
                })
            }
            WastExecute::Wat(_) => unreachable!("modules are handled by the caller"),
        }
    }

    fn assert_return(
        &mut self,
        state: &mut ScriptState,
        exec: WastExecute<'_>,
        results: &[WastRet<'_>],
    ) -> Step {
        let expected = match results
            .iter()
            .map(expectation)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(expected) => expected,
            Err(reason) => {
                // A module that did not load is the first reason the call cannot be made.
                let module = match &exec {
                    WastExecute::Invoke(invoke) => invoke.module,
                    WastExecute::Get { module, .. } => *module,
                    WastExecute::Wat(_) => None,
                };
                if !matches!(exec, WastExecute::Wat(_))
                    && let Err(outcome) = state.module(module)
                {
                    return Ok(outcome);
                }
                return Ok(Outcome::Skipped(reason));
            }
        };
        if let WastExecute::Wat(mut module) = exec {
            let wasm = match self.action_module(state, &mut module)? {
                Ok(wasm) => wasm,
                Err(outcome) => return Ok(outcome),
            };
            return Ok(match self.load_transient(&wasm)? {
                Ok(()) => compare(&[], &expected),
                Err(refusal) => refused(&refusal, "the engine refused the module"),
            });
        }
        Ok(match self.execute(state, &exec)? {
            Ok(Ok(values)) => compare(&values, &expected),
            Ok(Err(trap)) => Outcome::Failed(format!(
                "expected {}, trapped: {trap}",
                expectations_text(&expected)
            )),
            Err(outcome) => outcome,
        })
    }

    fn assert_trap(
        &mut self,
        state: &mut ScriptState,
        exec: WastExecute<'_>,
        message: &str,
    ) -> Step {
        if let WastExecute::Wat(mut module) = exec {
            let wasm = match self.action_module(state, &mut module)? {
                Ok(wasm) => wasm,
                Err(outcome) => return Ok(outcome),
            };
            return Ok(match self.load_transient(&wasm)? {
                Ok(()) => Outcome::Failed(format!(
                    "expected instantiation to trap \"{message}\", but the module loaded"
                )),
                Err(Refusal {
                    kind: RefusalKind::Instantiation(trap),
                    ..
                }) if trap_matches(&trap, message) => Outcome::Passed,
                Err(Refusal {
                    kind: RefusalKind::Unsupported(feature),
                    ..
                }) => Outcome::Skipped(unsupported_reason(&feature)),
                Err(Refusal {
                    kind: RefusalKind::Instantiation(trap),
                    message: engine_message,
                }) => Outcome::Failed(format!(
                    "expected instantiation to trap \"{message}\", it failed with \"{trap}\": \
                     {engine_message}"
                )),
                Err(refusal) => Outcome::Failed(format!(
                    "expected instantiation to trap \"{message}\", the engine refused the \
                     module: {}",
                    refusal.message
                )),
            });
        }
        Ok(match self.execute(state, &exec)? {
            Ok(Err(trap)) if trap_matches(&trap, message) => Outcome::Passed,
            Ok(Err(trap)) => {
                Outcome::Failed(format!("expected trap \"{message}\", trapped: {trap}"))
            }
            Ok(Ok(values)) => Outcome::Failed(format!(
                "expected trap \"{message}\", returned {}",
                values_text(&values)
            )),
            Err(outcome) => outcome,
        })
    }

    fn assert_unlinkable(&mut self, state: &mut ScriptState, wasm: &[u8], message: &str) -> Step {
        let linked = match self.link(state, wasm)? {
            Linked::Unlinkable { words, .. } if message_matches(words, message) => {
                return Ok(Outcome::Passed);
            }
            Linked::Unlinkable {
                words,
                message: why,
            } => {
                return Ok(Outcome::Failed(format!(
                    "expected a link error \"{message}\", got \"{words}\": {why}"
                )));
            }
            Linked::Skip(reason) => {
                state.diverge_providers(wasm, &reason);
                return Ok(Outcome::Skipped(reason));
            }
            Linked::Fail(why) => return Ok(Outcome::Failed(why)),
            Linked::Load { wasm, .. } => wasm,
        };
        Ok(match self.load_transient(&linked)? {
            Ok(()) => Outcome::Failed(format!(
                "expected a link error \"{message}\", but the module linked"
            )),
            Err(Refusal {
                kind: RefusalKind::Link(words),
                ..
            }) if message_matches(words, message) => Outcome::Passed,
            Err(Refusal {
                kind: RefusalKind::Link(words),
                message: why,
            }) => Outcome::Failed(format!(
                "expected a link error \"{message}\", got \"{words}\": {why}"
            )),
            Err(Refusal {
                kind: RefusalKind::Unsupported(feature),
                ..
            }) => {
                state.diverge_providers(wasm, &unsupported_reason(&feature));
                Outcome::Skipped(unsupported_reason(&feature))
            }
            Err(refusal) => Outcome::Failed(format!(
                "expected a link error \"{message}\", the engine refused the module for \
                 another reason: {}",
                refusal.message
            )),
        })
    }

    /// `assert_invalid` / `assert_malformed` of a binary: the engine must refuse it as invalid.
    ///
    /// For `assert_invalid`, validation comes before linking in the spec, so the runner first
    /// defines spectest's imports where the module re-encodes (an engine that refuses such
    /// imports before validating would otherwise never see the invalid part). A malformed
    /// module is sent exactly as written: re-encoding would repair its encoding.
    fn expect_refusal(
        &mut self,
        state: &ScriptState,
        wasm: Vec<u8>,
        what: &str,
        message: &str,
    ) -> Step {
        let invalid = what == INVALID;
        let wasm = match invalid.then(|| self.link(state, &wasm)) {
            Some(Ok(Linked::Load { wasm, .. })) => wasm,
            Some(Err(Abort(why))) if !why.starts_with(GLOBAL_READ_FAILED) => {
                return Err(Abort(why));
            }
            _ => wasm,
        };
        Ok(match self.load_transient(&wasm)? {
            Ok(()) => Outcome::Failed(format!(
                "expected {what} (\"{message}\") to be refused, but the engine loaded it"
            )),
            Err(Refusal {
                kind: RefusalKind::Invalid,
                ..
            }) => Outcome::Passed,
            Err(Refusal {
                kind: RefusalKind::Unsupported(feature),
                ..
            }) => Outcome::Skipped(unsupported_reason(&feature)),
            // An engine that refuses an import it cannot link before it has validated the
            // whole module (the firmware compiles section by section) never reached what makes
            // the module invalid.
            Err(Refusal {
                kind: RefusalKind::Link(_),
                message: why,
            }) => Outcome::Skipped(unsupported_reason(&format!(
                "refuses an import before validating the module ({why})"
            ))),
            Err(refusal) => Outcome::Failed(format!(
                "expected {what} (\"{message}\") to be refused as invalid, the engine refused \
                 it for another reason: {}",
                refusal.message
            )),
        })
    }

    /// Encodes and links a module used as an assertion's action (`assert_return (module
    /// ...)`, `assert_trap (module ...)`), or the outcome that settles the assertion without
    /// loading it.
    fn action_module(
        &mut self,
        state: &mut ScriptState,
        module: &mut Wat<'_>,
    ) -> Result<Result<Vec<u8>, Outcome>, Abort> {
        if matches!(module, Wat::Component(_)) {
            return Ok(Err(Outcome::Skipped(reason::COMPONENTS.into())));
        }
        let wasm = match module.encode() {
            Ok(wasm) => wasm,
            Err(error) => {
                return Ok(Err(Outcome::Failed(format!(
                    "the module's text does not parse: {}",
                    one_line(&error.to_string())
                ))));
            }
        };
        Ok(match self.link(state, &wasm)? {
            Linked::Load { wasm, .. } => Ok(wasm),
            Linked::Skip(reason) => {
                state.diverge_providers(&wasm, &reason);
                Err(Outcome::Skipped(reason))
            }
            Linked::Fail(why) => Err(Outcome::Failed(why)),
            Linked::Unlinkable { words, message } => Err(Outcome::Failed(format!(
                "the module does not link ({words}): {message}"
            ))),
        })
    }

    /// Loads a module that an assertion expects to fail, and unloads it again if it loads.
    /// The inner error is the engine's refusal.
    fn load_transient(&mut self, wasm: &[u8]) -> Result<Result<(), Refusal>, Abort> {
        let name = self.next_name();
        match self.engine.load(&name, wasm) {
            Ok(module) => match self.engine.unload(module) {
                Err(EngineError::Broken(why)) => Err(Abort(why)),
                _ => Ok(Ok(())),
            },
            Err(EngineError::Refused(refusal)) => Ok(Err(refusal)),
            Err(EngineError::Failed(why)) => Ok(Err(Refusal::new(RefusalKind::Other, why))),
            Err(EngineError::Broken(why)) => Err(Abort(why)),
        }
    }
}

/// Compares returned values with the expectations.
fn compare(values: &[Value], expected: &[Expected]) -> Outcome {
    if all_accepted(values, expected) {
        Outcome::Passed
    } else {
        Outcome::Failed(format!(
            "expected {}, got {}",
            expectations_text(expected),
            values_text(values)
        ))
    }
}

/// Whether a module is a component (not a core module).
fn is_component(module: &QuoteWat<'_>) -> bool {
    matches!(
        module,
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
    )
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
        WastExecute::Get { module, global, .. } => match module {
            Some(id) => format!("(get ${} \"{global}\")", id.name()),
            None => format!("(get \"{global}\")"),
        },
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
        text.push(' ');
        text.push_str(&argument_label(arg));
    }
    text.push(')');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal naming value types is grouped by the types; otherwise numbers in the engine's
    /// words become `N`, and type names and identifiers keep their digits.
    #[test]
    fn unsupported_reasons_group_by_feature() {
        assert_eq!(
            unsupported_reason("function 12 has function type (param i64) (result f32)"),
            "unsupported by the engine: i64, f32 values"
        );
        assert_eq!(
            unsupported_reason("operator `f64.add` at offset 0x1f2 in function 3"),
            "unsupported by the engine: f64 values"
        );
        assert_eq!(
            unsupported_reason("local of type i64"),
            "unsupported by the engine: i64 values"
        );
        assert_eq!(
            unsupported_reason("passive data segment at offset 0x1f2 in function 3"),
            "unsupported by the engine: passive data segment at offset N in function N"
        );
        assert_eq!(
            unsupported_reason("import `spectest.print_i32` is not a function"),
            "unsupported by the engine: import `spectest.print_i32` is not a function"
        );
    }
}
