//! Trap codes and trap records: why a plugin invocation was aborted, and where.
//!
//! [`TrapKind`] is part of the generated-code ABI (the JIT loads these codes into a register
//! before jumping to the trap stub), so its discriminants are fixed. On the wire it is encoded as
//! that same `u32` code, not as a postcard variant index.

use core::fmt;
use serde::{Deserialize, Serialize};

/// Why an invocation trapped. Codes are stable: never reuse or renumber one.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u32", try_from = "u32")]
pub enum TrapKind {
    /// `unreachable` was executed.
    Unreachable = 1,
    /// Integer division or remainder by zero.
    IntegerDivideByZero = 2,
    /// `i32.div_s` of `INT_MIN / -1`, or a float-to-int conversion out of range.
    IntegerOverflow = 3,
    /// A linear-memory access outside the memory.
    OutOfBounds = 4,
    /// The plugin's stack is exhausted (too deep recursion).
    StackExhausted = 5,
    /// `call_indirect` through an uninitialised table element.
    IndirectCallNull = 6,
    /// `call_indirect` with an index past the end of the table.
    IndirectCallOutOfRange = 7,
    /// `call_indirect` to a function of the wrong type.
    IndirectCallSignature = 8,
    /// The invocation ran past its time budget and was preempted.
    BudgetExceeded = 9,
    /// A #GP (vector 13) not attributable to a wasm trap.
    GeneralProtection = 10,
    /// A #SS (vector 12) not attributable to stack exhaustion.
    StackFault = 11,
    /// A #UD (vector 6).
    InvalidOpcode = 12,
    /// A #NP (vector 11).
    SegmentNotPresent = 13,
    /// An #AC (vector 17).
    AlignmentCheck = 14,
    /// Any other CPU exception; the record carries the vector.
    OtherException = 15,
    /// A firmware import rejected an argument (a pointer/length outside the plugin's memory).
    ImportFault = 16,
    /// A trapping float-to-integer conversion of a NaN.
    InvalidConversion = 17,
}

impl TrapKind {
    /// Every trap kind, in code order.
    pub const ALL: [TrapKind; 17] = [
        TrapKind::Unreachable,
        TrapKind::IntegerDivideByZero,
        TrapKind::IntegerOverflow,
        TrapKind::OutOfBounds,
        TrapKind::StackExhausted,
        TrapKind::IndirectCallNull,
        TrapKind::IndirectCallOutOfRange,
        TrapKind::IndirectCallSignature,
        TrapKind::BudgetExceeded,
        TrapKind::GeneralProtection,
        TrapKind::StackFault,
        TrapKind::InvalidOpcode,
        TrapKind::SegmentNotPresent,
        TrapKind::AlignmentCheck,
        TrapKind::OtherException,
        TrapKind::ImportFault,
        TrapKind::InvalidConversion,
    ];

    /// The trap kind with this code, if any.
    pub const fn from_u32(code: u32) -> Option<TrapKind> {
        Some(match code {
            1 => TrapKind::Unreachable,
            2 => TrapKind::IntegerDivideByZero,
            3 => TrapKind::IntegerOverflow,
            4 => TrapKind::OutOfBounds,
            5 => TrapKind::StackExhausted,
            6 => TrapKind::IndirectCallNull,
            7 => TrapKind::IndirectCallOutOfRange,
            8 => TrapKind::IndirectCallSignature,
            9 => TrapKind::BudgetExceeded,
            10 => TrapKind::GeneralProtection,
            11 => TrapKind::StackFault,
            12 => TrapKind::InvalidOpcode,
            13 => TrapKind::SegmentNotPresent,
            14 => TrapKind::AlignmentCheck,
            15 => TrapKind::OtherException,
            16 => TrapKind::ImportFault,
            17 => TrapKind::InvalidConversion,
            _ => return None,
        })
    }

    /// The stable code.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// Human text; for wasm traps, the wording of the WebAssembly spec tests' `assert_trap`.
    pub const fn message(self) -> &'static str {
        match self {
            TrapKind::Unreachable => "unreachable",
            TrapKind::IntegerDivideByZero => "integer divide by zero",
            TrapKind::IntegerOverflow => "integer overflow",
            TrapKind::OutOfBounds => "out of bounds memory access",
            TrapKind::StackExhausted => "call stack exhausted",
            TrapKind::IndirectCallNull => "uninitialized element",
            TrapKind::IndirectCallOutOfRange => "undefined element",
            TrapKind::IndirectCallSignature => "indirect call type mismatch",
            TrapKind::BudgetExceeded => "budget exceeded",
            TrapKind::GeneralProtection => "general protection fault",
            TrapKind::StackFault => "stack-segment fault",
            TrapKind::InvalidOpcode => "invalid opcode",
            TrapKind::SegmentNotPresent => "segment not present",
            TrapKind::AlignmentCheck => "alignment check",
            TrapKind::OtherException => "CPU exception",
            TrapKind::ImportFault => "import rejected an argument",
            TrapKind::InvalidConversion => "invalid conversion to integer",
        }
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<TrapKind> for u32 {
    fn from(kind: TrapKind) -> u32 {
        kind.as_u32()
    }
}

impl TryFrom<u32> for TrapKind {
    type Error = UnknownTrapCode;

    fn try_from(code: u32) -> Result<TrapKind, UnknownTrapCode> {
        TrapKind::from_u32(code).ok_or(UnknownTrapCode(code))
    }
}

/// A `u32` that is not a [`TrapKind`] code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownTrapCode(pub u32);

impl fmt::Display for UnknownTrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown trap code {}", self.0)
    }
}

impl core::error::Error for UnknownTrapCode {}

/// An aborted invocation: what happened and where.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrapRecord {
    /// Why.
    pub kind: TrapKind,
    /// The wasm function index, when EIP maps into generated code.
    pub function: Option<u32>,
    /// The byte offset in the module of the trapping instruction, when known.
    pub offset: Option<u32>,
    /// The CPU exception vector, when the trap came from one.
    pub vector: Option<u8>,
    /// The exception's error code, for vectors that push one.
    pub error_code: Option<u32>,
    /// EIP at the trap (an offset in the plugin's code segment when it trapped at CPL 3).
    pub eip: u32,
    /// The register file at the trap, when captured.
    pub registers: Option<Registers>,
}

impl fmt::Display for TrapRecord {
    /// `integer divide by zero in function 3 at offset 0x1a2 (vector 0, eip 0x40)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(function) = self.function {
            write!(f, " in function {function}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " at offset {offset:#x}")?;
        }
        if let Some(vector) = self.vector {
            write!(f, " (vector {vector}")?;
            if let Some(error_code) = self.error_code {
                write!(f, ", error code {error_code:#x}")?;
            }
            write!(f, ", eip {:#x})", self.eip)?;
        }
        Ok(())
    }
}

/// The i386 register file at a trap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Registers {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
    /// ESI.
    pub esi: u32,
    /// EDI.
    pub edi: u32,
    /// EBP.
    pub ebp: u32,
    /// ESP.
    pub esp: u32,
    /// EFLAGS.
    pub eflags: u32,
    /// CS selector.
    pub cs: u16,
    /// DS selector.
    pub ds: u16,
    /// SS selector.
    pub ss: u16,
}
