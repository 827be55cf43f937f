//! The generated-code ABI: what the JIT's output assumes about registers, segments, the context
//! block, anchors, calling conventions and traps. The board firmware and the silicon harness both
//! implement the other side of this contract, so the same code runs in both.
//!
//! # Segments
//!
//! | register | segment | base / limit |
//! | --- | --- | --- |
//! | CS | the plugin's code | base = code region, limit = code size - 1; readable (jump tables are read through `cs:`) |
//! | DS | the plugin's linear memory | base = memory, limit = memory size - 1 in [`Isolation::Hardware`](crate::Isolation); non-limiting (4 GiB) in software mode. An empty memory is an expand-down segment that admits no offset |
//! | SS | the plugin's stack | a separate region: linear-memory stores can never reach return addresses. Offsets 0..stack size |
//! | FS | the plugin's context block ([`ContextHeader`] + globals + table + import far pointers) | exact limit |
//! | ES, GS | unused by generated code | ES is never loaded on the invocation path (no string instructions are emitted); GS stays the host's (the i386 Linux TLS segment in the harness) |
//!
//! `[ebp+..]`/`[esp+..]` operands use SS; `[reg+..]` with any other base uses DS; context operands
//! carry an explicit `fs:` prefix. All code addresses are offsets in CS, so code is position
//! independent and can be copied anywhere.
//!
//! # Registers
//!
//! - EAX, ECX, EDX: value-stack registers, caller-saved. EAX carries results.
//! - EBX, ESI, EDI: a function keeps its (up to three) hottest locals in EDI, ESI, EBX, in that
//!   order ("pinned" locals, chosen by a pre-scan weighted by loop depth). A function that pins
//!   a register saves it below EBP in its prologue and restores it before `ret`, so these are
//!   callee-saved across wasm calls; registers a function does not pin serve its value stack.
//!   Every other live value is spilled before a call.
//! - EBP: the frame pointer; ESP: the stack pointer (both in SS).
//! - Imports and `memory.grow` (far calls) preserve EBX, ESI, EDI and EBP and may clobber EAX,
//!   ECX, EDX and the flags. The direction flag is never set.
//!
//! # Frames and calls between wasm functions
//!
//! Arguments are pushed in order (parameter 0 first, so it ends at the highest address), then
//! `call near`; the callee pops them with `ret 4*N`. The result is in EAX. Frame (P = pinned
//! registers saved, L = non-parameter locals):
//!
//! ```text
//! [ebp + 8 + 4*(N-1-i)]       parameter i (a pinned parameter is loaded into its register)
//! [ebp + 4]                   return address
//! [ebp + 0]                   caller's EBP
//! [ebp - 4*(k+1)]             saved pinned register k (k < P)
//! [ebp - 4*P - 4*(j+1)]       non-parameter local j (zeroed by the prologue)
//! [ebp - 4*(P+L) - 4*(d+1)]   spill slot of value-stack depth d
//! ```
//!
//! # Entry and exit
//!
//! Code offset [`ENTRY_ANCHOR`] (0) holds the entry stub:
//!
//! ```text
//! 0x00  call dword fs:[ENTRY_TARGET]   ; near call to the export (its code offset is in the context)
//! 0x07  call far fword fs:[EXIT]       ; leave the plugin: board = call gate to ring 0,
//!                                      ; harness = the flat exit trampoline
//! 0x0E  ud2                            ; never reached
//! ```
//!
//! The runtime writes the export's code offset to [`ContextHeader::entry_target`], the arguments
//! to the top of the plugin stack (the last argument at the lowest address, leaving
//! [`STACK_TOP_RESERVE`] bytes above them for the exit far call), loads FS, DS and SS:ESP and
//! transfers to CS:0 — on the board with one `retf` to CPL 3 (which loads CS and SS:ESP
//! together), in the harness with one far `jmp`. The result comes back in EAX. See
//! `firmware/silicon/src/trampoline.rs` for the transitions the harness pays for.
//!
//! # Imports and `memory.grow`
//!
//! `call far fword fs:[IMPORTS + 8*i]` with the arguments pushed as for a wasm call. The callee
//! returns with `retf 4*N`, result in EAX. On the board each far pointer's selector is a call gate
//! (DPL 3, parameter count N) to ring 0 installed by `link`; in the harness it is the flat user
//! code segment and a per-symbol trampoline. `memory.grow` is `push delta ; call far
//! fs:[GROW] ; mov ds, fs:[DATA_SELECTOR]`: the runtime raises the data segment's limit (or
//! moves the memory) and the code reloads DS so the new descriptor takes effect.
//!
//! # Traps
//!
//! Every wasm trap site is a `ud2` in an out-of-line stub at the end of its function, listed in
//! [`CompiledModule::trap_sites`](crate::CompiledModule) with its [`TrapKind`]. CPU faults (#GP
//! from a data-segment limit, #SS from the stack limit, #DE) are mapped through the source map
//! (code offset -> wasm function and byte offset, with the kind of operator) by
//! [`CompiledModule::trap_record`](crate::CompiledModule::trap_record). Out-of-bounds accesses
//! are #GP in hardware mode (limit) and a `ud2` stub in software mode (explicit check); stack
//! exhaustion is #SS in hardware mode and a prologue check in software mode. In both modes an
//! address + offset that carries past 4 GiB jumps to an out-of-bounds stub.

pub use plugin_format::trap::TrapKind;

/// Code offset of the entry stub (see the module docs).
pub const ENTRY_ANCHOR: u32 = 0;

/// Bytes kept free at the top of the plugin stack for the exit far call's return frame.
pub const STACK_TOP_RESERVE: u32 = 16;

/// Bytes every software-mode prologue check keeps in reserve beyond the function's own frame
/// and outgoing arguments (room for the return address of the next call).
pub const STACK_CHECK_RESERVE: u32 = 16;

/// The type id of an empty table element.
pub const NULL_TYPE_ID: u32 = u32::MAX;

/// A far pointer as `call far m16:32` reads it: offset, then selector.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FarPointer {
    /// Offset in the target segment (ignored for a call gate).
    pub offset: u32,
    /// Selector: a code segment or a call gate.
    pub selector: u16,
    /// Padding, zero.
    pub padding: u16,
}

impl FarPointer {
    /// The null far pointer: calling through it raises #GP.
    pub const NULL: FarPointer = FarPointer {
        offset: 0,
        selector: 0,
        padding: 0,
    };

    /// A far pointer to `selector:offset`.
    pub const fn new(selector: u16, offset: u32) -> FarPointer {
        FarPointer {
            offset,
            selector,
            padding: 0,
        }
    }
}

/// The fixed head of a plugin's context block (the FS segment). Offsets are ABI: the generated
/// code and the platforms' trampolines hard-code them (the `*_OFFSET` constants).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextHeader {
    /// 0x00: code offset of the function the entry stub calls.
    pub entry_target: u32,
    /// 0x04: current linear-memory size in bytes (the software-mode bound).
    pub memory_bytes: u32,
    /// 0x08: current linear-memory size in pages (`memory.size`).
    pub memory_pages: u32,
    /// 0x0C: the data-segment selector the code reloads into DS after `memory.grow`.
    pub data_selector: u32,
    /// 0x10: how the entry stub leaves the plugin.
    pub exit: FarPointer,
    /// 0x18: how `memory.grow` reaches the runtime.
    pub grow: FarPointer,
    /// 0x20: the platform's saved stack pointer while the plugin runs (harness: flat ESP).
    pub host_esp: u32,
    /// 0x24: the platform's saved stack segment.
    pub host_ss: u32,
    /// 0x28: `code selector : ENTRY_ANCHOR`, for platforms that enter with a far jump.
    pub plugin_entry: FarPointer,
    /// 0x30: the plugin's stack pointer for the next entry (arguments already stored there).
    pub plugin_esp: u32,
    /// 0x34: the plugin's stack-segment selector.
    pub plugin_ss: u32,
    /// 0x38: free for the platform.
    pub platform_scratch: [u32; 2],
}

/// Offset of [`ContextHeader::entry_target`].
pub const ENTRY_TARGET_OFFSET: i32 = 0x00;
/// Offset of [`ContextHeader::memory_bytes`].
pub const MEMORY_BYTES_OFFSET: i32 = 0x04;
/// Offset of [`ContextHeader::memory_pages`].
pub const MEMORY_PAGES_OFFSET: i32 = 0x08;
/// Offset of [`ContextHeader::data_selector`].
pub const DATA_SELECTOR_OFFSET: i32 = 0x0C;
/// Offset of [`ContextHeader::exit`].
pub const EXIT_OFFSET: i32 = 0x10;
/// Offset of [`ContextHeader::grow`].
pub const GROW_OFFSET: i32 = 0x18;
/// Offset of [`ContextHeader::host_esp`].
pub const HOST_ESP_OFFSET: i32 = 0x20;
/// Offset of [`ContextHeader::host_ss`].
pub const HOST_SS_OFFSET: i32 = 0x24;
/// Offset of [`ContextHeader::plugin_entry`].
pub const PLUGIN_ENTRY_OFFSET: i32 = 0x28;
/// Offset of [`ContextHeader::plugin_esp`].
pub const PLUGIN_ESP_OFFSET: i32 = 0x30;
/// Offset of [`ContextHeader::plugin_ss`].
pub const PLUGIN_SS_OFFSET: i32 = 0x34;
/// Size of [`ContextHeader`]; the globals start here.
pub const CONTEXT_HEADER_BYTES: u32 = 0x40;

const _: () = {
    assert!(core::mem::size_of::<ContextHeader>() == CONTEXT_HEADER_BYTES as usize);
    assert!(core::mem::offset_of!(ContextHeader, memory_bytes) == MEMORY_BYTES_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, memory_pages) == MEMORY_PAGES_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, data_selector) == DATA_SELECTOR_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, exit) == EXIT_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, grow) == GROW_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, host_esp) == HOST_ESP_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, host_ss) == HOST_SS_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, plugin_entry) == PLUGIN_ENTRY_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, plugin_esp) == PLUGIN_ESP_OFFSET as usize);
    assert!(core::mem::offset_of!(ContextHeader, plugin_ss) == PLUGIN_SS_OFFSET as usize);
};

/// One `call_indirect` table element in the context block.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableEntry {
    /// Code offset of the function.
    pub code_offset: u32,
    /// Canonical type id of the function, or [`NULL_TYPE_ID`] for an empty element.
    pub type_id: u32,
}

impl TableEntry {
    /// An empty element: `call_indirect` through it traps with `IndirectCallNull`.
    pub const NULL: TableEntry = TableEntry {
        code_offset: 0,
        type_id: NULL_TYPE_ID,
    };
}

/// Where the variable parts of one module's context block live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextLayout {
    /// Offset of global 0 (4 bytes each).
    pub globals_offset: u32,
    /// Offset of table element 0 ([`TableEntry`], 8 bytes each).
    pub table_offset: u32,
    /// Offset of import 0's [`FarPointer`] (8 bytes each).
    pub imports_offset: u32,
    /// Total size of the context block in bytes.
    pub size: u32,
}

impl ContextLayout {
    /// The layout for `globals` globals, `table` elements and `imports` imports.
    pub fn new(globals: u32, table: u32, imports: u32) -> ContextLayout {
        let globals_offset = CONTEXT_HEADER_BYTES;
        let table_offset = globals_offset + 4 * globals;
        let imports_offset = table_offset + 8 * table;
        ContextLayout {
            globals_offset,
            table_offset,
            imports_offset,
            size: imports_offset + 8 * imports,
        }
    }
}
