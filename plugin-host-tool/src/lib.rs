//! The library behind `kplug`: building and flashing firmware, launching emulated boards, and
//! talking to a board over its serial console (COM1) and host link (COM2).
//!
//! The CLI in `src/main.rs` is a thin layer over these modules; `qemu-tests` and later commands
//! use them directly.
//!
//! | module | what it does |
//! | --- | --- |
//! | [`workspace`] | finds the kplug workspace and runs the firmware build |
//! | [`flash`] | turns a firmware ELF into a 4 MiB flash image |
//! | [`board`] | starts, lists and stops QEMU and Bochs boards; the board configuration block |
//! | [`transport`] | one byte pipe over a serial device, a Unix socket or TCP, with timeouts |
//! | [`link`] | the host-link client: framed requests, responses and events |
//! | [`plugin`] | reads, checks and uploads plugins; list, invoke, unload, trap policy |
//! | [`signing`] | Ed25519 key files (`kplug keygen`), plugin and key-change signatures |
//! | [`store`] | the plugin store over the link: signed/persisted uploads, list, remove, erase, keys |
//! | [`refusal`] | a firmware's refusal of a feature in the author's terms: feature, function name, flag |
//! | [`scaffold`] | `kplug new`: plugin projects (Rust on the SDK, C on kplug.h, WAT) that build with stock tools |
//! | [`local`] | the silicon harness as a local board: built, started, its pipes a transport |
//! | [`mod@wast`] | runs `.wast` scripts against an engine: a board or the silicon harness |
//! | [`features`] | which WebAssembly features a module uses, by proposal, and where |
//! | [`console`] | a scriptable client for the line-edited console on COM1 |
//! | [`defmt_log`] | decodes the firmware's defmt log stream with the ELF's `.defmt` table |
//! | [`bench`] | `kplug bench`: the benchmarks in the silicon harness or on a board, targets, table, plot |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod board;
pub mod channel;
pub mod console;
pub mod defmt_log;
pub mod features;
pub mod flash;
pub mod link;
pub mod local;
pub mod plugin;
pub mod refusal;
pub mod scaffold;
pub mod signing;
pub mod store;
pub mod transport;
pub mod wast;
pub mod workspace;

pub use plugin_format;
