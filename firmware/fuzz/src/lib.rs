//! kplug's fuzzers, after Wasmtime's `crates/fuzzing`: generators, oracles and checks that the
//! `kplug-fuzz` binary runs for as long as asked and the tests run briefly in CI.
//!
//! - [`differential`]: random valid, terminating programs of a [`subset::Subset`]
//!   ([`generator`]) run in the JIT in both isolation modes in the silicon harness ([`jit`],
//!   i686 Linux only) and in `wasmi` ([`oracle`]); results, trap kinds, final memory and globals
//!   must agree ([`observation`]).
//! - [`compiler`]: random (`wasm-smith`, every feature) and mutated modules through `compile` in
//!   both modes: no panic, only typed errors, bounded work.
//! - [`descriptions`]: random and mutated plugin descriptions and upload sequences through
//!   postcard decoding and the plugin service on a fake platform: no panic, typed errors, and
//!   nothing asked of the platform beyond the documented limits.
//! - [`frames`]: batches of bad host-link frames and the count a server must report.
//! - [`mutate`]: byte-level mutations shared by the fuzzers (and the frame fuzzer in the host
//!   tool).
//! - [`reduce`]: shrinks a failing program under a deterministic step budget.
//! - [`reproducer`]: what a fuzzer found, saved under `firmware/fuzz/regressions/` and replayed
//!   by the regression tests.
//! - [`settings`]: the brief runs' counts and seed from the environment.

pub mod compiler;
#[cfg(target_pointer_width = "64")]
pub mod descriptions;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod differential;
pub mod frames;
pub mod generator;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod jit;
pub mod measure;
pub mod mutate;
pub mod observation;
pub mod oracle;
pub mod reduce;
pub mod reproducer;
pub mod settings;
pub mod subset;
