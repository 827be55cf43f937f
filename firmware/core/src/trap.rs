//! The trap path, platform-independent half: how what a platform caught while a plugin ran
//! becomes a [`TrapRecord`].
//!
//! ```text
//! CPU exception at CPL 3 (board: IDT stub -> board `trap.rs`; harness: signal -> `platform.rs`)
//!   -> Fault::from_exception(vector, error code)  (the error code kept only where the CPU
//!                                                  pushes one: pushes_error_code)
//!   -> RawFault { eip, fault, registers }          -> Abort::Fault   -> Platform::enter returns
//! PIT/timer past the deadline -> RawFault { fault: Budget }         -> Abort::Fault
//! an import or memory.grow that refuses -> import_trap(kind, return EIP) -> Abort::Trap
//!   -> Plugin::call: record(module, fault) -> CompiledModule::trap_record (EIP -> wasm function
//!      and byte offset through the source map; vector -> TrapKind)
//!   -> Outcome::Trapped(TrapRecord) -> the service: stats, policy, Event::Trap
//! ```

use crate::compiler::{CompiledModule, Fault};
use plugin_format::trap::{Registers, TrapKind, TrapRecord};

/// A fault the platform caught while the plugin ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFault {
    /// EIP: a linear address, as the CPU saw it (the code segment's base is 0). The runtime
    /// subtracts the code region's base, so trap records carry code offsets.
    pub eip: u32,
    /// What happened.
    pub fault: Fault,
    /// The registers, when captured.
    pub registers: Option<Registers>,
}

impl RawFault {
    /// What a platform reports when an invocation ended early but no handler left a reason (a
    /// platform bug, never a plugin's doing): an unknown exception at EIP 0.
    pub const UNKNOWN: RawFault = RawFault {
        eip: 0,
        fault: Fault::Exception {
            vector: UNKNOWN_VECTOR,
            error_code: None,
        },
        registers: None,
    };
}

/// The vector [`RawFault::UNKNOWN`] reports.
pub const UNKNOWN_VECTOR: u8 = 0xFF;

/// Why an invocation ended early, as reported by the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abort {
    /// A CPU fault or the budget, at an EIP in the plugin.
    Fault(RawFault),
    /// An import or `memory.grow` trapped (its record is already complete).
    Trap(TrapRecord),
}

impl Abort {
    /// [`RawFault::UNKNOWN`], as an abort.
    pub const UNKNOWN: Abort = Abort::Fault(RawFault::UNKNOWN);
}

/// Whether exception `vector` pushes an error code (Intel SDM vol. 3A, 6.13 "Error Code" and
/// table 6-1: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP).
pub const fn pushes_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21)
}

impl Fault {
    /// The fault for exception `vector`, keeping `error_code` only if the vector has one.
    pub fn from_exception(vector: u8, error_code: u32) -> Fault {
        Fault::Exception {
            vector,
            error_code: pushes_error_code(vector).then_some(error_code),
        }
    }
}

/// The trap record of a fault caught in `module`'s code, at the code offset `fault.eip`.
pub fn record(module: &CompiledModule, fault: &RawFault) -> TrapRecord {
    module.trap_record(fault.eip, fault.fault, fault.registers)
}

/// The trap record of an import (or `memory.grow`, or a budget found spent when an import
/// returns) that ends the invocation with `kind`. `return_eip` is the plugin's far call's return
/// address as a code offset; one byte back lies inside the call, which the source map attributes to the calling
/// operator.
pub fn import_trap(module: &CompiledModule, kind: TrapKind, return_eip: u32) -> TrapRecord {
    let eip = return_eip.wrapping_sub(1);
    let entry = module.locate(eip);
    TrapRecord {
        kind,
        function: entry.map(|entry| entry.function),
        offset: entry.map(|entry| entry.wasm_offset),
        vector: None,
        error_code: None,
        eip,
        registers: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list of vectors with an error code is the SDM's, on every platform.
    #[test]
    fn error_code_vectors_are_the_sdms() {
        let with: alloc::vec::Vec<u8> = (0..32).filter(|&v| pushes_error_code(v)).collect();
        assert_eq!(with, [8, 10, 11, 12, 13, 14, 17, 21]);
        assert_eq!(
            Fault::from_exception(0, 0x55),
            Fault::Exception {
                vector: 0,
                error_code: None
            }
        );
        assert_eq!(
            Fault::from_exception(13, 0x18),
            Fault::Exception {
                vector: 13,
                error_code: Some(0x18)
            }
        );
    }
}
