//! A fake platform, device and link control, so host tests cover the runtime (the plugin table,
//! the service, the link server) on any machine (feature `fake`).
//!
//! The fake cannot run i386 code on the host. Everything around the code is real: the module is
//! compiled, the regions are real host memory that the core fills (code, context block, data
//! segments, arguments), descriptor slots are counted, imports go through the real gate path
//! ([`Run::gate`]). What `enter` does is scripted ([`Script`]): return a value, fault at an
//! EIP, run out of budget, or call imports and `memory.grow` first. Each entry is recorded
//! ([`Entered`]) with the arguments the core laid out on the plugin stack, so tests can assert
//! what the plugin would have seen.

use crate::abi::{self, ContextHeader, FarPointer};
use crate::compiler::Fault;
use crate::error::PlatformError;
use crate::instance::{Gate, GateTarget, InstallRequest, Platform, Regions, Run, Selectors};
use crate::link::{LinkControl, PlatformStats};
use crate::service::Device;
use crate::trap::{Abort, RawFault};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use plugin_format::limits::Budget;
use plugin_format::message::{BoardInfo, IsolationMode, PROTOCOL_VERSION, ProbeOutcome};
use plugin_format::symbols::Symbol;
use plugin_format::trap::TrapKind;

/// What one scripted entry does. Its EIPs are code offsets; the fake reports them as the CPU
/// would, as linear addresses (the code region's base added: the code segment's base is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script {
    /// Return this EAX.
    Return(u32),
    /// Raise exception `vector` (with `error_code` where the vector has one) at `eip`.
    Fault {
        /// Where.
        eip: u32,
        /// The vector.
        vector: u8,
        /// The error code the CPU pushed.
        error_code: u32,
    },
    /// Run past the budget at `eip`.
    Budget {
        /// Where the timer found it.
        eip: u32,
    },
    /// Call import slot `slot` with `args` from the far call returning to `return_eip`, then
    /// go on with `then` (unless the import ends the invocation).
    Import {
        /// The import slot.
        slot: u32,
        /// Its arguments, parameter 0 first.
        args: Vec<u32>,
        /// The far call's return address.
        return_eip: u32,
        /// What happens after it returns.
        then: Box<Script>,
    },
    /// `memory.grow(delta)`, then `then` (which sees the result in [`Entered::grown`]).
    Grow {
        /// Pages to grow by.
        delta: u32,
        /// What happens next.
        then: Box<Script>,
    },
}

/// What the fake saw at one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    /// The code offset the entry stub would call (`ContextHeader::entry_target`, a linear
    /// address, less the code region's base).
    pub entry_target: u32,
    /// The entry ESP.
    pub esp: u32,
    /// The argument words between the entry ESP and the top reserve, parameter 0 first.
    pub arguments: Vec<u32>,
    /// The budget the invocation ran under.
    pub budget: Option<Budget>,
    /// What each import returned (EAX), in order.
    pub import_results: Vec<u32>,
    /// What each `memory.grow` returned.
    pub grown: Vec<u32>,
}

/// One installed plugin's regions, in host memory.
#[derive(Debug)]
pub struct FakeHandle {
    slot: usize,
    code: Box<[u8]>,
    memory: Box<[u8]>,
    stack: Box<[u8]>,
    context: Box<[u8]>,
    memory_bytes: u32,
    sealed: bool,
    gates: Vec<Option<u16>>,
}

impl FakeHandle {
    /// The generated code as installed.
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// The current data-segment size.
    pub fn memory_bytes(&self) -> u32 {
        self.memory_bytes
    }
}

/// The fake [`Platform`].
#[derive(Debug)]
pub struct FakePlatform {
    slots: Vec<bool>,
    script: VecDeque<Script>,
    /// Every entry, in order.
    pub entered: Vec<Entered>,
    /// When set, `install` fails with this error.
    pub refuse_install: Option<PlatformError>,
    /// The most bytes `install` may hand out in total (a small board's heap).
    pub memory_limit: usize,
    memory_in_use: usize,
}

impl FakePlatform {
    /// A platform with `slots` descriptor slots.
    pub fn new(slots: usize) -> FakePlatform {
        FakePlatform {
            slots: vec![false; slots],
            script: VecDeque::new(),
            entered: Vec::new(),
            refuse_install: None,
            memory_limit: 64 << 20,
            memory_in_use: 0,
        }
    }

    /// Queues what the next entry does (an entry without a script returns 0).
    pub fn script(&mut self, script: Script) {
        self.script.push_back(script);
    }

    /// Region bytes handed out and not yet freed.
    pub fn memory_in_use(&self) -> usize {
        self.memory_in_use
    }

    fn region(&mut self, bytes: u32) -> Result<Box<[u8]>, PlatformError> {
        let bytes = bytes as usize;
        let total = self
            .memory_in_use
            .checked_add(bytes)
            .filter(|&total| total <= self.memory_limit)
            .ok_or(PlatformError::OutOfMemory)?;
        let mut region = Vec::new();
        region
            .try_reserve_exact(bytes.max(1))
            .map_err(|_| PlatformError::OutOfMemory)?;
        region.resize(bytes.max(1), 0);
        self.memory_in_use = total;
        Ok(region.into_boxed_slice())
    }

    /// Runs `script` on the invocation `run`, recording into `entered`.
    fn run_script(
        handle: &mut FakeHandle,
        run: &mut Run<'_>,
        script: Script,
        entered: &mut Entered,
    ) -> Result<u32, Abort> {
        match script {
            Script::Return(eax) => Ok(eax),
            Script::Fault {
                eip,
                vector,
                error_code,
            } => Err(Abort::Fault(RawFault {
                eip: run.code_base.wrapping_add(eip),
                fault: Fault::from_exception(vector, error_code),
                registers: None,
            })),
            Script::Budget { eip } => Err(Abort::Fault(RawFault {
                eip: run.code_base.wrapping_add(eip),
                fault: Fault::Budget,
                registers: None,
            })),
            Script::Import {
                slot,
                args,
                return_eip,
                then,
            } => {
                let return_eip = run.code_base.wrapping_add(return_eip);
                let result = match run.resolve(Gate::Slot(slot)) {
                    Some(target) => run.gate(
                        target,
                        &args,
                        || return_eip,
                        |_| Err(PlatformError::Refused),
                        || false,
                    ),
                    None => Err(run.gate_trap(TrapKind::ImportFault, return_eip)),
                };
                match result {
                    Ok(eax) => {
                        entered.import_results.push(eax);
                        Self::run_script(handle, run, *then, entered)
                    }
                    Err(record) => Err(Abort::Trap(record)),
                }
            }
            Script::Grow { delta, then } => {
                let result = run.gate(
                    GateTarget::Grow,
                    &[delta],
                    || 0,
                    |bytes| resize(handle, bytes),
                    || false,
                );
                match result {
                    Ok(eax) => {
                        entered.grown.push(eax);
                        Self::run_script(handle, run, *then, entered)
                    }
                    Err(record) => Err(Abort::Trap(record)),
                }
            }
        }
    }
}

fn resize(handle: &mut FakeHandle, bytes: u32) -> Result<*mut u8, PlatformError> {
    if bytes as usize > handle.memory.len() {
        return Err(PlatformError::OutOfMemory);
    }
    handle.memory_bytes = bytes;
    Ok(handle.memory.as_mut_ptr())
}

// SAFETY: the regions are real host memory of the requested sizes, kept until `uninstall`;
// `enter` reads and writes only inside them and returns without running any code.
unsafe impl Platform for FakePlatform {
    type Handle = FakeHandle;

    fn install(
        &mut self,
        request: &InstallRequest,
    ) -> Result<(FakeHandle, Regions, Selectors), PlatformError> {
        if let Some(error) = self.refuse_install {
            return Err(error);
        }
        let slot = self
            .slots
            .iter()
            .position(|used| !used)
            .ok_or(PlatformError::NoDescriptorSlot)?;
        let before = self.memory_in_use;
        let regions = (|| {
            Ok::<_, PlatformError>((
                self.region(request.code_bytes)?,
                self.region(request.memory_max_bytes)?,
                self.region(request.stack_bytes)?,
                self.region(request.context_bytes)?,
            ))
        })();
        let (mut code, mut memory, mut stack, mut context) = match regions {
            Ok(regions) => regions,
            Err(error) => {
                self.memory_in_use = before;
                return Err(error);
            }
        };
        self.slots[slot] = true;
        let regions = Regions {
            code: code.as_mut_ptr(),
            memory: memory.as_mut_ptr(),
            stack: stack.as_mut_ptr(),
            context: context.as_mut_ptr(),
        };
        let selectors = Selectors {
            code: 0x07,
            data: 0x0F,
            stack: 0x17,
            context: 0x1F,
            exit: FarPointer::new(0x27, 0),
            grow: FarPointer::new(0x2F, 0),
        };
        let handle = FakeHandle {
            slot,
            code,
            memory,
            stack,
            context,
            memory_bytes: request.memory_bytes,
            sealed: false,
            gates: Vec::new(),
        };
        Ok((handle, regions, selectors))
    }

    fn descriptor_slots_in_use(&self) -> u32 {
        self.slots.iter().filter(|used| **used).count() as u32
    }

    fn seal(&mut self, handle: &mut FakeHandle) -> Result<(), PlatformError> {
        handle.sealed = true;
        Ok(())
    }

    fn uninstall(&mut self, handle: FakeHandle) {
        self.slots[handle.slot] = false;
        let bytes =
            handle.code.len() + handle.memory.len() + handle.stack.len() + handle.context.len();
        self.memory_in_use = self.memory_in_use.saturating_sub(bytes);
    }

    fn import_gate(
        &mut self,
        handle: &mut FakeHandle,
        slot: u32,
        symbol: &'static Symbol,
    ) -> Result<FarPointer, PlatformError> {
        let slot = slot as usize;
        if handle.gates.len() <= slot {
            handle.gates.resize(slot + 1, None);
        }
        handle.gates[slot] = Some(symbol.id.as_u16());
        Ok(FarPointer::new(0x37, slot as u32))
    }

    fn release_import_gate(&mut self, handle: &mut FakeHandle, slot: u32) {
        if let Some(gate) = handle.gates.get_mut(slot as usize) {
            *gate = None;
        }
    }

    fn resize_memory(
        &mut self,
        handle: &mut FakeHandle,
        bytes: u32,
    ) -> Result<*mut u8, PlatformError> {
        resize(handle, bytes)
    }

    unsafe fn enter(&mut self, handle: &mut FakeHandle, run: &mut Run<'_>) -> Result<u32, Abort> {
        assert!(handle.sealed, "entered before seal");
        // SAFETY: `run.context` is this plugin's context block (the caller's contract).
        let header: ContextHeader = unsafe { run.context.read() };
        let top = run.stack_bytes - abi::STACK_TOP_RESERVE;
        let arguments = handle.stack[header.plugin_esp as usize..top as usize]
            .chunks_exact(4)
            .rev()
            .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .collect();
        let mut entered = Entered {
            entry_target: header.entry_target.wrapping_sub(run.code_base),
            esp: header.plugin_esp,
            arguments,
            budget: run.budget,
            import_results: Vec::new(),
            grown: Vec::new(),
        };
        let script = self.script.pop_front().unwrap_or(Script::Return(0));
        let result = Self::run_script(handle, run, script, &mut entered);
        self.entered.push(entered);
        result
    }
}

/// The fake [`Device`]: a clock that advances 1000 cycles per reading, an 8-pin latch.
#[derive(Debug, Default)]
pub struct FakeDevice {
    /// The cycle counter.
    pub cycles: u64,
    /// The GPIO latch (bit n = pin n).
    pub gpio: u8,
    /// Every GPIO write so far, in order: (pin, level).
    pub gpio_writes: Vec<(u32, bool)>,
    /// The heap figure reported.
    pub heap_used: u32,
    /// The free heap reported (`None`: plenty).
    pub heap_free: Option<u32>,
    /// Cycles each read of the counter advances it by (0: 1000, one microsecond), so a test
    /// can make every timed step take as long as it needs.
    pub cycles_per_read: u64,
}

impl Device for FakeDevice {
    fn cycles(&mut self) -> u64 {
        self.cycles += match self.cycles_per_read {
            0 => 1000,
            step => step,
        };
        self.cycles
    }
    fn cycles_to_micros(&self, cycles: u64) -> u64 {
        cycles / 1000
    }
    fn now_us(&mut self) -> u32 {
        (self.cycles / 1000) as u32
    }
    fn ticks_ms(&mut self) -> u32 {
        (self.cycles / 1_000_000) as u32
    }
    fn gpio_write(&mut self, pin: u32, high: bool) {
        self.gpio_writes.push((pin, high));
        if high {
            self.gpio |= 1 << pin;
        } else {
            self.gpio &= !(1 << pin);
        }
    }
    fn gpio_read(&mut self, pin: u32) -> bool {
        self.gpio & (1 << pin) != 0
    }
    fn heap_used(&self) -> u32 {
        self.heap_used
    }
    fn heap_free(&self) -> u32 {
        self.heap_free.unwrap_or(u32::MAX)
    }
}

/// The fake [`LinkControl`]: a fixed identity, settable figures, a log to stream.
#[derive(Debug, Default)]
pub struct FakeControl {
    /// The figures `Stats` reports.
    pub stats: PlatformStats,
    /// The firmware log's bytes.
    pub log: Vec<u8>,
    /// How many log bytes have been taken.
    pub log_sent: usize,
}

impl LinkControl for FakeControl {
    fn info(&self) -> BoardInfo {
        BoardInfo {
            firmware_version: String::from("fake"),
            protocol: PROTOCOL_VERSION,
            board_name: String::from("fake"),
            ram_bytes: 0,
            cpu: String::from("none (scripted)"),
            tsc_hz: 1_000_000_000,
            uptime_ms: 0,
            isolation: IsolationMode::Software,
            probe: ProbeOutcome::LimitIgnored,
        }
    }

    fn platform_stats(&self) -> PlatformStats {
        self.stats
    }

    fn rewind_log(&mut self) {
        self.log_sent = 0;
    }

    fn take_log(&mut self, max: usize) -> Vec<u8> {
        let end = self.log.len().min(self.log_sent + max);
        let chunk = self.log[self.log_sent..end].to_vec();
        self.log_sent = end;
        chunk
    }
}
