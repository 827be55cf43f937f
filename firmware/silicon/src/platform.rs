//! [`Silicon`]: the harness's [`Platform`]. Regions are `mmap`ed with guard pages, segments go
//! in the process LDT, plugins are entered through [`crate::trampoline`], and SIGSEGV, SIGBUS,
//! SIGFPE, SIGILL (and SIGALRM for budgets) raised in plugin code become trap records.

use crate::ldt::{self, Segment, SegmentKind};
use crate::trampoline::{self, GROW_SLOT, IMPORT_STUB_BYTES, IMPORT_STUBS};
use core::cell::Cell;
use core::ptr::null_mut;
use kplug_core::abi::{ContextHeader, FarPointer};
use kplug_core::instance::{Abort, Gate, InstallRequest, RawFault, Regions, Run, Selectors};
use kplug_core::segments;
use kplug_core::{Fault, Isolation, Platform, PlatformError};
use plugin_format::symbols::Symbol;
use plugin_format::trap::Registers;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Page size of the host.
const PAGE: usize = 4096;
/// Alternate signal stack per thread.
const ALT_STACK_BYTES: usize = 64 * 1024;
/// The budget timer's period.
const TICK_NS: i64 = 1_000_000;
/// Microseconds per tick.
const TICK_US: u32 = 1_000;

/// One `mmap`ed region with a guard page on each side.
#[derive(Debug)]
pub struct Region {
    mapping: *mut u8,
    mapping_bytes: usize,
    /// The usable bytes.
    pub base: *mut u8,
    /// Usable size (page-rounded).
    pub bytes: usize,
}

impl Region {
    fn new(bytes: usize) -> Result<Region, PlatformError> {
        let bytes = bytes.max(1).div_ceil(PAGE) * PAGE;
        let mapping_bytes = bytes + 2 * PAGE;
        // SAFETY: an anonymous private mapping; no existing memory is affected.
        let mapping = unsafe {
            libc::mmap(
                null_mut(),
                mapping_bytes,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mapping == libc::MAP_FAILED {
            return Err(PlatformError::OutOfMemory);
        }
        let mapping = mapping as *mut u8;
        // SAFETY: the usable pages lie inside the mapping just created.
        let base = unsafe { mapping.add(PAGE) };
        // SAFETY: as above; makes the middle pages read/write, leaving the guards.
        let result =
            unsafe { libc::mprotect(base as *mut _, bytes, libc::PROT_READ | libc::PROT_WRITE) };
        let region = Region {
            mapping,
            mapping_bytes,
            base,
            bytes,
        };
        if result != 0 {
            return Err(PlatformError::OutOfMemory);
        }
        Ok(region)
    }

    fn protect(&self, protection: libc::c_int) -> Result<(), PlatformError> {
        // SAFETY: the usable pages belong to this region.
        let result = unsafe { libc::mprotect(self.base as *mut _, self.bytes, protection) };
        if result == 0 {
            Ok(())
        } else {
            Err(PlatformError::Refused)
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping this region created.
        unsafe { libc::munmap(self.mapping as *mut _, self.mapping_bytes) };
    }
}

/// The harness's record of one installed plugin.
#[derive(Debug)]
pub struct Handle {
    code: Region,
    memory: Region,
    /// Owns the stack mapping until uninstall.
    #[allow(dead_code)]
    stack: Region,
    /// Owns the context mapping until uninstall.
    #[allow(dead_code)]
    context: Region,
    /// LDT entries: code, data, stack, context.
    entries: [u16; 4],
    isolation: Isolation,
    /// Current data-segment size.
    memory_bytes: u32,
    /// Unique per install: tells whether a thread's FS still holds this plugin's context.
    generation: u64,
    /// The segments were installed without limits ([`Segments::Flat`]).
    flat: bool,
}

/// Source of [`Handle::generation`].
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The flat (Linux user) selectors.
#[derive(Debug, Clone, Copy)]
struct Flat {
    cs: u16,
    ds: u16,
}

fn flat() -> Flat {
    let (cs, ds): (u16, u16);
    // SAFETY: reads segment registers only.
    unsafe {
        core::arch::asm!("mov {0:x}, cs", "mov {1:x}, ds", out(reg) cs, out(reg) ds, options(nomem, nostack, preserves_flags));
    }
    Flat { cs, ds }
}

/// How the harness sizes a plugin's segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segments {
    /// As `kplug_core::abi` requires: code, data and stack limits exact in hardware mode
    /// (the isolation the board gives).
    Exact,
    /// **Benchmarks only, no isolation.** Every segment (code, data, stack, context) keeps its
    /// base but gets a 4 GiB limit, whatever the isolation mode, so the CPU checks nothing.
    /// Running hardware-mode code (no bounds checks) this way is "the same generated code with
    /// flat segments and no checks", the reference for the isolation cost (issue 5). The bases
    /// cannot be 0 as on a truly flat machine: the code addresses linear memory from offset 0,
    /// and a Linux process cannot map page 0. Out-of-bounds accesses then reach whatever lies
    /// past the region instead of trapping, so only trusted code may run this way.
    Flat,
}

/// The harness platform.
#[derive(Debug)]
pub struct Silicon {
    flat: Flat,
    segments: Segments,
}

impl Default for Silicon {
    fn default() -> Self {
        Self::new()
    }
}

impl Silicon {
    /// The platform (installs the signal handlers once per process).
    pub fn new() -> Silicon {
        Silicon::with_segments(Segments::Exact)
    }

    /// The platform with the given segment sizing ([`Segments::Flat`] is for benchmarks only).
    pub fn with_segments(segments: Segments) -> Silicon {
        install_handlers();
        Silicon {
            flat: flat(),
            segments,
        }
    }
}

fn ldt_error(error: ldt::LdtError) -> PlatformError {
    match error {
        ldt::LdtError::Full => PlatformError::NoDescriptorSlot,
        _ => PlatformError::Refused,
    }
}

// SAFETY: segments are installed as `kplug_core::abi` describes (see `install`), regions live
// until `uninstall`, and `enter` returns only through the exit or recovery trampolines.
unsafe impl Platform for Silicon {
    type Handle = Handle;

    fn install(
        &mut self,
        request: &InstallRequest,
    ) -> Result<(Handle, Regions, Selectors), PlatformError> {
        let code = Region::new(request.code_bytes as usize)?;
        let memory = Region::new(request.memory_max_bytes as usize)?;
        let stack = Region::new(request.stack_bytes as usize)?;
        let context = Region::new(request.context_bytes as usize)?;
        let entries = ldt::allocate(4).map_err(ldt_error)?;
        let entries = [entries[0], entries[1], entries[2], entries[3]];
        let regions = Regions {
            code: code.base,
            memory: memory.base,
            stack: stack.base,
            context: context.base,
        };
        let planned = segments::plugin_segments(request, &regions);
        let flat_segments = self.segments == Segments::Flat;
        let segments =
            [planned.code, planned.data, planned.stack, planned.context].map(|segment| {
                if flat_segments {
                    // Benchmarks only: every segment keeps its base and limits nothing.
                    Segment {
                        size: segments::FULL_SPAN,
                        kind: match segment.kind {
                            SegmentKind::Empty => SegmentKind::Data,
                            kind => kind,
                        },
                        ..segment
                    }
                } else {
                    segment
                }
            });
        for (entry, segment) in entries.iter().zip(segments) {
            if let Err(error) = ldt::install(*entry, segment) {
                for entry in entries {
                    ldt::free(entry);
                }
                return Err(ldt_error(error));
            }
        }
        let selectors = Selectors {
            code: ldt::selector(entries[0]),
            data: ldt::selector(entries[1]),
            stack: ldt::selector(entries[2]),
            context: ldt::selector(entries[3]),
            exit: FarPointer::new(
                self.flat.cs,
                trampoline::kplug_exit as *const () as usize as u32,
            ),
            grow: FarPointer::new(
                self.flat.cs,
                trampoline::kplug_grow_stub as *const () as usize as u32,
            ),
        };
        Ok((
            Handle {
                code,
                memory,
                stack,
                context,
                entries,
                isolation: request.isolation,
                memory_bytes: request.memory_bytes,
                generation: GENERATION.fetch_add(1, Ordering::Relaxed),
                flat: flat_segments,
            },
            regions,
            selectors,
        ))
    }

    fn descriptor_slots_in_use(&self) -> u32 {
        ldt::allocated() as u32
    }

    fn seal(&mut self, handle: &mut Handle) -> Result<(), PlatformError> {
        handle.code.protect(libc::PROT_READ | libc::PROT_EXEC)
    }

    fn uninstall(&mut self, handle: Handle) {
        for entry in handle.entries {
            ldt::free(entry);
        }
        drop(handle);
    }

    fn import_gate(
        &mut self,
        _handle: &mut Handle,
        slot: u32,
        _symbol: &'static Symbol,
    ) -> Result<FarPointer, PlatformError> {
        if slot as usize >= IMPORT_STUBS {
            return Err(PlatformError::NoDescriptorSlot);
        }
        let stub = trampoline::kplug_import_stubs as *const () as usize
            + IMPORT_STUB_BYTES * slot as usize;
        Ok(FarPointer::new(self.flat.cs, stub as u32))
    }

    fn release_import_gate(&mut self, _handle: &mut Handle, _slot: u32) {}

    fn resize_memory(&mut self, handle: &mut Handle, bytes: u32) -> Result<*mut u8, PlatformError> {
        resize(handle, bytes)
    }

    unsafe fn enter(&mut self, handle: &mut Handle, run: &mut Run<'_>) -> Result<u32, Abort> {
        prepare_thread();
        let context = run.context;
        let mut current = Current {
            run: (run as *mut Run<'_>).cast::<Run<'static>>(),
            handle: handle as *mut Handle,
            code_selector: run.selectors.code,
            context,
            flat: self.flat,
            fault: None,
            trap: None,
            deadline: None,
        };
        if let Some(budget) = run.budget {
            start_ticks();
            let ticks = u64::from(budget.micros().div_ceil(TICK_US)) + 1;
            current.deadline = Some(TICKS.with(Cell::get) + ticks);
        }
        CURRENT.with(|cell| cell.set(&mut current));
        let reload =
            LOADED_CONTEXT.with(|loaded| loaded.replace(handle.generation)) != handle.generation;
        // SAFETY: the context block holds the entry target, SS:ESP, the data selector and the
        // entry/exit far pointers (written by the core), for segments installed above; FS is
        // reloaded unless this thread last loaded this very install's context.
        let result =
            unsafe { trampoline::kplug_enter(u32::from(run.selectors.context), u32::from(reload)) };
        CURRENT.with(|cell| cell.set(null_mut()));
        let eax = result as u32;
        match (result >> 32) as u32 {
            trampoline::STATUS_RETURNED => Ok(eax),
            trampoline::STATUS_IMPORT_TRAP => {
                Err(current.trap.take().map_or(Abort::UNKNOWN, Abort::Trap))
            }
            _ => Err(current.fault.map_or(Abort::UNKNOWN, Abort::Fault)),
        }
    }
}

fn resize(handle: &mut Handle, bytes: u32) -> Result<*mut u8, PlatformError> {
    if bytes as usize > handle.memory.bytes {
        return Err(PlatformError::OutOfMemory);
    }
    if handle.isolation == Isolation::Hardware && !handle.flat {
        ldt::install(
            handle.entries[1],
            segments::data_segment(Isolation::Hardware, handle.memory.base as u32, bytes),
        )
        .map_err(ldt_error)?;
    }
    handle.memory_bytes = bytes;
    Ok(handle.memory.base)
}

/// The invocation running on this thread.
struct Current {
    run: *mut Run<'static>,
    handle: *mut Handle,
    code_selector: u16,
    context: *mut ContextHeader,
    flat: Flat,
    fault: Option<RawFault>,
    trap: Option<plugin_format::trap::TrapRecord>,
    deadline: Option<u64>,
}

thread_local! {
    static CURRENT: Cell<*mut Current> = const { Cell::new(null_mut()) };
    static TICKS: Cell<u64> = const { Cell::new(0) };
    static TIMER: Cell<Option<usize>> = const { Cell::new(None) };
    static ALT_STACK: Cell<bool> = const { Cell::new(false) };
    /// The install generation whose context descriptor this thread's FS holds.
    static LOADED_CONTEXT: Cell<u64> = const { Cell::new(0) };
}

/// Called by the import stubs (flat DS, harness stack). Returns `bytes_to_pop << 32 | result`,
/// or `DISPATCH_TRAP << 32` to abort the invocation.
#[unsafe(no_mangle)]
pub extern "C" fn kplug_import_dispatch(slot: u32, plugin_esp: u32) -> u64 {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        return u64::from(trampoline::DISPATCH_TRAP) << 32;
    }
    // SAFETY: `current` points at the `Current` of the running `enter` on this thread, which
    // outlives the plugin's execution; the plugin is suspended in this call.
    let current = unsafe { &mut *current };
    // SAFETY: `run` lives for the duration of `enter`.
    let run = unsafe { &mut *current.run };
    // The caller's EIP is the far call's return address on the plugin stack (read only to
    // attribute a trap).
    let (stack, stack_bytes) = (run.stack, run.stack_bytes);
    let return_eip = move || read_stack_at(stack, stack_bytes, plugin_esp).unwrap_or(0);
    let gate = if slot == GROW_SLOT {
        Gate::Grow
    } else {
        Gate::Slot(slot)
    };
    // SAFETY: the handle outlives `enter`; the plugin is suspended.
    let handle = unsafe { &mut *current.handle };
    let deadline = current.deadline;
    let budget_spent = || deadline.is_some_and(|deadline| TICKS.with(Cell::get) >= deadline);
    match run.serve(
        gate,
        // Every stub jumps to the same dispatcher, which pops what the symbol takes.
        |_| true,
        // Parameter 0 was pushed first, so it is the deepest; the far call's return frame
        // (EIP, CS) sits on top.
        |index, count| {
            let offset = plugin_esp.wrapping_add(8 + 4 * (count - 1 - index) as u32);
            read_stack_at(stack, stack_bytes, offset)
        },
        return_eip,
        |bytes| resize(handle, bytes),
        budget_spent,
    ) {
        Ok((value, params)) => (u64::from(4 * params as u32) << 32) | u64::from(value),
        Err(record) => {
            current.trap = Some(record);
            u64::from(trampoline::DISPATCH_TRAP) << 32
        }
    }
}

/// A word at `offset` of the stack region at `stack` of `stack_bytes`, if inside it.
fn read_stack_at(stack: *mut u8, stack_bytes: u32, offset: u32) -> Option<u32> {
    if offset.checked_add(4)? > stack_bytes {
        return None;
    }
    // SAFETY: inside the stack region (checked), which is valid while the plugin is installed.
    Some(unsafe { (stack.add(offset as usize) as *const u32).read_unaligned() })
}

/// Per-thread setup before running plugin code: an alternate signal stack (the plugin's ESP is
/// an offset in its own SS, so signals must never be delivered on it).
fn prepare_thread() {
    if ALT_STACK.with(Cell::get) {
        return;
    }
    let stack = Box::leak(vec![0u8; ALT_STACK_BYTES].into_boxed_slice());
    let alt = libc::stack_t {
        ss_sp: stack.as_mut_ptr() as *mut _,
        ss_flags: 0,
        ss_size: ALT_STACK_BYTES,
    };
    // SAFETY: `alt` describes a leaked (so never freed) buffer of the size given.
    unsafe { libc::sigaltstack(&alt, null_mut()) };
    ALT_STACK.with(|cell| cell.set(true));
}

/// Starts this thread's budget timer (a 1 ms periodic SIGALRM to this thread), once.
fn start_ticks() {
    if TIMER.with(Cell::get).is_some() {
        return;
    }
    // SAFETY: plain system calls with valid, initialised arguments.
    unsafe {
        let mut event: libc::sigevent = core::mem::zeroed();
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = libc::SIGALRM;
        event.sigev_notify_thread_id = libc::syscall(libc::SYS_gettid) as i32;
        let mut timer: libc::timer_t = null_mut();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) != 0 {
            return;
        }
        let period = libc::timespec {
            tv_sec: 0,
            tv_nsec: TICK_NS as _,
        };
        let spec = libc::itimerspec {
            it_interval: period,
            it_value: period,
        };
        libc::timer_settime(timer, 0, &spec, null_mut());
        TIMER.with(|cell| cell.set(Some(timer as usize)));
    }
}

const HANDLED_SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGALRM,
];

static mut PREVIOUS: [Option<libc::sigaction>; 5] = [None; 5];
static HANDLERS: Once = Once::new();

fn install_handlers() {
    HANDLERS.call_once(|| {
        for (index, &signal) in HANDLED_SIGNALS.iter().enumerate() {
            // SAFETY: installs a valid SA_SIGINFO handler; PREVIOUS is written only here,
            // inside `call_once`, before any handler can read it.
            unsafe {
                let mut action: libc::sigaction = core::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = core::mem::zeroed();
                libc::sigaction(signal, &action, &mut old);
                (*core::ptr::addr_of_mut!(PREVIOUS))[index] = Some(old);
            }
        }
    });
}

/// Gives a signal that is not ours back to the previous handler (or the default action): the
/// faulting instruction re-executes and the restored handler sees it.
fn pass_on(signal: libc::c_int) {
    let Some(index) = HANDLED_SIGNALS.iter().position(|&s| s == signal) else {
        return;
    };
    // SAFETY: PREVIOUS was fully written before the handler was installed.
    unsafe {
        match (*core::ptr::addr_of!(PREVIOUS))[index] {
            Some(old) => libc::sigaction(signal, &old, null_mut()),
            None => libc::signal(signal, libc::SIG_DFL) as i32,
        };
    }
}

fn vector_of(signal: libc::c_int, trapno: u32) -> u8 {
    match signal {
        // The kernel reports the vector in the trap number for every exception.
        libc::SIGFPE | libc::SIGILL | libc::SIGSEGV | libc::SIGBUS => trapno as u8,
        _ => kplug_core::trap::UNKNOWN_VECTOR,
    }
}

extern "C" fn on_signal(
    signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let current = CURRENT.with(Cell::get);
    if signal == libc::SIGALRM {
        TICKS.with(|ticks| ticks.set(ticks.get() + 1));
    }
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler.
    let context = unsafe { &mut *(context as *mut libc::ucontext_t) };
    let gregs = &mut context.uc_mcontext.gregs;
    let cs = gregs[libc::REG_CS as usize] as u16;
    if current.is_null() {
        if signal != libc::SIGALRM {
            pass_on(signal);
        }
        return;
    }
    // SAFETY: `current` is the running invocation's state (see kplug_import_dispatch).
    let current = unsafe { &mut *current };
    if cs != current.code_selector {
        if signal != libc::SIGALRM {
            pass_on(signal);
        }
        return;
    }
    let fault = if signal == libc::SIGALRM {
        match current.deadline {
            Some(deadline) if TICKS.with(Cell::get) >= deadline => Fault::Budget,
            _ => return,
        }
    } else {
        let trapno = gregs[libc::REG_TRAPNO as usize] as u32;
        Fault::from_exception(
            vector_of(signal, trapno),
            gregs[libc::REG_ERR as usize] as u32,
        )
    };
    let registers = Registers {
        eax: gregs[libc::REG_EAX as usize] as u32,
        ebx: gregs[libc::REG_EBX as usize] as u32,
        ecx: gregs[libc::REG_ECX as usize] as u32,
        edx: gregs[libc::REG_EDX as usize] as u32,
        esi: gregs[libc::REG_ESI as usize] as u32,
        edi: gregs[libc::REG_EDI as usize] as u32,
        ebp: gregs[libc::REG_EBP as usize] as u32,
        esp: gregs[libc::REG_UESP as usize] as u32,
        eflags: gregs[libc::REG_EFL as usize] as u32,
        cs,
        ds: gregs[libc::REG_DS as usize] as u16,
        ss: gregs[libc::REG_SS as usize] as u16,
    };
    current.fault = Some(RawFault {
        eip: gregs[libc::REG_EIP as usize] as u32,
        fault,
        registers: Some(registers),
    });
    // SAFETY: the context block is valid while the plugin runs; host_esp was saved by
    // kplug_enter.
    let host_esp = unsafe { (*current.context).host_esp };
    let flat = current.flat;
    gregs[libc::REG_EIP as usize] = trampoline::kplug_recover as *const () as usize as i32;
    gregs[libc::REG_CS as usize] = i32::from(flat.cs);
    gregs[libc::REG_SS as usize] = i32::from(flat.ds);
    gregs[libc::REG_DS as usize] = i32::from(flat.ds);
    gregs[libc::REG_ES as usize] = i32::from(flat.ds);
    gregs[libc::REG_ESP as usize] = host_esp as i32;
    gregs[libc::REG_UESP as usize] = host_esp as i32;
}
