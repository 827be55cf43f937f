//! The description fuzzer: random and mutated plugin descriptions and upload sequences, framed as
//! the host link frames them, through postcard decoding and the plugin service
//! (`kplug_core::service`) on a fake platform that checks what the service asks of it.
//!
//! A case is a list of host-frame payloads (`postcard(seq ++ request)`): an `UploadBegin` whose
//! description has hostile names, limits (0, 1, `u32::MAX`, ...), imports and declared sizes,
//! chunks in order, out of order, repeated, past the end, an `UploadEnd` with a right or wrong
//! CRC, invocations with any number and type of arguments, lists and unloads; some payloads
//! are mutated after encoding (a valid CRC around garbage postcard). Each payload is decoded as
//! the firmware decodes it and, if it decodes, served.
//!
//! The checks: nothing panics; each request ends in a reply or a typed error; the service never
//! asks the platform for regions beyond the board ([`BOARD_RAM_BYTES`]), never enters a plugin
//! with its stack pointer outside its stack region or with no or an unbounded budget
//! ([`MAX_SANE_BUDGET_US`]); and no request allocates beyond a bound ([`crate::measure`]).
//!
//! The fake platform cannot run i386 code (the fuzzer runs on the host): `enter` checks the entry
//! state and returns 0. It reserves 4 GiB of address space behind each stack region, so an entry
//! stack pointer computed with wrapping arithmetic lands in the fake's own reservation (and is
//! reported) instead of corrupting the fuzzer; it therefore needs a 64-bit host.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use fastrand::Rng;
use kplug_core::abi::{FarPointer, STACK_TOP_RESERVE};
use kplug_core::fake::FakeDevice;
use kplug_core::service::{self, PluginService};
use kplug_core::{
    Abort, InstallRequest, Isolation, Platform, PlatformError, Regions, Run, Selectors,
};
use plugin_format::frame;
use plugin_format::message::{HostFrame, MAX_CHUNK_BYTES, PluginRef, Request, TrapPolicy, Value};
use plugin_format::plugin::{ImportRequest, Limits, PluginDescription};
use plugin_format::symbols::SYMBOLS;

use crate::measure::{Meter, Work};

/// The board's RAM (ARCHITECTURE.md): no plugin may ask for more than this in regions.
pub const BOARD_RAM_BYTES: u64 = 32 << 20;
/// A budget above this (one minute) holds the board for longer than any sane plugin call; the
/// documented board maximum, once the limits module lands, is lower.
pub const MAX_SANE_BUDGET_US: u32 = 60_000_000;
/// Plugin slots of the service under test.
const SLOTS: usize = 4;
/// Address space reserved behind each fake stack region (see the module docs).
const STACK_RESERVATION: usize = (4 << 30) + (1 << 20);
/// Bytes one request may allocate at most: the board's RAM (the fake's regions) plus a module's
/// compilation ([`crate::compiler::byte_bound`] of the largest module).
pub fn request_byte_bound() -> u64 {
    BOARD_RAM_BYTES
        + crate::compiler::byte_bound(plugin_format::plugin::MAX_MODULE_BYTES)
        + (MAX_CHUNK_BYTES as u64) * 4
}

/// What the fake platform saw that the service should not have let through.
#[derive(Debug, Clone, Default)]
pub struct Violations(Rc<RefCell<Vec<String>>>);

impl Violations {
    fn push(&self, text: String) {
        self.0.borrow_mut().push(text);
    }

    /// Takes the violations seen so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// One installed plugin of the fake platform.
pub struct FakeHandle {
    code: Vec<u8>,
    memory: Vec<u8>,
    context: Vec<u8>,
    stack: *mut u8,
    stack_bytes: u32,
}

/// A platform that keeps regions on the heap and checks every request and entry.
pub struct FakePlatform {
    violations: Violations,
}

impl FakePlatform {
    /// A fake platform reporting to `violations`.
    pub fn new(violations: Violations) -> FakePlatform {
        FakePlatform { violations }
    }
}

fn zeroed(bytes: u32) -> Result<Vec<u8>, PlatformError> {
    let mut region = Vec::new();
    region
        .try_reserve_exact(bytes as usize)
        .map_err(|_| PlatformError::OutOfMemory)?;
    region.resize(bytes as usize, 0);
    Ok(region)
}

// SAFETY: the regions handed out stay valid until `uninstall` (Vecs owned by the handle, the stack
// an mmap reservation unmapped there); `enter` never runs plugin code, so the segment rules of the
// ABI have nothing to apply to.
unsafe impl Platform for FakePlatform {
    type Handle = FakeHandle;

    fn install(
        &mut self,
        request: &InstallRequest,
    ) -> Result<(FakeHandle, Regions, Selectors), PlatformError> {
        let total = u64::from(request.code_bytes)
            + u64::from(request.memory_max_bytes)
            + u64::from(request.stack_bytes)
            + u64::from(request.context_bytes);
        if total > BOARD_RAM_BYTES {
            self.violations.push(format!(
                "install asked for {total} bytes of regions (code {}, memory up to {}, stack {}, \
                 context {}); the board has {BOARD_RAM_BYTES}",
                request.code_bytes,
                request.memory_max_bytes,
                request.stack_bytes,
                request.context_bytes
            ));
            return Err(PlatformError::OutOfMemory);
        }
        let mut code = zeroed(request.code_bytes.max(1))?;
        let mut memory = zeroed(request.memory_max_bytes.max(1))?;
        let mut context = zeroed(request.context_bytes.max(1))?;
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let stack = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                STACK_RESERVATION,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if stack == libc::MAP_FAILED {
            return Err(PlatformError::OutOfMemory);
        }
        let regions = Regions {
            code: code.as_mut_ptr(),
            memory: memory.as_mut_ptr(),
            stack: stack.cast(),
            context: context.as_mut_ptr(),
        };
        let selectors = Selectors {
            code: 0x0f,
            data: 0x17,
            stack: 0x1f,
            context: 0x27,
            exit: FarPointer::new(0x2f, 0),
            grow: FarPointer::new(0x37, 0),
        };
        let handle = FakeHandle {
            code,
            memory,
            context,
            stack: stack.cast(),
            stack_bytes: request.stack_bytes,
        };
        Ok((handle, regions, selectors))
    }

    fn seal(&mut self, _handle: &mut FakeHandle) -> Result<(), PlatformError> {
        Ok(())
    }

    fn uninstall(&mut self, handle: FakeHandle) {
        // SAFETY: `stack` is the reservation `install` mapped, of STACK_RESERVATION bytes, and
        // nothing refers to it once the plugin is uninstalled.
        unsafe { libc::munmap(handle.stack.cast(), STACK_RESERVATION) };
        drop((handle.code, handle.memory, handle.context));
    }

    fn import_gate(
        &mut self,
        _handle: &mut FakeHandle,
        slot: u32,
        _symbol: &'static plugin_format::symbols::Symbol,
    ) -> Result<FarPointer, PlatformError> {
        Ok(FarPointer::new(0x3f, slot))
    }

    fn descriptor_slots_in_use(&self) -> u32 {
        0
    }

    fn release_import_gate(&mut self, _handle: &mut FakeHandle, _slot: u32) {}

    fn resize_memory(
        &mut self,
        handle: &mut FakeHandle,
        bytes: u32,
    ) -> Result<*mut u8, PlatformError> {
        if bytes as usize > handle.memory.len() {
            return Err(PlatformError::OutOfMemory);
        }
        Ok(handle.memory.as_mut_ptr())
    }

    unsafe fn enter(&mut self, handle: &mut FakeHandle, run: &mut Run<'_>) -> Result<u32, Abort> {
        // SAFETY: `run.context` is the installed context block (the caller's contract).
        let header = unsafe { run.context.read_unaligned() };
        let esp = header.plugin_esp;
        let top = handle.stack_bytes.checked_sub(STACK_TOP_RESERVE);
        if top.is_none_or(|top| esp > top) || esp > handle.stack_bytes {
            self.violations.push(format!(
                "entered with ESP {esp:#x}, outside the {}-byte stack region (less its \
                 {STACK_TOP_RESERVE}-byte reserve)",
                handle.stack_bytes
            ));
        }
        match run.budget.map(|budget| budget.micros()) {
            None => self
                .violations
                .push("entered with no budget (a plugin could hold the board)".into()),
            Some(micros) if micros > MAX_SANE_BUDGET_US => self
                .violations
                .push(format!("entered with a budget of {micros} us")),
            Some(_) => {}
        }
        Ok(0)
    }
}

/// What went wrong with one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Decoding or serving a frame panicked.
    Panic {
        /// Which payload.
        frame: usize,
        /// The panic message.
        message: String,
    },
    /// The fake platform saw something the service should have refused.
    Violation {
        /// Which payload.
        frame: usize,
        /// What.
        what: String,
    },
    /// One request allocated more than [`request_byte_bound`].
    UnboundedWork {
        /// Which payload.
        frame: usize,
        /// What it did.
        work: Work,
    },
}

impl Problem {
    /// A short name for file names and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Problem::Panic { .. } => "panic",
            Problem::Violation { .. } => "violation",
            Problem::UnboundedWork { .. } => "unbounded-work",
        }
    }
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Problem::Panic { frame, message } => write!(f, "frame {frame}: panic: {message}"),
            Problem::Violation { frame, what } => write!(f, "frame {frame}: {what}"),
            Problem::UnboundedWork { frame, work } => write!(
                f,
                "frame {frame}: allocated {} bytes at peak ({} in total); bound {}",
                work.peak_bytes,
                work.bytes,
                request_byte_bound()
            ),
        }
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| {
            payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
        })
        .unwrap_or_else(|| "a non-text panic".into())
}

/// Serves `payloads` (host-frame payloads, without CRC and COBS) in order on a fresh service in
/// `isolation` mode, and checks each.
pub fn check(payloads: &[Vec<u8>], isolation: Isolation) -> Result<(), Problem> {
    let violations = Violations::default();
    let mut service = PluginService::new(
        FakePlatform::new(violations.clone()),
        FakeDevice::default(),
        isolation,
        SLOTS,
    );
    for (index, payload) in payloads.iter().enumerate() {
        let meter = Meter::start().map_err(|error| Problem::Panic {
            frame: index,
            message: error.to_string(),
        })?;
        let served = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(host_frame) = frame::decode_host_frame(payload)
                && service::serves(&host_frame.request)
            {
                let _ = service.handle(host_frame.request);
            }
        }));
        let work = meter.finish();
        if let Err(payload) = served {
            return Err(Problem::Panic {
                frame: index,
                message: panic_text(payload),
            });
        }
        if let Some(what) = violations.take().into_iter().next() {
            return Err(Problem::Violation { frame: index, what });
        }
        if work.peak_bytes > request_byte_bound() {
            return Err(Problem::UnboundedWork { frame: index, work });
        }
    }
    Ok(())
}

/// Hostile values for a `u32` limit.
fn hostile_u32(rng: &mut Rng, typical: u32) -> u32 {
    match rng.u32(..10) {
        0 => 0,
        1 => 1,
        2 => u32::MAX,
        3 => u32::MAX - rng.u32(0..64),
        4 => 1 << rng.u32(..32),
        5 => rng.u32(..),
        _ => typical,
    }
}

fn hostile_name(rng: &mut Rng) -> String {
    match rng.u32(..8) {
        0 => String::new(),
        1 => "x".repeat(rng.usize(33..4000)),
        2 => "bad name\u{1}\u{7f}é".into(),
        3 => (0..rng.usize(1..40)).map(|_| rng.char(..)).collect(),
        _ => format!("p{}", rng.u32(..1000)),
    }
}

fn value(rng: &mut Rng) -> Value {
    match rng.u32(..8) {
        0 => Value::I64(rng.i64(..)),
        1 => Value::F32(rng.u32(..)),
        2 => Value::F64(rng.u64(..)),
        _ => Value::I32(rng.i32(..)),
    }
}

fn plugin_ref(rng: &mut Rng) -> PluginRef {
    match rng.u32(..3) {
        0 => {
            let typical = rng.u32(0..SLOTS as u32 + 2);
            PluginRef::Id(hostile_u32(rng, typical))
        }
        _ => PluginRef::Name(hostile_name(rng)),
    }
}

/// Encodes `request` as the payload of a host frame with sequence number `seq`.
fn payload(seq: u32, request: Request) -> Option<Vec<u8>> {
    postcard::to_allocvec(&HostFrame { seq, request }).ok()
}

/// The payloads of case `seed`.
pub fn case(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::with_seed(seed);
    let mut payloads = Vec::new();
    let mut seq = 1u32;
    for _ in 0..rng.usize(1..=4) {
        let module = module(&mut rng);
        let description = PluginDescription {
            name: hostile_name(&mut rng),
            version: hostile_name(&mut rng),
            limits: Limits {
                max_memory_pages: hostile_u32(&mut rng, 4),
                stack_bytes: hostile_u32(&mut rng, 16 * 1024),
                budget_us: hostile_u32(&mut rng, 10_000),
            },
            imports: (0..rng.usize(0..4))
                .map(|_| {
                    let symbol = &SYMBOLS[rng.usize(..SYMBOLS.len())];
                    ImportRequest {
                        module: if rng.u32(..6) == 0 {
                            hostile_name(&mut rng)
                        } else {
                            "env".into()
                        },
                        name: if rng.u32(..6) == 0 {
                            hostile_name(&mut rng)
                        } else {
                            symbol.name.into()
                        },
                    }
                })
                .collect(),
            module: Vec::new(),
        };
        let declared = match rng.u32(..8) {
            0 => hostile_u32(&mut rng, module.len() as u32),
            1 => module.len() as u32 + rng.u32(1..100),
            _ => module.len() as u32,
        };
        payloads.extend(payload(
            seq,
            Request::UploadBegin {
                description,
                module_bytes: declared,
            },
        ));
        seq += 1;
        let mut offset = 0usize;
        while offset < module.len() {
            let size = rng.usize(1..=MAX_CHUNK_BYTES).min(module.len() - offset);
            let sent_offset = match rng.u32(..20) {
                0 => hostile_u32(&mut rng, offset as u32),
                1 => (offset + size) as u32,
                _ => offset as u32,
            };
            payloads.extend(payload(
                seq,
                Request::UploadChunk {
                    offset: sent_offset,
                    bytes: module[offset..offset + size].to_vec(),
                },
            ));
            seq += 1;
            if rng.u32(..20) != 0 {
                offset += size;
            }
        }
        let crc = frame::crc32(&module);
        payloads.extend(payload(
            seq,
            Request::UploadEnd {
                crc32: if rng.u32(..8) == 0 { crc ^ 1 } else { crc },
            },
        ));
        seq += 1;
        for _ in 0..rng.usize(0..6) {
            let request = match rng.u32(..6) {
                0 => Request::List,
                1 => Request::Unload {
                    plugin: plugin_ref(&mut rng),
                },
                2 => Request::SetTrapPolicy {
                    plugin: plugin_ref(&mut rng),
                    policy: if rng.bool() {
                        TrapPolicy::KeepLoaded
                    } else {
                        TrapPolicy::QuarantineAfter(hostile_u32(&mut rng, 3))
                    },
                },
                _ => Request::Invoke {
                    plugin: plugin_ref(&mut rng),
                    export: format!("e{}", rng.u32(0..5)),
                    args: (0..rng.usize(0..=16)).map(|_| value(&mut rng)).collect(),
                },
            };
            payloads.extend(payload(seq, request));
            seq += 1;
        }
    }
    // Garbage postcard under a valid CRC: mutate some payloads after encoding.
    for index in 0..payloads.len() {
        if rng.u32(..6) == 0 {
            let donor = payloads[rng.usize(..payloads.len())].clone();
            crate::mutate::mutate(&mut rng, &mut payloads[index], &donor, 4);
        }
    }
    payloads
}

/// A module for an upload: a generated one (valid, with exports `e0`...), mutated or not, or
/// random bytes.
fn module(rng: &mut Rng) -> Vec<u8> {
    let program = crate::generator::generate(&crate::subset::Subset::jit(), rng.u64(..));
    let mut module = wat::parse_str(&program.wat).unwrap_or_default();
    match rng.u32(..6) {
        0 => crate::mutate::mutate(rng, &mut module, b"\0asm\x01\0\0\0", 6),
        1 => module = (0..rng.usize(0..512)).map(|_| rng.u8(..)).collect(),
        _ => {}
    }
    module
}

/// Saves `payloads` in the regression format: postcard of the list of payloads.
pub fn encode_case(payloads: &[Vec<u8>]) -> Vec<u8> {
    postcard::to_allocvec(payloads).unwrap_or_default()
}

/// Reads a saved case back.
pub fn decode_case(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    postcard::from_bytes(bytes).ok()
}
