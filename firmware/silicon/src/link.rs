//! `kplug-silicon link`: the host-link protocol on stdin/stdout, served by the same plugin
//! service as the board (`kplug_core::service`), so `kplug --local` drives the real CPU exactly as
//! it drives a board: the same frames, requests, replies, errors and events.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kplug_core::service::{PluginService, ServiceHost};
use kplug_core::{ImportHost, Isolation};
use plugin_format::error::RequestError;
use plugin_format::frame::{self, FrameDecoder};
use plugin_format::message::{
    BoardInfo, DeviceFrame, Event, PROTOCOL_VERSION, ProbeOutcome, Reply, Request, Stats,
};

use crate::Silicon;
use crate::host::{HarnessHost, Output};

/// Plugin slots, as on the board.
const SLOTS: usize = 16;

/// A counting wrapper around the system allocator, so the service can report the bytes an
/// unload freed (the board reads its heap allocator's figure instead).
pub struct CountingAllocator;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counter
// does not affect allocation.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

/// Bytes allocated through [`CountingAllocator`] and not yet freed.
pub fn heap_used() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// The harness's service host: its imports, the TSC, and the events for the host.
struct LinkHost {
    imports: HarnessHost,
    tsc_hz: u64,
    plugin: u32,
    events: Vec<Event>,
}

impl ImportHost for LinkHost {
    fn log(&mut self, text: &[u8]) {
        self.imports.log(text);
    }
    fn emit(&mut self, bytes: &[u8]) {
        self.imports.emit(bytes);
    }
    fn now_us(&mut self) -> u32 {
        self.imports.now_us()
    }
    fn ticks_ms(&mut self) -> u32 {
        self.imports.ticks_ms()
    }
    fn gpio_write(&mut self, pin: u32, high: bool) {
        self.imports.gpio_write(pin, high);
    }
    fn gpio_read(&mut self, pin: u32) -> bool {
        self.imports.gpio_read(pin)
    }
}

impl ServiceHost for LinkHost {
    fn cycles(&mut self) -> u64 {
        rdtsc()
    }
    fn cycles_to_micros(&self, cycles: u64) -> u64 {
        cycles * 1_000_000 / self.tsc_hz.max(1)
    }
    fn heap_used(&self) -> u32 {
        heap_used() as u32
    }
    fn set_current_plugin(&mut self, id: u32) {
        self.plugin = id;
    }
    fn push_event(&mut self, event: Event) {
        self.events.push(event);
    }
}

impl LinkHost {
    /// Plugin output collected by the imports, then queued events, in order.
    fn take_events(&mut self) -> Vec<Event> {
        let mut events: Vec<Event> = self
            .imports
            .logs
            .drain(..)
            .map(|text| Event::PluginLog {
                plugin: self.plugin,
                text,
            })
            .collect();
        if !self.imports.emitted.is_empty() {
            let bytes = std::mem::take(&mut self.imports.emitted);
            events.push(Event::PluginOutput {
                plugin: self.plugin,
                bytes,
            });
        }
        events.append(&mut self.events);
        events
    }
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC is available on every CPU this harness runs on and Linux leaves CR4.TSD clear.
    unsafe { core::arch::x86::_rdtsc() }
}

/// The TSC rate, measured against the monotonic clock over 50 ms.
fn measure_tsc_hz() -> u64 {
    let start = (Instant::now(), rdtsc());
    std::thread::sleep(Duration::from_millis(50));
    let cycles = rdtsc() - start.1;
    (cycles as u128 * 1_000_000_000 / start.0.elapsed().as_nanos().max(1)) as u64
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown x86 CPU".into())
}

/// Serves the host link on stdin/stdout until stdin closes. Returns the exit code.
pub fn serve(isolation: Isolation) -> i32 {
    let started = Instant::now();
    let tsc_hz = measure_tsc_hz();
    let host = LinkHost {
        imports: HarnessHost::new(Output::Collect),
        tsc_hz,
        plugin: 0,
        events: Vec::new(),
    };
    let mut plugins = PluginService::new(Silicon::new(), host, isolation, SLOTS);
    let info = |uptime: Duration| BoardInfo {
        firmware_version: env!("CARGO_PKG_VERSION").into(),
        protocol: PROTOCOL_VERSION,
        board_name: "silicon".into(),
        ram_bytes: 0,
        cpu: cpu_name(),
        tsc_hz,
        uptime_ms: uptime.as_millis() as u64,
        isolation,
        probe: match isolation {
            // modify_ldt segments on the real CPU: limits are enforced (the differential tests
            // prove it in hardware mode); software mode here is always a choice.
            Isolation::Hardware => ProbeOutcome::LimitEnforced,
            Isolation::Software => ProbeOutcome::Forced {
                limits_enforced: true,
            },
        },
    };
    let mut decoder = FrameDecoder::new();
    let mut stats = Stats::default();
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buffer = [0u8; 4096];
    loop {
        let count = match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => return 0,
            Ok(count) => count,
        };
        for &byte in &buffer[..count] {
            let Some(decoded) = decoder.feed(byte) else {
                continue;
            };
            let Ok(payload) = decoded else {
                stats.bad_crc += 1;
                continue;
            };
            let (seq, request) = match frame::decode_host_frame(payload) {
                Ok(host_frame) => (host_frame.seq, Ok(host_frame.request)),
                Err((Some(seq), _)) => (seq, Err(RequestError::UnknownRequest)),
                Err((None, _)) => {
                    stats.undecodable += 1;
                    continue;
                }
            };
            stats.frames_ok += 1;
            let result = request.and_then(|request| match request {
                Request::Hello { protocol } if protocol != PROTOCOL_VERSION => {
                    Err(RequestError::VersionMismatch {
                        firmware: PROTOCOL_VERSION,
                    })
                }
                Request::Hello { .. } | Request::Info => Ok(Reply::Info(info(started.elapsed()))),
                Request::Ping => Ok(Reply::Pong),
                Request::Stats => Ok(Reply::Stats(Stats {
                    heap_used: heap_used() as u32,
                    descriptor_slots: crate::ldt::allocated() as u32,
                    ..stats.clone()
                })),
                Request::SubscribeLogs => Ok(Reply::LogBacklog(Vec::new())),
                request => plugins.handle(request),
            });
            // Events first: a client that stops reading at the response has them all.
            let mut frames: Vec<DeviceFrame> = plugins
                .host
                .take_events()
                .into_iter()
                .map(DeviceFrame::Event)
                .collect();
            frames.push(DeviceFrame::Response { seq, result });
            for device_frame in frames {
                let Ok(bytes) = frame::encode(&device_frame) else {
                    continue;
                };
                if stdout
                    .write_all(&bytes)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return 0;
                }
            }
        }
    }
}
