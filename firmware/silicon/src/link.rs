//! `kplug-silicon link`: the host-link protocol on stdin/stdout, served by the same plugin
//! service as the board (`kplug_core::service`), so `kplug --local` drives the real CPU exactly as
//! it drives a board: the same frames, requests, replies, errors and events, and the same attach
//! points (channels `frames` and `samples`, timers) run between requests. With `--listen PATH`
//! it serves a Unix socket instead and keeps running between host connections, as a board
//! does: `kplug board up --emulator silicon` starts it so.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kplug_core::link::{FrameSink, LinkControl, PlatformStats};
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
pub struct HarnessDevice {
    host: HarnessHost,
    tsc_hz: u64,
}

impl HarnessDevice {
    /// The device over `host`, converting cycles to time at `tsc_hz`.
    pub fn new(host: HarnessHost, tsc_hz: u64) -> HarnessDevice {
        HarnessDevice { host, tsc_hz }
    }
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

/// Frames for the host, written to `writer`; remembers a write that failed (the host went away).
struct WriteSink<W: Write> {
    writer: W,
    closed: bool,
}

impl<W: Write> FrameSink for WriteSink<W> {
    fn send(&mut self, frame: &[u8]) {
        self.closed |= self.writer.write_all(frame).is_err();
    }
}

/// The harness's runtime, as a host connection finds it.
type HarnessRuntime = Runtime<Silicon, HarnessDevice>;

/// Serves the host link, on stdin/stdout until stdin closes, or (with `listen`) on a Unix
/// socket at that path, one host connection after another, until the process is stopped: the
/// core's link server and plugin service with the board's attach points
/// ([`PluginService::open_attach_points`]: the channels `frames` and `samples`, the ADC; the
/// harness has no console, so no word is built in), and a main loop like the board's: one
/// attached run that is due (a timer, an ADC block), then the link, waiting for input only until
/// the next run is due. Plugins, attachments and counters outlive a connection, as they outlive
/// a host that disconnects from a board. Returns the exit code.
pub fn serve(isolation: Isolation, listen: Option<&Path>) -> i32 {
    let tsc_hz = measure_tsc_hz();
    let mut service = PluginService::new(
        Silicon::new(),
        HarnessDevice::new(HarnessHost::new(Output::Collect), tsc_hz),
        isolation,
        limits::MAX_PLUGINS,
    );
    service.open_attach_points(&[]);
    let mut runtime = Runtime::new(service);
    let mut control = HarnessControl {
        started: Instant::now(),
        tsc_hz,
        isolation,
    };
    let Some(path) = listen else {
        // Unbuffered, so that waiting on the descriptor sees every byte not yet handled.
        let mut stdin = match std::io::stdin().as_fd().try_clone_to_owned() {
            Ok(descriptor) => std::fs::File::from(descriptor),
            Err(error) => {
                eprintln!("kplug-silicon link: stdin: {error}");
                return 1;
            }
        };
        let mut out = WriteSink {
            writer: std::io::stdout().lock(),
            closed: false,
        };
        serve_connection(&mut runtime, &mut control, &mut stdin, &mut out);
        return 0;
    };
    let _ = std::fs::remove_file(path);
    let listener = match UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("kplug-silicon link: {}: {error}", path.display());
            return 1;
        }
    };
    loop {
        // No host: attached runs go on, and what they send is lost, as a board's UART sends it
        // to nobody.
        let wait = run_due(&mut runtime, &mut |_: &[u8]| {});
        if wait_for_input(listener.as_fd(), wait)
            && let Ok((stream, _)) = listener.accept()
        {
            let mut out = WriteSink {
                writer: &stream,
                closed: false,
            };
            serve_connection(&mut runtime, &mut control, &mut &stream, &mut out);
        }
    }
}

/// Serves one host, reading `input` and writing `out`, until its input ends or a write to it
/// fails: one attached run that is due, then what arrived, waiting for input only until the
/// next run is due.
fn serve_connection<W: Write>(
    runtime: &mut HarnessRuntime,
    control: &mut HarnessControl,
    input: &mut (impl Read + AsFd),
    out: &mut WriteSink<W>,
) {
    let mut buffer = [0u8; 4096];
    loop {
        let wait = run_due(runtime, out);
        if wait_for_input(input.as_fd(), wait) {
            match input.read(&mut buffer) {
                Ok(0) => return,
                Ok(count) => {
                    for &byte in &buffer[..count] {
                        runtime.feed(byte, control, out);
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
        if out.closed || out.writer.flush().is_err() {
            return;
        }
    }
}

/// Runs one attached invocation that is due, its events sent to `out`, and returns how long the
/// main loop may then wait for input: not at all after a run (another may be due at once), else
/// until the next run is due (`None`: without limit).
fn run_due(runtime: &mut HarnessRuntime, out: &mut dyn FrameSink) -> Option<Duration> {
    if runtime.run_due(out) {
        Some(Duration::ZERO)
    } else {
        runtime
            .service
            .micros_until_due()
            .map(Duration::from_micros)
    }
}

/// Waits until `input` has bytes (or its end) to read, or `timeout` passes (`None`: without
/// limit); whether it has. A signal ends the wait early (the budget timer's tick does, every
/// millisecond once a plugin has run with a budget): the caller looks at its clock again.
fn wait_for_input(input: BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
    let mut descriptor = libc::pollfd {
        fd: input.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = timeout.map(|timeout| libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    });
    let timeout = timeout.as_ref().map_or(core::ptr::null(), |timeout| {
        timeout as *const libc::timespec
    });
    // SAFETY: one valid `pollfd` for a descriptor this function borrows, a valid timespec or
    // null (wait without limit), and no signal mask.
    let ready = unsafe { libc::ppoll(&mut descriptor, 1, timeout, core::ptr::null()) };
    ready > 0
}
