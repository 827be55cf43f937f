//! Plugin instances: installing a [`CompiledModule`] through a [`Platform`] (regions, segments,
//! context block, data and element segments), linking and unlinking its imports, invoking its
//! exports, and `memory.grow`.
//!
//! Lifecycle: [`Plugin::install`] -> [`Plugin::link`] (runs the start function) ->
//! ([`Plugin::invoke`])* -> [`Plugin::unlink`] -> [`Plugin::uninstall`]. Link and unlink only
//! write the import far pointers of the context block and ask the platform for (or give back)
//! the import gates, so they are cheap.

use crate::Isolation;
use crate::abi::{self, ContextHeader, ContextLayout, FarPointer, TableEntry};
use crate::compiler::{CompiledModule, Fault};
use crate::error::{GlobalWriteError, InvokeError, LoadError, PlatformError};
use crate::imports::{self, ImportHost, PluginMemory};
use crate::marshal::{self, ResultRegisters};
use alloc::string::String;
use alloc::vec::Vec;
use plugin_format::limits::{self, Budget, CheckedLimits};
use plugin_format::message::Value;
use plugin_format::plugin::WASM_PAGE_BYTES;
use plugin_format::symbols::{self, Symbol};
use plugin_format::trap::{TrapKind, TrapRecord};

/// What [`Platform::install`] must provide for one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallRequest {
    /// Code bytes (the code segment's size).
    pub code_bytes: u32,
    /// Initial linear memory in bytes (the data segment's size).
    pub memory_bytes: u32,
    /// The most the memory may grow to, in bytes: reserve it if the platform cannot move memory.
    pub memory_max_bytes: u32,
    /// Stack bytes (the stack segment's size).
    pub stack_bytes: u32,
    /// Context block bytes (the context segment's size).
    pub context_bytes: u32,
    /// The isolation mode: in software mode the data and stack segments must not limit.
    pub isolation: Isolation,
}

/// The plugin's regions as flat pointers, valid until [`Platform::uninstall`]. The memory and
/// stack regions must be zeroed; the core writes code and context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regions {
    /// The code region (`code_bytes`, writable until [`Platform::seal`]).
    pub code: *mut u8,
    /// The linear memory (`memory_max_bytes` reserved).
    pub memory: *mut u8,
    /// The stack region (`stack_bytes`).
    pub stack: *mut u8,
    /// The context block (`context_bytes`).
    pub context: *mut u8,
}

impl Regions {
    /// The code region's linear address: the base the code's addresses are relative to (the
    /// code segment's base is 0; see `abi`, "Code addresses").
    pub fn code_base(&self) -> u32 {
        self.code as usize as u32
    }
}

/// The selectors and far pointers the platform installed for one plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selectors {
    /// The code segment.
    pub code: u16,
    /// The data segment (linear memory).
    pub data: u16,
    /// The stack segment.
    pub stack: u16,
    /// The context segment (FS).
    pub context: u16,
    /// Where the entry stub's `call far fs:[EXIT]` goes.
    pub exit: FarPointer,
    /// Where `memory.grow`'s `call far fs:[GROW]` goes.
    pub grow: FarPointer,
}

pub use crate::trap::{Abort, RawFault};

/// What a board or the silicon harness implements so the core can run plugins there.
///
/// # Safety
///
/// Implementations must install segments exactly as [`crate::abi`] describes (bases and limits
/// of the code, data, stack and context segments, the exit and grow far pointers), must keep the
/// regions valid until `uninstall`, and `enter` must run the entry stub at CPL 3 (board) or in
/// the LDT segments (harness) and return only once the plugin has left through the exit far
/// pointer or been aborted.
pub unsafe trait Platform {
    /// The platform's record of one installed plugin (descriptor slots, region ownership).
    type Handle;

    /// Allocates the regions and installs the code, data, stack and context segments.
    fn install(
        &mut self,
        request: &InstallRequest,
    ) -> Result<(Self::Handle, Regions, Selectors), PlatformError>;

    /// The code has been written: make it executable (and read-only if the platform can).
    fn seal(&mut self, handle: &mut Self::Handle) -> Result<(), PlatformError>;

    /// Frees every region and descriptor slot of the plugin.
    fn uninstall(&mut self, handle: Self::Handle);

    /// Descriptor slots (per-plugin LDTs) in use, for the leak checks in `Stats`.
    fn descriptor_slots_in_use(&self) -> u32;

    /// A far pointer through which the plugin calls `symbol` as import `slot`
    /// (board: a call gate with the symbol's parameter count).
    fn import_gate(
        &mut self,
        handle: &mut Self::Handle,
        slot: u32,
        symbol: &'static Symbol,
    ) -> Result<FarPointer, PlatformError>;

    /// Gives back import `slot`'s gate.
    fn release_import_gate(&mut self, handle: &mut Self::Handle, slot: u32);

    /// Sets the data segment's size to `bytes` (raising its limit; `memory.grow`). Returns the
    /// memory's flat address, which may move.
    fn resize_memory(
        &mut self,
        handle: &mut Self::Handle,
        bytes: u32,
    ) -> Result<*mut u8, PlatformError>;

    /// Runs the entry stub for the call described by `run` (context already prepared) and
    /// returns EAX, or why it was aborted. While the plugin runs, the platform routes import
    /// calls to [`Run::import`] and `memory.grow` to [`Run::grow`].
    ///
    /// # Safety
    ///
    /// `run` must describe an installed, sealed plugin of this platform.
    unsafe fn enter(&mut self, handle: &mut Self::Handle, run: &mut Run<'_>) -> Result<u32, Abort>;
}

/// How the plugin reached the runtime from its code: which gate or stub it called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `memory.grow`.
    Grow,
    /// Import slot `n` (platforms with one stub per slot: the harness).
    Slot(u32),
    /// The gate of the symbol with this id (platforms with one gate handler per symbol: the
    /// board).
    Symbol(u16),
}

/// What a gate leads to, once resolved ([`Run::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateTarget {
    /// `memory.grow`.
    Grow,
    /// A linked import.
    Import(&'static Symbol),
}

impl GateTarget {
    /// The argument words a call to it carries.
    pub fn parameters(self) -> usize {
        match self {
            GateTarget::Grow => 1,
            GateTarget::Import(symbol) => symbol.signature.params.len(),
        }
    }
}

/// One invocation in progress: what the platform needs while the plugin runs.
pub struct Run<'a> {
    /// The context block.
    pub context: *mut ContextHeader,
    /// The linear memory's flat address.
    pub memory: *mut u8,
    /// The stack region's flat address.
    pub stack: *mut u8,
    /// Stack bytes.
    pub stack_bytes: u32,
    /// The selectors.
    pub selectors: Selectors,
    /// The symbol behind each import slot.
    pub imports: &'a [Option<&'static Symbol>],
    /// The import implementations.
    pub host: &'a mut dyn ImportHost,
    /// The most pages the memory may have.
    pub max_pages: u32,
    /// The time budget, if the plugin runs under one (always, unless installed by an in-process
    /// caller with [`plugin_format::plugin::Limits::check_without_budget`]).
    pub budget: Option<Budget>,
    /// The module (for trap records).
    pub module: &'a CompiledModule,
    /// The code region's linear address: an EIP minus it is a code offset.
    pub code_base: u32,
    /// Set by `grow` when the memory moved; the instance picks it up.
    moved_memory: Option<*mut u8>,
}

impl Run<'_> {
    fn header(&self) -> ContextHeader {
        // SAFETY: `context` points at the installed context block (Run's invariant); the
        // plugin is suspended while the runtime reads it.
        unsafe { self.context.read() }
    }

    /// The plugin's memory, for import arguments.
    pub fn plugin_memory<'m>(&self) -> PluginMemory<'m> {
        // SAFETY: `context` points at the installed context block (Run's invariant); the plugin
        // is suspended while the runtime reads it.
        let memory_bytes = unsafe { (*self.context).memory_bytes };
        // SAFETY: `memory` is the linear memory of `memory_bytes` bytes, valid while the
        // plugin is installed; it is suspended while an import runs.
        unsafe { PluginMemory::new(self.memory, memory_bytes) }
    }

    /// Resolves `gate` to what it calls (`None`: not linked, a trap).
    pub fn resolve(&self, gate: Gate) -> Option<GateTarget> {
        let symbol = match gate {
            Gate::Grow => return Some(GateTarget::Grow),
            Gate::Slot(slot) => self.imports.get(slot as usize).copied().flatten(),
            Gate::Symbol(id) => self
                .imports
                .iter()
                .flatten()
                .find(|symbol| symbol.id.as_u16() == id)
                .copied(),
        };
        symbol.map(GateTarget::Import)
    }

    /// Serves one gate call whole, the shell the board's call gates and the harness's import
    /// stubs share: resolves `gate`; checks the target's parameter count against the symbol
    /// table's bound and against `carried` (whether the platform's stub carried that many
    /// argument words); reads argument `index` of `count` with `arg` (parameter 0 first; `None`
    /// when the word cannot be read); then runs it with [`Run::gate`]. Returns the value for
    /// EAX and the parameter count (the words the stub pops), or the trap record that ends the
    /// invocation.
    pub fn serve(
        &mut self,
        gate: Gate,
        carried: impl FnOnce(usize) -> bool,
        mut arg: impl FnMut(usize, usize) -> Option<u32>,
        return_eip: impl Fn() -> u32,
        resize: impl FnMut(u32) -> Result<*mut u8, PlatformError>,
        budget_spent: impl FnOnce() -> bool,
    ) -> Result<(u32, usize), TrapRecord> {
        let fault = |run: &Self| run.gate_trap(TrapKind::ImportFault, return_eip());
        let Some(target) = self.resolve(gate) else {
            return Err(fault(self));
        };
        let count = target.parameters();
        if count > symbols::MAX_SYMBOL_PARAMS || !carried(count) {
            return Err(fault(self));
        }
        let mut words = [0u32; symbols::MAX_SYMBOL_PARAMS];
        for (index, word) in words[..count].iter_mut().enumerate() {
            match arg(index, count) {
                Some(value) => *word = value,
                None => return Err(fault(self)),
            }
        }
        let value = self.gate(target, &words[..count], &return_eip, resize, budget_spent)?;
        Ok((value, count))
    }

    /// Serves a call the plugin made to `target` with `args` (parameter 0 first): runs the
    /// import (or `memory.grow`, with `resize` setting the data segment's size), then checks the
    /// budget (`budget_spent`: the timer only preempts plugin code, so a plugin that spends its
    /// time in imports is caught here). Returns the value for EAX, or the trap record that ends
    /// the invocation, attributed to the far call whose return address `return_eip` gives.
    pub fn gate(
        &mut self,
        target: GateTarget,
        args: &[u32],
        return_eip: impl FnOnce() -> u32,
        resize: impl FnMut(u32) -> Result<*mut u8, PlatformError>,
        budget_spent: impl FnOnce() -> bool,
    ) -> Result<u32, TrapRecord> {
        let result = match target {
            GateTarget::Grow => match args {
                [delta] => Ok(self.grow(*delta, resize)),
                _ => Err(TrapKind::ImportFault),
            },
            GateTarget::Import(symbol) => {
                let memory = self.plugin_memory();
                imports::dispatch(self.host, symbol.id, args, &memory)
            }
        };
        let result = result.and_then(|value| {
            if budget_spent() {
                Err(TrapKind::BudgetExceeded)
            } else {
                Ok(value)
            }
        });
        result.map_err(|kind| self.gate_trap(kind, return_eip()))
    }

    /// The trap record of a gate call that ends the invocation with `kind`, from the far call
    /// returning to `return_eip`.
    pub fn gate_trap(&self, kind: TrapKind, return_eip: u32) -> TrapRecord {
        crate::trap::import_trap(self.module, kind, return_eip.wrapping_sub(self.code_base))
    }

    /// `memory.grow(delta)`: the old size in pages, or -1 (as u32) past the limit. `resize`
    /// sets the data segment's size and returns the memory's (possibly new) flat address.
    fn grow(
        &mut self,
        delta: u32,
        mut resize: impl FnMut(u32) -> Result<*mut u8, PlatformError>,
    ) -> u32 {
        let mut header = self.header();
        let old = header.memory_pages;
        let Some(new) = old.checked_add(delta).filter(|&new| new <= self.max_pages) else {
            return u32::MAX;
        };
        if delta == 0 {
            return old;
        }
        let Ok(memory) = resize(new * WASM_PAGE_BYTES) else {
            return u32::MAX;
        };
        let old_bytes = header.memory_bytes as usize;
        let new_bytes = (new * WASM_PAGE_BYTES) as usize;
        // SAFETY: the platform sized the region for `new` pages; the bytes past the old size
        // were never reachable by the plugin, and are zeroed here as wasm requires.
        unsafe { core::ptr::write_bytes(memory.add(old_bytes), 0, new_bytes - old_bytes) };
        header.memory_pages = new;
        header.memory_bytes = new * WASM_PAGE_BYTES;
        // SAFETY: as in `header`.
        unsafe {
            (*self.context).memory_pages = header.memory_pages;
            (*self.context).memory_bytes = header.memory_bytes;
        }
        if memory != self.memory {
            self.memory = memory;
            self.moved_memory = Some(memory);
        }
        old
    }

    /// The trap record for a fault at the linear address `fault.eip`.
    pub fn trap_record(&self, fault: &RawFault) -> TrapRecord {
        let at = RawFault {
            eip: fault.eip.wrapping_sub(self.code_base),
            ..*fault
        };
        crate::trap::record(self.module, &at)
    }
}

/// How an invocation ended, in values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It returned these results (in order; empty for a function without results).
    Returned(Vec<Value>),
    /// It trapped.
    Trapped(TrapRecord),
}

/// How a call ended, before its results are read as values ([`Plugin::call_words`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// It returned; the results are in these registers ([`marshal::results`] reads them).
    Returned(ResultRegisters),
    /// It trapped.
    Trapped(TrapRecord),
}

/// Per-plugin statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginStats {
    /// Invocations started.
    pub invocations: u64,
    /// Invocations that trapped.
    pub traps: u64,
    /// The function and result registers of the last call, if it returned (`None` once a call
    /// trapped); [`Plugin::last_results`] reads them as values.
    pub last_return: Option<(u32, ResultRegisters)>,
    /// The last trap.
    pub last_trap: Option<TrapRecord>,
    /// Generated code bytes.
    pub code_bytes: u32,
    /// Current linear memory bytes.
    pub memory_bytes: u32,
}

/// An installed plugin.
pub struct Plugin<P: Platform> {
    module: CompiledModule,
    handle: Option<P::Handle>,
    regions: Regions,
    selectors: Selectors,
    limits: CheckedLimits,
    max_pages: u32,
    imports: Vec<Option<&'static Symbol>>,
    linked: bool,
    /// Statistics.
    pub stats: PluginStats,
}

/// The far pointer of import `slot` in a context block at `context` laid out as `layout`.
fn import_slot(context: *mut u8, layout: &ContextLayout, slot: usize) -> *mut FarPointer {
    context.wrapping_add(layout.import_offset(slot as u32) as usize) as *mut FarPointer
}

/// What pads the code segment past the generated code: `int3`.
const CODE_PADDING: u8 = 0xCC;

/// Stack bytes every entry keeps free below the export's arguments: what runs before the first
/// prologue stack check must fit there (the entry stub's near call, and, for an exported import,
/// its thunk's re-pushed arguments and far call), with room to spare. Beyond this, every function
/// checks its own frame (software mode) or the stack segment's limit does (hardware mode).
pub const ENTRY_STACK_RESERVE: u32 = 240;

// The smallest stack the limits admit holds the reserves of an entry without arguments.
const _: () = assert!(abi::STACK_TOP_RESERVE + ENTRY_STACK_RESERVE <= limits::MIN_STACK_BYTES);

// A function's software stack check keeps STACK_CHECK_RESERVE bytes beyond its frame for what
// runs without a check of its own below its ESP: an import thunk's re-pushed arguments and its
// far call (the harness's stubs run on the plugin stack until they switch; a board call gate
// copies the arguments to the ring-0 stack). A symbol with more parameters needs a larger reserve.
const _: () = assert!(4 * symbols::MAX_SYMBOL_PARAMS as u32 + 8 <= abi::STACK_CHECK_RESERVE);

// The entry reserve covers the near call into an exported import's thunk (4 bytes), its
// re-pushed arguments and its far call (8 bytes).
const _: () = assert!(4 + 4 * symbols::MAX_SYMBOL_PARAMS as u32 + 8 <= ENTRY_STACK_RESERVE);

/// Stack bytes an entry with `argument_words` argument words needs: the top reserve, the
/// arguments and the entry reserve (never overflows: computed in 64 bits).
pub fn required_stack_bytes(argument_words: u32) -> u64 {
    u64::from(abi::STACK_TOP_RESERVE)
        + 4 * u64::from(argument_words)
        + u64::from(ENTRY_STACK_RESERVE)
}

/// The entry ESP for `argument_words` argument words on a stack of `stack_bytes`: the
/// arguments end [`abi::STACK_TOP_RESERVE`] below the top, and at least
/// [`ENTRY_STACK_RESERVE`] bytes stay free below them. `None` if they do not fit.
pub fn entry_stack_pointer(stack_bytes: u32, argument_words: u32) -> Option<u32> {
    let esp = u64::from(stack_bytes)
        .checked_sub(u64::from(abi::STACK_TOP_RESERVE))?
        .checked_sub(4 * u64::from(argument_words))?;
    if esp < u64::from(ENTRY_STACK_RESERVE) {
        return None;
    }
    u32::try_from(esp).ok()
}

impl<P: Platform> Plugin<P> {
    /// Installs `module` with `limits`: allocates and fills the regions, installs the segments,
    /// writes the context block, the data and element segments. Imports are not linked yet.
    pub fn install(
        platform: &mut P,
        module: CompiledModule,
        limits: CheckedLimits,
    ) -> Result<Plugin<P>, LoadError> {
        let memory = module.memory.unwrap_or(crate::compiler::Memory {
            initial_pages: 0,
            maximum_pages: Some(0),
        });
        let max_pages = memory
            .maximum_pages
            .unwrap_or(u32::MAX)
            .min(limits.max_memory_pages())
            .min(u32::MAX / WASM_PAGE_BYTES);
        if memory.initial_pages > max_pages {
            return Err(LoadError::MemoryLimit {
                requested_pages: memory.initial_pages,
                limit_pages: limits.max_memory_pages(),
            });
        }
        Self::check_entry_stacks(&module, limits.stack_bytes())?;
        let imports = u32::try_from(module.imports.len()).unwrap_or(u32::MAX);
        if imports > limits::MAX_IMPORTS {
            return Err(LoadError::TooManyImports { count: imports });
        }
        for (index, segment) in module.elements.iter().enumerate() {
            let table_size = module
                .tables
                .get(segment.table as usize)
                .map_or(0, |table| table.initial);
            let end = u64::from(segment.offset) + segment.items.len() as u64;
            if end > u64::from(table_size) {
                return Err(LoadError::ElementSegmentOutOfBounds {
                    segment: index as u32,
                });
            }
        }
        let memory_bytes = memory.initial_pages * WASM_PAGE_BYTES;
        for (index, segment) in module.data.iter().enumerate() {
            let end = u64::from(segment.offset) + segment.bytes.len() as u64;
            if end > u64::from(memory_bytes) {
                return Err(LoadError::DataSegmentOutOfBounds {
                    segment: index as u32,
                });
            }
        }
        // The code segment ends where the code region ends, at a linear address a page-granular
        // limit expresses exactly (the region starts on a page): the region is a whole number
        // of pages, the padding `int3`, as in the compiler's own buffer.
        let code_len = u32::try_from(module.code.len())
            .map_err(|_| LoadError::Platform(PlatformError::Refused))?;
        // Every relocation lies inside the code (the compiler's promise, checked: one left out
        // would jump to a bare code offset, below the region).
        if module
            .relocations
            .iter()
            .any(|&field| (field as usize).saturating_add(4) > module.code.len())
        {
            return Err(LoadError::Platform(PlatformError::Refused));
        }
        let code_bytes = code_len
            .max(1)
            .checked_next_multiple_of(crate::segments::LIMIT_PAGE_BYTES)
            .ok_or(LoadError::Platform(PlatformError::Refused))?;
        let context_bytes = crate::segments::representable(module.layout.size)
            .ok_or(LoadError::Platform(PlatformError::Refused))?;
        let request = InstallRequest {
            code_bytes,
            memory_bytes,
            memory_max_bytes: max_pages * WASM_PAGE_BYTES,
            stack_bytes: limits.stack_bytes(),
            context_bytes,
            isolation: module.isolation,
        };
        let (mut handle, regions, selectors) = platform.install(&request)?;
        // SAFETY: the platform provided `code_bytes` writable bytes at `regions.code`, and
        // `context_bytes` at `regions.context`, `memory_max_bytes` at `regions.memory`, all
        // exclusively ours until uninstall.
        unsafe {
            core::ptr::copy_nonoverlapping(module.code.as_ptr(), regions.code, module.code.len());
            core::ptr::write_bytes(
                regions.code.add(module.code.len()),
                CODE_PADDING,
                (code_bytes - code_len) as usize,
            );
            Self::relocate(&module, &regions);
            Self::write_context(&module, &regions, &selectors, memory);
            for segment in &module.data {
                core::ptr::copy_nonoverlapping(
                    segment.bytes.as_ptr(),
                    regions.memory.add(segment.offset as usize),
                    segment.bytes.len(),
                );
            }
        }
        if let Err(error) = platform.seal(&mut handle) {
            platform.uninstall(handle);
            return Err(error.into());
        }
        let imports = alloc::vec![None; module.imports.len()];
        Ok(Plugin {
            stats: PluginStats {
                code_bytes: module.code.len() as u32,
                memory_bytes,
                ..PluginStats::default()
            },
            module,
            handle: Some(handle),
            regions,
            selectors,
            limits,
            max_pages,
            imports,
            linked: false,
        })
    }

    /// Checks that the stack holds the arguments of every function the runtime may enter (each
    /// export and the start function) plus the entry reserves ([`required_stack_bytes`]).
    fn check_entry_stacks(module: &CompiledModule, stack_bytes: u32) -> Result<(), LoadError> {
        let entries = module
            .exports
            .iter()
            .map(|export| (export.name.as_str(), export.function))
            .chain(module.start.map(|start| ("(start function)", start)));
        for (name, function) in entries {
            let Some(code) = module.functions.get(function as usize) else {
                continue;
            };
            let needed = required_stack_bytes(marshal::argument_word_count(&code.ty));
            if needed > u64::from(stack_bytes) {
                return Err(LoadError::StackTooSmall {
                    function: String::from(name),
                    needed,
                    stack_bytes,
                });
            }
        }
        Ok(())
    }

    /// Turns the code's absolute fields ([`CompiledModule::relocations`]) from code offsets
    /// into linear addresses: the code segment's base is 0.
    ///
    /// # Safety
    ///
    /// `regions.code` must hold a copy of `module.code`, writable, and every relocation must lie
    /// inside it.
    unsafe fn relocate(module: &CompiledModule, regions: &Regions) {
        let base = regions.code_base();
        for &field in &module.relocations {
            // SAFETY: the field lies inside the copied code (`install` checked every one).
            unsafe {
                let at = regions.code.add(field as usize) as *mut u32;
                at.write_unaligned(at.read_unaligned().wrapping_add(base));
            }
        }
    }

    /// Writes the context block: header, globals, table, null import pointers.
    ///
    /// # Safety
    ///
    /// `regions.context` must be valid for `module.layout.size` bytes.
    unsafe fn write_context(
        module: &CompiledModule,
        regions: &Regions,
        selectors: &Selectors,
        memory: crate::compiler::Memory,
    ) {
        let header = ContextHeader {
            entry_target: 0,
            memory_bytes: memory.initial_pages * WASM_PAGE_BYTES,
            memory_pages: memory.initial_pages,
            data_selector: u32::from(selectors.data),
            exit: selectors.exit,
            grow: selectors.grow,
            host_esp: 0,
            host_ss: 0,
            plugin_entry: FarPointer::new(
                selectors.code,
                regions.code_base().wrapping_add(abi::ENTRY_ANCHOR),
            ),
            plugin_esp: 0,
            plugin_ss: u32::from(selectors.stack),
            platform_scratch: [0; 2],
            result_high: 0,
            reserved: 0,
        };
        let layout = module.layout;
        let base = regions.context;
        // SAFETY: every write is inside the context block, whose size is `layout.size` (the
        // caller's contract); unaligned writes are used throughout.
        unsafe {
            (base as *mut ContextHeader).write_unaligned(header);
            for (index, global) in module.globals.iter().enumerate() {
                (base.add(layout.global_offset(index as u32) as usize) as *mut u64)
                    .write_unaligned(global.init);
            }
            // The function descriptors (present when there is a table), then each table:
            // its size word, its capacity word, every reserved element null, then the
            // active element segments (checked against the initial sizes above), then the
            // passive element segments' words (placed by the compiler's layout).
            if !module.tables.is_empty() {
                let descriptors = base.add(layout.functions_offset as usize) as *mut TableEntry;
                for (index, code) in module.functions.iter().enumerate() {
                    descriptors.add(index).write_unaligned(TableEntry {
                        address: regions.code_base().wrapping_add(code.code_offset),
                        type_id: code.type_id,
                    });
                }
            }
            for table in &module.tables {
                let size = base.add(table.layout.size_offset as usize) as *mut u32;
                size.write_unaligned(table.initial);
                size.add(1).write_unaligned(table.layout.capacity);
                let entries = base.add(table.layout.entries_offset as usize) as *mut u32;
                for index in 0..table.layout.capacity as usize {
                    entries.add(index).write_unaligned(abi::NULL_REFERENCE);
                }
            }
            for segment in &module.elements {
                let Some(table) = module.tables.get(segment.table as usize) else {
                    continue;
                };
                let entries = base.add(table.layout.entries_offset as usize) as *mut u32;
                for (index, &item) in segment.items.iter().enumerate() {
                    entries
                        .add(segment.offset as usize + index)
                        .write_unaligned(item);
                }
            }
            for segment in &module.passive_elements {
                let words = base.add(segment.offset as usize) as *mut u32;
                for (index, &item) in segment.items.iter().enumerate() {
                    words.add(index).write_unaligned(item);
                }
            }
            let imports = base.add(layout.imports_offset as usize) as *mut FarPointer;
            for index in 0..module.imports.len() {
                imports.add(index).write_unaligned(FarPointer::NULL);
            }
            core::ptr::copy_nonoverlapping(
                module.passive_data.as_ptr(),
                base.add(layout.data_offset as usize),
                module.passive_data.len(),
            );
        }
    }

    /// Resolves every import against the firmware symbol table and installs its gate. On an
    /// error nothing stays linked. Does not run the start function (see [`Plugin::start`]).
    pub fn link(&mut self, platform: &mut P) -> Result<(), LoadError> {
        let context = self.regions.context;
        let layout = self.module.layout;
        let handle = self
            .handle
            .as_mut()
            .ok_or(LoadError::Platform(PlatformError::Refused))?;
        let mut resolved = Vec::with_capacity(self.module.imports.len());
        for import in &self.module.imports {
            let symbol = symbols::resolve(
                &import.module,
                &import.name,
                &import.ty.params,
                &import.ty.results,
            )?;
            resolved.push(symbol);
        }
        for (slot, symbol) in resolved.iter().enumerate() {
            match platform.import_gate(handle, slot as u32, symbol) {
                Ok(far) => {
                    // SAFETY: the slot lies in the context block (layout.import_offset(slot)
                    // < layout.size); the plugin is not running.
                    unsafe { import_slot(context, &layout, slot).write_unaligned(far) };
                    self.imports[slot] = Some(symbol);
                }
                Err(error) => {
                    for earlier in 0..slot {
                        platform.release_import_gate(handle, earlier as u32);
                        // SAFETY: as above.
                        unsafe {
                            import_slot(context, &layout, earlier).write_unaligned(FarPointer::NULL)
                        };
                        self.imports[earlier] = None;
                    }
                    return Err(error.into());
                }
            }
        }
        self.linked = true;
        Ok(())
    }

    /// Runs the start function, if the module has one.
    pub fn start(&mut self, platform: &mut P, host: &mut dyn ImportHost) -> Result<(), LoadError> {
        let Some(start) = self.module.start else {
            return Ok(());
        };
        match self.call_words(platform, host, start, &[]) {
            Ok(CallOutcome::Returned(_)) => Ok(()),
            Ok(CallOutcome::Trapped(trap)) => Err(LoadError::StartTrapped(trap)),
            Err(error) => Err(LoadError::StartRefused(error)),
        }
    }

    /// Links the plugin and runs its start function: the one way an installed plugin goes live,
    /// for the plugin service and the plugin table alike. On a failure the plugin is uninstalled,
    /// so nothing it held stays behind.
    pub fn go_live(
        mut self,
        platform: &mut P,
        host: &mut dyn ImportHost,
    ) -> Result<Self, LoadError> {
        match self
            .link(platform)
            .and_then(|()| self.start(platform, host))
        {
            Ok(()) => Ok(self),
            Err(failure) => {
                self.uninstall(platform);
                Err(failure)
            }
        }
    }

    /// Clears every import far pointer and gives the gates back. Calls to an import afterwards
    /// trap (#GP on the null selector -> `ImportFault`).
    pub fn unlink(&mut self, platform: &mut P) {
        let context = self.regions.context;
        let layout = self.module.layout;
        let Some(handle) = self.handle.as_mut() else {
            return;
        };
        for slot in 0..self.imports.len() {
            if self.imports[slot].take().is_some() {
                // SAFETY: as in `link`.
                unsafe { import_slot(context, &layout, slot).write_unaligned(FarPointer::NULL) };
                platform.release_import_gate(handle, slot as u32);
            }
        }
        self.linked = false;
    }

    /// Frees everything the plugin holds (unlinking first if needed).
    pub fn uninstall(mut self, platform: &mut P) {
        self.unlink(platform);
        if let Some(handle) = self.handle.take() {
            platform.uninstall(handle);
        }
    }

    /// Whether the imports are linked.
    pub fn is_linked(&self) -> bool {
        self.linked
    }

    /// The compiled module.
    pub fn module(&self) -> &CompiledModule {
        &self.module
    }

    /// The limits.
    pub fn limits(&self) -> CheckedLimits {
        self.limits
    }

    /// The platform handle.
    pub fn handle(&self) -> Option<&P::Handle> {
        self.handle.as_ref()
    }

    /// The regions (flat pointers), for platforms and tests.
    pub fn regions(&self) -> Regions {
        self.regions
    }

    /// The current linear memory size in bytes.
    pub fn memory_bytes(&self) -> u32 {
        // SAFETY: the context block is valid while installed.
        unsafe { (*(self.regions.context as *const ContextHeader)).memory_bytes }
    }

    /// A copy of `len` bytes of linear memory at `offset`, if in bounds.
    pub fn read_memory(&self, offset: u32, len: u32) -> Option<Vec<u8>> {
        let end = offset.checked_add(len)?;
        if end > self.memory_bytes() {
            return None;
        }
        // SAFETY: in bounds of the current memory (checked above); the plugin is not running.
        let bytes = unsafe {
            core::slice::from_raw_parts(self.regions.memory.add(offset as usize), len as usize)
        };
        Some(bytes.to_vec())
    }

    /// Writes `bytes` into linear memory at `offset`; false if out of bounds.
    pub fn write_memory(&mut self, offset: u32, bytes: &[u8]) -> bool {
        let Some(end) = offset.checked_add(bytes.len() as u32) else {
            return false;
        };
        if end > self.memory_bytes() {
            return false;
        }
        // SAFETY: in bounds (checked above); the plugin is not running.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.regions.memory.add(offset as usize),
                bytes.len(),
            );
        }
        true
    }

    /// The typed value of global `index`.
    pub fn global_value(&self, index: u32) -> Option<Value> {
        let global = self.module.globals.get(index as usize)?;
        let offset = self.module.layout.global_offset(index) as usize;
        let bytes = abi::value_bytes(global.ty) as usize;
        let mut slot = [0u8; 8];
        // SAFETY: the slot lies inside the context block (the layout reserves `SLOT_BYTES` per
        // global), which is valid while installed; the plugin is not running.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.regions.context.add(offset),
                slot.as_mut_ptr(),
                bytes,
            );
        }
        Some(marshal::value_from_bits(
            global.ty,
            u64::from_le_bytes(slot),
        ))
    }

    /// Writes `value` into mutable global `index`: `Err(GlobalWriteError)` if there is no such
    /// global, it is immutable, or `value` has another type. Nothing is written then.
    pub fn set_global_value(&mut self, index: u32, value: &Value) -> Result<(), GlobalWriteError> {
        let global = self
            .module
            .globals
            .get(index as usize)
            .ok_or(GlobalWriteError::NoSuchGlobal)?;
        if !global.mutable {
            return Err(GlobalWriteError::Immutable);
        }
        let found = marshal::value_type(value);
        if found != global.ty {
            return Err(GlobalWriteError::WrongType {
                expected: global.ty,
                found,
            });
        }
        if marshal::names_nothing(value, self.module.functions.len() as u32) {
            return Err(GlobalWriteError::BadReference);
        }
        let offset = self.module.layout.global_offset(index) as usize;
        let bytes = abi::value_bytes(global.ty) as usize;
        let slot = marshal::value_bits(value).to_le_bytes();
        // SAFETY: as in `global_value`; the plugin is not running.
        unsafe {
            core::ptr::copy_nonoverlapping(slot.as_ptr(), self.regions.context.add(offset), bytes);
        }
        Ok(())
    }

    /// The results of the last call, if it returned (as values of its function's type).
    pub fn last_results(&self) -> Option<Vec<Value>> {
        let (function, registers) = self.stats.last_return?;
        let code = self.module.functions.get(function as usize)?;
        Some(marshal::results(&code.ty, registers, |index| {
            self.results_area_word(&code.ty, index)
        }))
    }

    /// Invokes the export `name` with `args`, checked against its type.
    pub fn invoke(
        &mut self,
        platform: &mut P,
        host: &mut dyn ImportHost,
        name: &str,
        args: &[Value],
    ) -> Result<Outcome, InvokeError> {
        let function = self
            .module
            .export(name)
            .ok_or_else(|| InvokeError::MissingExport(name.into()))?;
        self.call(platform, host, function, args)
    }

    /// Calls function `function` (any index) with `args`, checked against its type.
    pub fn call(
        &mut self,
        platform: &mut P,
        host: &mut dyn ImportHost,
        function: u32,
        args: &[Value],
    ) -> Result<Outcome, InvokeError> {
        let code = self.function_code(function)?;
        let (words, code_offset) = (marshal::argument_word_count(&code.ty), code.code_offset);
        let esp = self.prepare_entry(function, words)?;
        let stack = self.regions.stack;
        let mut next = esp as usize + 4 * words as usize;
        let ty = &self.module.functions[function as usize].ty;
        let functions = self.module.functions.len() as u32;
        marshal::argument_words(ty, args, functions, |word| {
            next -= 4;
            // SAFETY: `prepare_entry` checked that the argument words lie in the stack region
            // (between the entry ESP and the top reserve); the plugin is not running.
            unsafe { (stack.add(next) as *mut u32).write_unaligned(word) };
        })?;
        Ok(
            match self.enter(platform, host, function, code_offset, esp) {
                CallOutcome::Returned(registers) => {
                    let ty = &self.module.functions[function as usize].ty;
                    Outcome::Returned(marshal::results(ty, registers, |index| {
                        self.results_area_word(ty, index)
                    }))
                }
                CallOutcome::Trapped(record) => Outcome::Trapped(record),
            },
        )
    }

    /// Calls function `function` with its argument words already laid out (parameter 0 first;
    /// see [`marshal::argument_words`]), leaving the results in their registers: the path for
    /// firmware hooks that call one function over and over.
    pub fn call_words(
        &mut self,
        platform: &mut P,
        host: &mut dyn ImportHost,
        function: u32,
        words: &[u32],
    ) -> Result<CallOutcome, InvokeError> {
        let code = self.function_code(function)?;
        let (expected, code_offset) = (marshal::argument_word_count(&code.ty), code.code_offset);
        let found = u32::try_from(words.len()).unwrap_or(u32::MAX);
        if found != expected {
            return Err(InvokeError::WrongArgumentCount { expected, found });
        }
        let esp = self.prepare_entry(function, expected)?;
        let stack = self.regions.stack;
        for (index, &word) in words.iter().enumerate() {
            let at = esp as usize + 4 * (words.len() - 1 - index);
            // SAFETY: as in `call`: the words lie between the entry ESP and the top reserve.
            unsafe { (stack.add(at) as *mut u32).write_unaligned(word) };
        }
        Ok(self.enter(platform, host, function, code_offset, esp))
    }

    /// Word `index` of the results area a function of type `ty` returned its results in: above
    /// its arguments at the entry ESP (0 if that lies outside the stack).
    fn results_area_word(&self, ty: &crate::compiler::FuncType, index: u32) -> u32 {
        let stack_bytes = self.limits.stack_bytes();
        let Some(esp) = entry_stack_pointer(stack_bytes, marshal::argument_word_count(ty)) else {
            return 0;
        };
        let at = u64::from(esp) + u64::from(ty.param_bytes()) + 4 * u64::from(index);
        if at + 4 > u64::from(stack_bytes) {
            return 0;
        }
        // SAFETY: `at .. at + 4` lies inside the stack region (checked); the plugin is not
        // running.
        unsafe { (self.regions.stack.add(at as usize) as *const u32).read_unaligned() }
    }

    fn function_code(&self, function: u32) -> Result<&crate::compiler::FunctionCode, InvokeError> {
        self.module
            .functions
            .get(function as usize)
            .ok_or(InvokeError::NoSuchFunction(function))
    }

    /// Checks that function `function` may be entered with `argument_words` words of arguments
    /// and returns its entry ESP (checked arithmetic: the arguments and the entry reserve lie
    /// inside the stack region, whatever the arity).
    fn prepare_entry(&self, function: u32, argument_words: u32) -> Result<u32, InvokeError> {
        if !self.linked && !self.module.imports.is_empty() {
            return Err(InvokeError::NotLinked);
        }
        if self.handle.is_none() {
            return Err(InvokeError::NoSuchFunction(function));
        }
        let stack_bytes = self.limits.stack_bytes();
        entry_stack_pointer(stack_bytes, argument_words).ok_or(InvokeError::StackTooSmall {
            needed: required_stack_bytes(argument_words),
            stack_bytes,
        })
    }

    /// Runs function `function` (at `code_offset`) from the entry ESP `esp` (arguments already
    /// stored) and keeps the statistics.
    fn enter(
        &mut self,
        platform: &mut P,
        host: &mut dyn ImportHost,
        function: u32,
        code_offset: u32,
        esp: u32,
    ) -> CallOutcome {
        // SAFETY: the context block is valid while installed; the plugin is not running.
        unsafe {
            let context = self.regions.context as *mut ContextHeader;
            (*context).entry_target = self.regions.code_base().wrapping_add(code_offset);
            (*context).plugin_esp = esp;
        }
        self.stats.invocations += 1;
        let Some(handle) = self.handle.as_mut() else {
            return CallOutcome::Trapped(self.module.trap_record(0, Fault::Import, None));
        };
        let mut run = Run {
            context: self.regions.context as *mut ContextHeader,
            memory: self.regions.memory,
            stack: self.regions.stack,
            stack_bytes: self.limits.stack_bytes(),
            selectors: self.selectors,
            imports: &self.imports,
            host,
            max_pages: self.max_pages,
            budget: self.limits.budget(),
            module: &self.module,
            code_base: self.regions.code_base(),
            moved_memory: None,
        };
        // SAFETY: the plugin is installed and sealed on this platform; `run` describes it.
        let result = unsafe { platform.enter(handle, &mut run) };
        let moved = run.moved_memory;
        let outcome = match result {
            Ok(eax) => CallOutcome::Returned(ResultRegisters {
                eax,
                // SAFETY: the context block is valid while installed; the plugin has returned.
                edx: unsafe { core::ptr::addr_of!((*run.context).result_high).read() },
            }),
            Err(Abort::Fault(fault)) => CallOutcome::Trapped(run.trap_record(&fault)),
            Err(Abort::Trap(record)) => CallOutcome::Trapped(record),
        };
        if let Some(memory) = moved {
            self.regions.memory = memory;
        }
        self.stats.memory_bytes = self.memory_bytes();
        match &outcome {
            CallOutcome::Returned(registers) => {
                self.stats.last_return = Some((function, *registers));
            }
            CallOutcome::Trapped(record) => {
                self.stats.traps += 1;
                self.stats.last_return = None;
                self.stats.last_trap = Some(record.clone());
            }
        }
        outcome
    }
}
