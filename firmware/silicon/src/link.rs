//! `kplug-silicon link`: the host-link protocol on stdin/stdout, served by the same plugin
//! service as the board (`kplug_core::service`), so `kplug --local` drives the real CPU exactly as
//! it drives a board: the same frames, requests, replies, errors and events.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kplug_core::link::{LinkControl, PlatformStats};
use kplug_core::runtime::Runtime;
use kplug_core::service::{self, Device, PluginService};
use kplug_core::{ImportHost, Isolation};
use plugin_format::limits;
use plugin_format::message::{BoardInfo, PROTOCOL_VERSION, ProbeOutcome};

use crate::Silicon;
use crate::host::{HarnessHost, Output};

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

/// The harness's identity and figures for the link server.
struct HarnessControl {
    started: Instant,
    tsc_hz: u64,
    isolation: Isolation,
}

impl LinkControl for HarnessControl {
    fn info(&self) -> BoardInfo {
        BoardInfo {
            firmware_version: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL_VERSION,
            board_name: "silicon".into(),
            ram_bytes: 0,
            cpu: cpu_name(),
            tsc_hz: self.tsc_hz,
            uptime_ms: self.started.elapsed().as_millis() as u64,
            isolation: self.isolation,
            probe: match self.isolation {
                // modify_ldt segments on the real CPU: limits are enforced (the differential
                // tests prove it in hardware mode); software mode here is always a choice.
                Isolation::Hardware => ProbeOutcome::LimitEnforced,
                Isolation::Software => ProbeOutcome::Forced {
                    limits_enforced: true,
                },
            },
        }
    }

    fn platform_stats(&self) -> PlatformStats {
        PlatformStats {
            heap_used: heap_used() as u32,
            ..PlatformStats::default()
        }
    }
}

/// The harness's board for the plugin service: the TSC, the fake GPIO latch and the clocks of
/// [`HarnessHost`], and the heap figure of [`CountingAllocator`].
struct HarnessDevice {
    host: HarnessHost,
    tsc_hz: u64,
}

impl Device for HarnessDevice {
    fn cycles(&mut self) -> u64 {
        rdtsc()
    }
    fn cycles_to_micros(&self, cycles: u64) -> u64 {
        service::cycles_to_micros(cycles, self.tsc_hz)
    }
    fn now_us(&mut self) -> u32 {
        self.host.now_us()
    }
    fn ticks_ms(&mut self) -> u32 {
        self.host.ticks_ms()
    }
    fn gpio_write(&mut self, pin: u32, high: bool) {
        self.host.gpio_write(pin, high);
    }
    fn gpio_read(&mut self, pin: u32) -> bool {
        self.host.gpio_read(pin)
    }
    fn heap_used(&self) -> u32 {
        heap_used() as u32
    }
    fn heap_free(&self) -> u32 {
        // A process: the compiler's headroom is always there.
        u32::MAX
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

/// Serves the host link on stdin/stdout until stdin closes (the core's link server and plugin
/// service, as on a board). Returns the exit code.
pub fn serve(isolation: Isolation) -> i32 {
    let tsc_hz = measure_tsc_hz();
    let device = HarnessDevice {
        host: HarnessHost::new(Output::Collect),
        tsc_hz,
    };
    let mut runtime = Runtime::new(PluginService::new(
        Silicon::new(),
        device,
        isolation,
        limits::MAX_PLUGINS,
    ));
    let mut control = HarnessControl {
        started: Instant::now(),
        tsc_hz,
        isolation,
    };
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buffer = [0u8; 4096];
    let mut closed = false;
    loop {
        let count = match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => return 0,
            Ok(count) => count,
        };
        let mut out = |frame: &[u8]| {
            closed |= stdout.write_all(frame).is_err();
        };
        for &byte in &buffer[..count] {
            runtime.feed(byte, &mut control, &mut out);
        }
        if closed || stdout.flush().is_err() {
            return 0;
        }
    }
}
