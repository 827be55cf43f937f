//! The generated-code ABI: what the JIT's output assumes about registers, segments, the context
//! block, anchors, calling conventions and traps. The board firmware and the silicon harness both
//! implement the other side of this contract, so the same code runs in both.
//!
//! # Segments
//!
//! | register | segment | base / limit |
//! | --- | --- | --- |
//! | CS | the plugin's code | execute-only, base = 0, limit = the code region's last byte (see "Code addresses") |
//! | DS | the plugin's linear memory | base = memory, limit = memory size - 1 in [`Isolation::Hardware`](crate::Isolation); non-limiting (4 GiB) in software mode. An empty memory is an expand-down segment that admits no offset |
//! | SS | the plugin's stack | a separate region: linear-memory stores can never reach return addresses. Offsets 0..stack size |
//! | FS | the plugin's context block ([`ContextHeader`] + globals + table + import far pointers) | exact limit |
//! | ES, GS | ES: the destination of bulk-memory string instructions only; GS unused | ES is whatever the platform left (the harness: its flat data segment; the board: null). A bulk-memory operator saves it, loads DS into it, runs `rep movs`/`rep stos` and restores it (`push es ; push ds ; pop es ; ... ; pop es`), so it is the caller's again at every operator boundary; a fault or the budget in between ends the invocation, and both platforms' abort paths reload ES. GS stays the host's (the i386 Linux TLS segment in the harness) |
//!
//! `[ebp+..]`/`[esp+..]` operands use SS; `[reg+..]` with any other base uses DS; context operands
//! carry an explicit `fs:` prefix.
//!
//! # Code addresses
//!
//! The code segment has base 0 (see `segments` for why), so an EIP is a linear address: the
//! code region's base plus a *code offset*, the position in the compiled code
//! ([`CompiledModule`](crate::CompiledModule)`::code`). The compiler emits code offsets; the
//! runtime, which knows the base once the platform has placed the region, adds it where an
//! absolute address is needed: the entry (`ContextHeader::entry_target` and `plugin_entry`), the function descriptors
//! `call_indirect` jumps through ([`TableEntry::address`]), and the fields listed in
//! `CompiledModule::relocations` (each `br_table` jump's displacement). Calls and branches are
//! relative and need nothing. Return addresses and faulting EIPs are linear; the runtime
//! subtracts the base before it looks them up in the source map, so trap records carry code
//! offsets. The segment is execute-only: nothing is read through CS (jump tables are tables of
//! `jmp rel32`, passive data lives in the context block).
//!
//! # Values
//!
//! Every wasm value type has one representation in registers and one in memory (its *home*: a
//! local, a spill slot, a global, an argument or result slot). Both are little-endian bit
//! copies, so moving a value never changes it:
//!
//! | type | in registers | home | notes |
//! | --- | --- | --- | --- |
//! | `i32` (later `funcref`, `externref`) | one GPR | 4 bytes (in an 8-byte slot) | |
//! | `i64` | a GPR pair (low, high) | 8 bytes, low word first | |
//! | `f32` | its bits in one GPR | 4 bytes | never loaded onto the x87 stack to be *moved* |
//! | `f64` | its bits in a GPR pair (low, high) | 8 bytes | as `f32`; loaded and moved into a local as an x87 64-bit integer (below) |
//!
//! A plain load, store, `local.get`/`local.set`/`local.tee`, `global.get`/`global.set`,
//! `select`, `drop`, argument, result or `reinterpret` of a float moves its bits through
//! integer registers or memory and never through `fld`/`fstp` of a float (`fld` of a
//! signalling NaN quiets it). An `f64` load, and an `f64` moved from memory into a local, go
//! through the x87's 64-bit integer load and store (`fild`/`fistp` of an m64int, exact for
//! every bit pattern), so that the 8 bytes are written by one store and a later `fld` of them
//! is forwarded from it (see `masm::access`). Float *arithmetic* loads its operands from their
//! homes onto the x87 stack inside one operator and stores the result back to a home with
//! `fstp`; nothing lives on the x87 stack between two operators, so the FPU state is empty at
//! every operator boundary, at every call and at every trap.
//!
//! Spill slots are 8 bytes per value-stack depth whatever the type, so a slot's address depends
//! on the depth alone. Globals have 8-byte slots too (see [`ContextLayout`]). A module with a
//! data count section has one more, hidden, 32-bit global per data segment after its own: the
//! segment's current length for `memory.init` (a passive segment's length at instantiation, 0
//! for an active one and after `data.drop`) in its low word, and the context offset of the
//! segment's bytes in its high word: a passive segment's bytes are placed at the end of the
//! context block, where `memory.init` reads them through `fs:`. Several values joining
//! at a block boundary live in the spill slots of their depths.
//!
//! # Registers
//!
//! - EAX, ECX, EDX: value registers, caller-saved. EAX (and EDX for the high half) carry
//!   results.
//! - EBX, ESI, EDI: callee-saved across wasm calls. A function keeps its (up to three) hottest
//!   locals in EDI, ESI, EBX, in that order ("pinned" locals, chosen by the pre-scan weighted by
//!   loop depth). **Before it emits a body, the compiler fixes the set of callee-saved registers
//!   the function may touch**: its pinned registers, plus the remaining callee-saved registers
//!   if the pre-scan's bound on the operand-stack depth says the value stack may need more than
//!   the three caller-saved registers. The prologue saves every register of that set below EBP
//!   and every return restores all of them; the register allocator never hands out a
//!   callee-saved register outside the set. So the promise holds whatever the callee's locals
//!   or stack depth: a caller's pinned locals survive every call.
//! - EBP: the frame pointer; ESP: the stack pointer (both in SS).
//! - Imports and `memory.grow` (far calls) preserve EBX, ESI, EDI and EBP and may clobber EAX,
//!   ECX, EDX and the flags. The direction flag is never set.
//!
//! # Frames and calls between wasm functions
//!
//! Arguments are pushed in order (parameter 0 first, so it ends at the highest address), 4 bytes
//! for a 32-bit type and 8 for a 64-bit type (the high word pushed first, so the low word is at
//! the lower address, as in memory), then `call near`; the callee pops them with `ret A` (A = the
//! argument bytes). Results:
//!
//! - no result, or **one result of at most 64 bits**: in EAX (32-bit types) or EDX:EAX (64-bit
//!   types, EDX = high word);
//! - **more than one result** (multi-value, issue 11): every result goes
//!   through a *results area* the caller reserves (`lea esp, [esp - R]`) before it pushes the
//!   arguments. Result k lives at `[area + r_k]`, where `r_k` is the sum of the sizes (4 or 8)
//!   of results 0..k, so the area is `[ebp + 8 + A .. ebp + 8 + A + R]` in the callee and
//!   `[esp .. esp + R]` in the caller once the callee has returned with `ret A`. The caller
//!   then takes the results off the top of its stack (`add esp, R` after reading them). No
//!   pointer is passed: the area is addressed SS-relative on both sides.
//!
//! Frame (S = callee-saved registers saved, locals and slots by byte size):
//!
//! ```text
//! [ebp + 8 + ...]             parameters (parameter i at 8 + the sizes of parameters i+1..N)
//! [ebp + 4]                   return address
//! [ebp + 0]                   caller's EBP
//! [ebp - 4*(k+1)]             saved callee-saved register k (k < S)
//! [ebp - 4*S - ...]           non-parameter locals, 4 or 8 bytes each (zeroed by the prologue)
//! [ebp - 4*S - L - 8*(d+1)]   spill slot of value-stack depth d (8 bytes)
//! ```
//!
//! # Entry and exit
//!
//! Code offset [`ENTRY_ANCHOR`] (0) holds the entry stub:
//!
//! ```text
//! 0x00  jmp rel32                      ; the FPU hook: to 0x05, or to the module's FPU reset
//!                                      ; (`fninit`, control word), which jumps back to 0x05
//! 0x05  call dword fs:[ENTRY_TARGET]   ; near call to the export (its address is in the context)
//! 0x0C  mov fs:[RESULT_HIGH], edx      ; the high word of a 64-bit result
//! 0x13  call far fword fs:[EXIT]       ; leave the plugin: board = call gate to ring 0,
//!                                      ; harness = the flat exit trampoline
//! 0x1A  ud2                            ; never reached
//! ```
//!
//! The hook is patched once the module is compiled: only a module that compiled a float
//! operator pays for the FPU reset on entry, so every invocation of such a module starts from a
//! clean FPU (control word, empty stack, no pending exceptions, all exceptions masked) whatever
//! another plugin left behind.
//!
//! The runtime writes the export's address to [`ContextHeader::entry_target`], the arguments
//! to the top of the plugin stack exactly as a wasm caller pushes them (the last argument at the
//! lowest address, leaving [`STACK_TOP_RESERVE`] bytes above them for the exit far call), loads
//! FS, DS and SS:ESP and transfers to the entry stub (`plugin_entry`: the code selector and the
//! code region's base) — on the board with one `retf` to CPL 3 (which loads
//! CS and SS:ESP together), in the harness with one far `jmp`. Typed results come back as for a
//! wasm caller: the platform returns EAX, the stub stores EDX to
//! [`ContextHeader::result_high`], and an export with more than one result has its results
//! area reserved by the runtime above the arguments. See `firmware/silicon/src/trampoline.rs`
//! for the transitions the harness pays for.
//!
//! # Imports and `memory.grow`
//!
//! `call far fword fs:[IMPORTS + 8*i]` with the arguments pushed as for a wasm call. The callee
//! returns with `retf A`, result in EAX (the symbol table has only 32-bit imports today; a
//! 64-bit one would return in EDX:EAX as a wasm callee does). On the board each far pointer's selector is a call gate
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

pub use plugin_format::symbols::ValType;
pub use plugin_format::trap::TrapKind;

/// Bytes of a value of type `ty` in registers and in its home (4 or 8).
pub const fn value_bytes(ty: ValType) -> u32 {
    match ty {
        ValType::I32 | ValType::F32 | ValType::FuncRef | ValType::ExternRef => 4,
        ValType::I64 | ValType::F64 => 8,
    }
}

/// Bytes of every spill slot and global slot (the widest value).
pub const SLOT_BYTES: u32 = 8;

/// Code offset of the entry stub (see the module docs).
pub const ENTRY_ANCHOR: u32 = 0;
/// Code offset of the call in the entry stub, where the FPU hook jumps back to.
pub const ENTRY_CALL_OFFSET: u32 = 0x05;
/// Code offset of the entry stub's final `ud2`.
pub const ENTRY_STUB_UD2_OFFSET: u32 = 0x1A;

/// Bytes kept free at the top of the plugin stack for the exit far call's return frame.
pub const STACK_TOP_RESERVE: u32 = 16;

/// Bytes every software-mode prologue check keeps in reserve beyond the function's own frame
/// and outgoing arguments (room for the return address of the next call).
pub const STACK_CHECK_RESERVE: u32 = 16;

/// The type id of an empty table element.
pub const NULL_TYPE_ID: u32 = u32::MAX;

/// Bytes of one import slot in the context block: a [`FarPointer`].
pub const IMPORT_SLOT_BYTES: u32 = size_of::<FarPointer>() as u32;
/// Bytes of one table element in the context block: a [`TableEntry`].
pub const TABLE_ENTRY_BYTES: u32 = size_of::<TableEntry>() as u32;
const _: () = assert!(IMPORT_SLOT_BYTES == 8 && TABLE_ENTRY_BYTES == 8);

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
    /// 0x00: linear address of the function the entry stub calls.
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
    /// 0x28: `code selector : code base + ENTRY_ANCHOR`, where every platform enters.
    pub plugin_entry: FarPointer,
    /// 0x30: the plugin's stack pointer for the next entry (arguments already stored there).
    pub plugin_esp: u32,
    /// 0x34: the plugin's stack-segment selector.
    pub plugin_ss: u32,
    /// 0x38: free for the platform.
    pub platform_scratch: [u32; 2],
    /// 0x40: the high word (EDX) of the export's result, stored by the entry stub.
    pub result_high: u32,
    /// 0x44: reserved, zero (keeps the globals 8-byte aligned).
    pub reserved: u32,
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
/// Offset of [`ContextHeader::result_high`].
pub const RESULT_HIGH_OFFSET: i32 = 0x40;
/// Size of [`ContextHeader`]; the globals start here.
pub const CONTEXT_HEADER_BYTES: u32 = 0x48;

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
    assert!(core::mem::offset_of!(ContextHeader, result_high) == RESULT_HIGH_OFFSET as usize);
    assert!(CONTEXT_HEADER_BYTES.is_multiple_of(SLOT_BYTES));
};

/// A function descriptor in the context block: what `call_indirect` jumps to and checks. There
/// is one per function (imports first) when the module has a table; a `funcref` is the index
/// of its function's descriptor (see [`NULL_REFERENCE`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableEntry {
    /// The function's linear address (the code region's base plus its code offset).
    pub address: u32,
    /// Canonical type id of the function, or [`NULL_TYPE_ID`] for an empty element.
    pub type_id: u32,
}

impl TableEntry {
    /// A descriptor that matches no type (never reached: a null reference is refused first).
    pub const NULL: TableEntry = TableEntry {
        address: 0,
        type_id: NULL_TYPE_ID,
    };
}

/// The word of a null reference (`ref.null func`, `ref.null extern`, an empty table element).
///
/// References are one 32-bit word. A non-null `funcref` is a function index of the module
/// (imports first), which indexes the function descriptors ([`TableEntry`], 8 bytes each) in
/// the context block; the null word is above every function index, so `call_indirect`'s one
/// unsigned compare against the function count refuses null (and anything else that is not a
/// function). A non-null `externref` is the host's opaque word (`u32::MAX` cannot be one).
pub const NULL_REFERENCE: u32 = u32::MAX;

/// Where one table lives in the context block: a size word (the current element count), a
/// word holding the reserved capacity, then `capacity` elements of one reference word each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableLayout {
    /// Offset of the current-size word.
    pub size_offset: u32,
    /// Offset of element 0.
    pub entries_offset: u32,
    /// Elements reserved: `table.grow` past this returns -1.
    pub capacity: u32,
}

impl TableLayout {
    /// Bytes the table takes in the context block (size word, capacity word, elements, padded
    /// to 8); `None` if that does not fit a `u32`.
    pub fn bytes(capacity: u32) -> Option<u32> {
        let words = capacity.checked_add(2)?.checked_add(1)? & !1;
        words.checked_mul(4)
    }
}

/// Where the variable parts of one module's context block live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextLayout {
    /// Offset of global 0 ([`SLOT_BYTES`] each, the value in its low bytes).
    pub globals_offset: u32,
    /// Offset of function descriptor 0 ([`TABLE_ENTRY_BYTES`] each; none without a table).
    pub functions_offset: u32,
    /// Offset of the first table (see [`TableLayout`]).
    pub tables_offset: u32,
    /// Offset of import 0's [`FarPointer`] ([`IMPORT_SLOT_BYTES`] each).
    pub imports_offset: u32,
    /// Offset of the passive data segments' bytes (set once the data section is read; see
    /// `compiler::masm::bulk`).
    pub data_offset: u32,
    /// Total size of the context block in bytes.
    pub size: u32,
}

impl ContextLayout {
    /// The layout for `globals` globals, `descriptors` function descriptors, `table_bytes`
    /// bytes of tables (a multiple of 8) and `imports` imports (each count bounded by the
    /// compiler's limits, so the sizes fit in a `u32`).
    pub fn new(globals: u32, descriptors: u32, table_bytes: u32, imports: u32) -> ContextLayout {
        let globals_offset = CONTEXT_HEADER_BYTES;
        let functions_offset = globals_offset + SLOT_BYTES * globals;
        let tables_offset = functions_offset + TABLE_ENTRY_BYTES * descriptors;
        let imports_offset = tables_offset + table_bytes;
        ContextLayout {
            globals_offset,
            functions_offset,
            tables_offset,
            imports_offset,
            data_offset: imports_offset + IMPORT_SLOT_BYTES * imports,
            size: imports_offset + IMPORT_SLOT_BYTES * imports,
        }
    }

    /// The context offset of import `index`'s [`FarPointer`].
    pub fn import_offset(&self, index: u32) -> u32 {
        self.imports_offset + IMPORT_SLOT_BYTES * index
    }

    /// The context offset of global `index`.
    pub fn global_offset(&self, index: u32) -> u32 {
        self.globals_offset + SLOT_BYTES * index
    }
}
