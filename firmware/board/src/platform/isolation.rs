//! Hardware fault isolation on the board: each plugin in its own ring-3 segments, reached only
//! through the gates it linked. Implements the plugin core's [`Platform`] (see
//! `kplug_core::abi` for the contract).
//!
//! - `install` allocates the plugin's code, linear memory (reserved up to its maximum), stack and
//!   context regions from the heap and builds its LDT: exactly those four DPL-3 segments, the
//!   exit gate and the `memory.grow` gate. The LDT is reached through a GDT slot of its own.
//! - `import_gate` adds a DPL-3 call gate for one linked symbol; `release_import_gate` removes it.
//! - `enter` loads the plugin's LDT, arms the time budget and crosses to CPL 3 (`switch.rs`).
//!   Gates, exceptions and the PIT come back to ring 0 on a dedicated kernel stack; a fault or an
//!   exhausted budget aborts the invocation ([`abort_from_user`]).
//! - `uninstall` clears the GDT slot and frees every region.
//!
//! In hardware mode the data and stack segments carry exact limits; in software mode (the probe
//! found limits unenforced, or software mode was forced) they span 4 GiB and the generated code
//! checks every access itself.

use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use kplug_core::Isolation;
use kplug_core::abi::{ContextHeader, FarPointer};
use kplug_core::compiler::Fault;
use kplug_core::error::PlatformError;
use kplug_core::instance::{
    Abort, Gate, InstallRequest, Platform, RawFault, Regions, Run, Selectors,
};
use kplug_core::segments;
use plugin_format::symbols::Symbol;
use plugin_format::trap::Registers;

use crate::arch::gdt::GdtLoaded;
use crate::arch::idt::TrapFrame;
use crate::arch::ldt::{self, Ldt, ldt_selector};
use crate::arch::switch::{self, EntryRegisters, GROW_GATE_ID, STATUS_RETURNED};

/// Most plugins loaded at once (one GDT slot each).
pub const MAX_PLUGINS: usize = plugin_format::limits::MAX_PLUGINS;
/// Most imports one plugin may link (one LDT gate each).
const MAX_IMPORTS: usize = plugin_format::limits::MAX_IMPORTS as usize;
/// The ring-0 stack used while a plugin runs (gates, exceptions, interrupts, and the services
/// the timer runs meanwhile).
const KERNEL_STACK_BYTES: usize = 64 * 1024;
/// Alignment of the plugin regions other than code.
const REGION_ALIGN: usize = 16;
/// Alignment of a code region: a page, so that the code segment (base 0) ends exactly with the
/// region under a page-granular limit (`kplug_core::segments::code_segment`; the runtime asks
/// for a whole number of pages).
const CODE_REGION_ALIGN: usize = 4096;

/// One heap region owned by a plugin.
struct Region {
    pointer: *mut u8,
    layout: Layout,
}

impl Region {
    fn allocate(bytes: u32, align: usize) -> Result<Region, PlatformError> {
        let layout = Layout::from_size_align(bytes.max(1) as usize, align)
            .map_err(|_| PlatformError::Refused)?;
        // SAFETY: the layout has a non-zero size.
        let pointer = unsafe { alloc_zeroed(layout) };
        if pointer.is_null() {
            return Err(PlatformError::OutOfMemory);
        }
        Ok(Region { pointer, layout })
    }

    fn address(&self) -> u32 {
        self.pointer as u32
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `pointer` came from `alloc_zeroed` with this layout and is freed once.
        unsafe { dealloc(self.pointer, self.layout) };
    }
}

/// The board's record of one installed plugin.
pub struct Handle {
    ldt: Ldt,
    slot: usize,
    memory: Region,
    // Owned for their lifetime; the core reaches them through `Regions`.
    _code: Region,
    _stack: Region,
    _context: Region,
    isolation: Isolation,
}

/// The board's [`Platform`].
pub struct BoardPlatform {
    slots: [bool; MAX_PLUGINS],
    gdt: GdtLoaded,
}

impl BoardPlatform {
    /// The platform; takes the GDT token, since it installs LDT descriptors.
    pub fn new(gdt: GdtLoaded) -> BoardPlatform {
        switch::set_gate_dispatch(gate_dispatch);
        BoardPlatform {
            slots: [false; MAX_PLUGINS],
            gdt,
        }
    }
}

// SAFETY: `install` builds exactly the segments `kplug_core::abi` describes (code, data, stack,
// context with the bases of the regions it returns and the limits of the request; 4 GiB data and
// stack limits in software mode), the regions live until `uninstall`, and `enter` runs the entry
// stub at CPL 3 and returns only through the exit gate or an abort.
unsafe impl Platform for BoardPlatform {
    type Handle = Handle;

    fn install(
        &mut self,
        request: &InstallRequest,
    ) -> Result<(Handle, Regions, Selectors), PlatformError> {
        let slot = self
            .slots
            .iter()
            .position(|used| !used)
            .ok_or(PlatformError::NoDescriptorSlot)?;
        let code = Region::allocate(request.code_bytes, CODE_REGION_ALIGN)?;
        let memory = Region::allocate(request.memory_max_bytes, REGION_ALIGN)?;
        let stack = Region::allocate(request.stack_bytes, REGION_ALIGN)?;
        let context = Region::allocate(request.context_bytes, REGION_ALIGN)?;
        let regions = Regions {
            code: code.pointer,
            memory: memory.pointer,
            stack: stack.pointer,
            context: context.pointer,
        };
        let segments = segments::plugin_segments(request, &regions);
        let mut ldt = Ldt::new(MAX_IMPORTS);
        ldt.set(ldt::CODE_INDEX, ldt::descriptor(&segments.code));
        ldt.set(ldt::DATA_INDEX, ldt::descriptor(&segments.data));
        ldt.set(ldt::STACK_INDEX, ldt::descriptor(&segments.stack));
        ldt.set(ldt::CONTEXT_INDEX, ldt::descriptor(&segments.context));
        ldt.set(
            ldt::EXIT_GATE_INDEX,
            ldt::call_gate(switch::exit_handler(), 0),
        );
        let (grow_handler, grow_parameters) =
            switch::gate_handler(GROW_GATE_ID).ok_or(PlatformError::Refused)?;
        ldt.set(
            ldt::GROW_GATE_INDEX,
            ldt::call_gate(grow_handler, grow_parameters),
        );
        crate::arch::gdt::set_ldt(&self.gdt, slot, ldt::ldt_descriptor(ldt.base(), ldt.len()));
        self.slots[slot] = true;
        let selectors = Selectors {
            code: ldt_selector(ldt::CODE_INDEX).bits(),
            data: ldt_selector(ldt::DATA_INDEX).bits(),
            stack: ldt_selector(ldt::STACK_INDEX).bits(),
            context: ldt_selector(ldt::CONTEXT_INDEX).bits(),
            exit: FarPointer::new(ldt_selector(ldt::EXIT_GATE_INDEX).bits(), 0),
            grow: FarPointer::new(ldt_selector(ldt::GROW_GATE_INDEX).bits(), 0),
        };
        let handle = Handle {
            ldt,
            slot,
            memory,
            _code: code,
            _stack: stack,
            _context: context,
            isolation: request.isolation,
        };
        Ok((handle, regions, selectors))
    }

    fn descriptor_slots_in_use(&self) -> u32 {
        self.slots.iter().filter(|used| **used).count() as u32
    }

    fn seal(&mut self, _handle: &mut Handle) -> Result<(), PlatformError> {
        // Without paging there is nothing to make read-only: the code segment is execute/read
        // and no DPL-3 writable segment covers it.
        Ok(())
    }

    fn uninstall(&mut self, handle: Handle) {
        crate::arch::gdt::set_ldt(&self.gdt, handle.slot, 0);
        self.slots[handle.slot] = false;
        // Dropping the handle frees the LDT and every region.
    }

    fn import_gate(
        &mut self,
        handle: &mut Handle,
        slot: u32,
        symbol: &'static Symbol,
    ) -> Result<FarPointer, PlatformError> {
        if slot as usize >= MAX_IMPORTS {
            return Err(PlatformError::NoDescriptorSlot);
        }
        let (handler, parameters) =
            switch::gate_handler(u32::from(symbol.id.as_u16())).ok_or(PlatformError::Refused)?;
        if usize::from(parameters) != symbol.signature.params.len() {
            return Err(PlatformError::Refused);
        }
        let index = ldt::FIRST_IMPORT_GATE_INDEX + slot as u16;
        handle.ldt.set(index, ldt::call_gate(handler, parameters));
        Ok(FarPointer::new(ldt_selector(index).bits(), 0))
    }

    fn release_import_gate(&mut self, handle: &mut Handle, slot: u32) {
        if (slot as usize) < MAX_IMPORTS {
            handle.ldt.clear(ldt::FIRST_IMPORT_GATE_INDEX + slot as u16);
        }
    }

    fn resize_memory(&mut self, handle: &mut Handle, bytes: u32) -> Result<*mut u8, PlatformError> {
        if bytes as usize > handle.memory.layout.size() {
            return Err(PlatformError::OutOfMemory);
        }
        handle.ldt.set(
            ldt::DATA_INDEX,
            ldt::descriptor(&segments::data_segment(
                handle.isolation,
                handle.memory.address(),
                bytes,
            )),
        );
        Ok(handle.memory.pointer)
    }

    unsafe fn enter(&mut self, handle: &mut Handle, run: &mut Run<'_>) -> Result<u32, Abort> {
        // SAFETY: `run.context` is the installed context block (the caller's contract).
        let header: ContextHeader = unsafe { run.context.read() };
        let registers = EntryRegisters {
            context_selector: u32::from(run.selectors.context),
            data_selector: u32::from(run.selectors.data),
            stack_selector: u32::from(run.selectors.stack),
            stack_pointer: header.plugin_esp,
            code_selector: u32::from(run.selectors.code),
            entry_point: header.plugin_entry.offset,
        };
        let budget_cycles = run.budget.map_or(0, |budget| {
            u64::from(budget.micros()) * crate::platform::timer::tsc_hz() / 1_000_000
        });
        let current = Current {
            run: (run as *mut Run<'_>).cast::<Run<'static>>(),
            platform: self,
            handle,
        };
        // SAFETY: single core; the invocation state is only read by ring-0 code entered from
        // this plugin (gates, exceptions, the timer), which runs while `enter` is suspended.
        unsafe { *RUNNING.0.get() = Some(current) };
        crate::arch::gdt::load_ldt(&self.gdt, handle.slot);
        crate::arch::gdt::set_kernel_stack(&self.gdt, kernel_stack_top());
        let start = crate::arch::cpu::rdtsc();
        DEADLINE.store(
            if budget_cycles == 0 {
                0
            } else {
                start + budget_cycles
            },
            Ordering::SeqCst,
        );
        // SAFETY: the registers describe this plugin's installed segments; the entry stub at
        // code offset 0 leaves through the exit gate, and every other way back to ring 0
        // (exception, timer, refused import) ends in `kplug_abort_to_host`, so the call returns.
        let outcome = unsafe { switch::kplug_enter_plugin(&registers) };
        DEADLINE.store(0, Ordering::SeqCst);
        // SAFETY: as above; the plugin is no longer running.
        unsafe { *RUNNING.0.get() = None };
        crate::arch::gdt::unload_ldt(&self.gdt);
        let status = (outcome >> 32) as u32;
        if status == STATUS_RETURNED {
            Ok(outcome as u32)
        } else {
            // SAFETY: single core; written by the abort path before it returned here.
            Err(unsafe { (*ABORT.0.get()).take() }.unwrap_or(Abort::UNKNOWN))
        }
    }
}

/// The invocation in progress.
struct Current {
    run: *mut Run<'static>,
    platform: *mut BoardPlatform,
    handle: *mut Handle,
}

/// State shared between `enter` and the ring-0 paths entered from the plugin.
struct Shared<T>(UnsafeCell<T>);
// SAFETY: single core; written by `enter` before the plugin runs and by ring-0 handlers (with
// interrupts off) while `enter` is suspended, never concurrently.
unsafe impl<T> Sync for Shared<T> {}

static RUNNING: Shared<Option<Current>> = Shared(UnsafeCell::new(None));
static ABORT: Shared<Option<Abort>> = Shared(UnsafeCell::new(None));
/// TSC value at which the running invocation's budget ends (0: no plugin running or no budget).
static DEADLINE: AtomicU64 = AtomicU64::new(0);

#[repr(C, align(16))]
struct KernelStack([u8; KERNEL_STACK_BYTES]);
static mut PLUGIN_KERNEL_STACK: KernelStack = KernelStack([0; KERNEL_STACK_BYTES]);

fn kernel_stack_top() -> u32 {
    (&raw const PLUGIN_KERNEL_STACK as u32) + KERNEL_STACK_BYTES as u32
}

/// Whether a plugin invocation is in progress.
pub fn plugin_running() -> bool {
    // SAFETY: a single-word read on a single core.
    unsafe { (*RUNNING.0.get()).is_some() }
}

/// Called by a gate stub (`switch.rs`) with the gate id and the gate frame (EIP, CS, then the
/// copied arguments, last argument first). Returns (abort << 32) | result.
extern "C" fn gate_dispatch(id: u32, frame: *const u32) -> u64 {
    // SAFETY: a gate is only reachable while a plugin runs, so RUNNING is set and its pointers
    // are live (`enter` is suspended below us on the firmware stack).
    let Some(current) = (unsafe { (*RUNNING.0.get()).as_ref() }) else {
        return 1 << 32;
    };
    // SAFETY: as above.
    let run = unsafe { &mut *current.run };
    let gate = if id == GROW_GATE_ID {
        Gate::Grow
    } else {
        Gate::Symbol(id as u16)
    };
    // SAFETY: frame[0] is the EIP after the plugin's far call.
    let return_eip = || unsafe { frame.read() };
    let abort = |record| {
        // SAFETY: single core; the only other writer is the abort path of a fault in this same
        // plugin, which cannot run while the plugin is inside this gate, and `enter` is
        // suspended.
        unsafe { *ABORT.0.get() = Some(Abort::Trap(record)) };
        1 << 32
    };
    // SAFETY: as above.
    let (platform, handle) = unsafe { (&mut *current.platform, &mut *current.handle) };
    match run.serve(
        gate,
        // The stub pops exactly its symbol's parameter count (the gate copied that many
        // dwords): `switch::gate_parameters` and the linked symbol come from the same table.
        |count| Some(count) == switch::gate_parameters(id),
        // SAFETY: the call gate copied `count` dwords after EIP and CS (Intel SDM vol. 3A,
        // 5.8.5); argument 0 was pushed first, so it is the deepest.
        |index, count| Some(unsafe { frame.add(2 + count - 1 - index).read() }),
        return_eip,
        |bytes| platform.resize_memory(handle, bytes),
        budget_exhausted,
    ) {
        Ok((value, _)) => u64::from(value),
        Err(record) => abort(record),
    }
}

fn registers(frame: &TrapFrame) -> Registers {
    Registers {
        eax: frame.eax,
        ebx: frame.ebx,
        ecx: frame.ecx,
        edx: frame.edx,
        esi: frame.esi,
        edi: frame.edi,
        ebp: frame.ebp,
        esp: frame.user_esp,
        eflags: frame.eflags,
        cs: frame.cs as u16,
        ds: frame.ds as u16,
        ss: frame.user_ss as u16,
    }
}

/// Ends the running invocation because of `fault` at `frame` (an exception or the budget,
/// taken at CPL 3). Never returns: the invocation's `enter` returns the abort instead.
pub fn abort_from_user(frame: &TrapFrame, fault: Fault) -> ! {
    let raw = RawFault {
        eip: frame.eip,
        fault,
        registers: Some(registers(frame)),
    };
    // SAFETY: single core, interrupts off in the handler; `enter` is suspended.
    unsafe { *ABORT.0.get() = Some(Abort::Fault(raw)) };
    // SAFETY: we are in a ring-0 handler entered from the plugin and hold no locks.
    unsafe { switch::kplug_abort_to_host() }
}

/// The tick's part in isolation: a plugin interrupted at CPL 3 past its budget is aborted
/// (never returns then: `enter` returns the abort).
pub fn on_tick(frame: &TrapFrame) {
    if frame.interrupted_user_code() && plugin_running() && budget_exhausted() {
        abort_from_user(frame, Fault::Budget);
    }
}

/// Whether the running invocation has used up its budget (checked by the timer interrupt).
pub fn budget_exhausted() -> bool {
    let deadline = DEADLINE.load(Ordering::SeqCst);
    deadline != 0 && crate::arch::cpu::rdtsc() >= deadline
}
