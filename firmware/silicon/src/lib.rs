//! The silicon harness: kplug's plugin core running plugins on the real CPU, each in its own
//! LDT segments at CPL 3 of a 32-bit Linux process (see ARCHITECTURE.md, "Testing tiers").
//! Everything but the CLI's fallback message exists only on `i686-unknown-linux-gnu`.
//!
//! - [`Silicon`] implements `kplug_core::Platform`: `mmap`ed regions with guard pages, four LDT
//!   entries per plugin ([`ldt`]), entry/exit/import trampolines ([`trampoline`]) and the
//!   signal handlers that turn faults in plugin code into trap records ([`platform`]).
//! - [`host`]: the import implementations (print/collect, a fake GPIO latch, clocks).
//! - [`cli`]: `kplug-silicon run` and `kplug-silicon serve`; [`mod@bench`]: `kplug-silicon bench`.
//!
//! # `serve` protocol (JSON lines on stdin/stdout, one reply per request)
//!
//! ```text
//! {"op":"load","module":"<hex wasm>","name":"n","isolation":"hardware"|"software",
//!  "limits":{"max_memory_pages":4,"stack_bytes":16384,"budget_us":10000}}
//!   -> {"ok":true,"id":0,"code_bytes":..,"wasm_code_bytes":..,"imports":["env.log"],"load_us":..,"logs":[..]}
//!   |  {"ok":false,"kind":"compile"|"link"|"load"|"trap"|"request","error":"..."[,"trap":{..}]}
//! {"op":"invoke","id":0,"export":"f","args":[1,"0xffffffff",-2]}
//!   -> {"ok":true,"results":[3],"logs":[..],"emitted":"<hex>"}
//!   |  {"ok":true,"trap":{"kind":"out of bounds memory access","code":4,"function":2,
//!       "offset":111,"vector":13,"error_code":0,"eip":63,"text":".."},"logs":[..],"emitted":".."}
//!   |  {"ok":false,"kind":"invoke","error":"no exported function `g`"}
//! {"op":"unload","id":0}  -> {"ok":true}
//! {"op":"stats"}          -> {"ok":true,"plugins":[{"id","name","invocations","traps",
//!                             "code_bytes","memory_bytes","last"}],"ldt_entries":N}
//! ```
//!
//! `limits` fields are optional (defaults from `plugin_format::plugin`); `budget_us: 0` means
//! no budget. The budget is enforced with a per-thread 1 ms `SIGALRM` timer
//! (`timer_create`, `SIGEV_THREAD_ID`), so a call is aborted within one tick past it.

#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod bench;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod cli;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod host;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod ldt;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod link;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod platform;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod trampoline;

#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub use platform::Silicon;
