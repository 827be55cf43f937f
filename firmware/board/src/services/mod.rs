//! The firmware's services — the console (COM1) and the host link (COM2) — and the two places
//! they run: the main loop, and the tick hook while the main loop is busy with a plugin request
//! (compiling, installing or running a plugin), so that no plugin and no upload silences the
//! board for more than a tick.
//!
//! The services live in one static behind a try-lock: the main loop takes it for one pass and
//! releases it before running a plugin request, so the tick can take it meanwhile. Requests
//! that need the plugin table are handed back to the main loop (or answered `Busy` while one
//! runs).

pub mod console;
pub mod plugins;
pub mod store;

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use embedded_io::Write;
use kplug_core::link::{Availability, LinkServer, PluginRequest};
use kplug_core::service::ServiceFigures;
use plugin_format::error::RequestError;
use plugin_format::message::{Event, PluginSummary, Reply};

use crate::platform::board::Board;
use crate::platform::serial::Ports;
use console::{Console, ConsoleView};

/// Everything the console and host link need.
pub struct Services {
    pub ports: Ports,
    pub console: Console,
    /// The host-link server (the core's, as in the harness).
    pub link: LinkServer,
    pub board: Board,
    /// The plugin table as of the last plugin request (for `ps`).
    pub plugins: Vec<PluginSummary>,
}

struct Slot(UnsafeCell<Option<Services>>);
// SAFETY: access goes through `with_services`, whose flag admits one context at a time.
unsafe impl Sync for Slot {}

static SERVICES: Slot = Slot(UnsafeCell::new(None));
static TAKEN: AtomicBool = AtomicBool::new(false);
/// A plugin request is running in the main loop.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Marks the main loop busy with a plugin request (or done with it).
pub fn set_busy(busy: bool) {
    BUSY.store(busy, Ordering::SeqCst);
}

/// Whether the main loop is busy with a plugin request.
pub fn busy() -> bool {
    BUSY.load(Ordering::SeqCst)
}

/// Installs the services. Call once, before interrupts can run them.
pub fn install(services: Services) {
    with_services(|slot| *slot = Some(services));
}

/// Runs `f` on the services unless another context holds them (then returns `None`).
fn with_services<R>(f: impl FnOnce(&mut Option<Services>) -> R) -> Option<R> {
    if TAKEN.swap(true, Ordering::Acquire) {
        return None;
    }
    // SAFETY: the flag was clear and is now ours: no other reference to the slot exists until
    // we clear it (the main loop and the timer interrupt both go through here).
    let result = f(unsafe { &mut *SERVICES.0.get() });
    TAKEN.store(false, Ordering::Release);
    Some(result)
}

/// One pass over both ports. With `plugins` available, returns the first plugin request found
/// (leaving later input unread); otherwise plugin requests are answered `Busy`.
/// Returns `None` if the services are in use elsewhere.
pub fn poll(plugins: Availability) -> Option<Option<PluginRequest>> {
    with_services(|slot| {
        let services = slot.as_mut()?;
        services.poll(plugins)
    })
}

/// Sends a plugin request's events, then its answer, and records the plugin summaries and the
/// service's figures.
pub fn complete(
    seq: u32,
    result: Result<Reply, RequestError>,
    events: Vec<Event>,
    plugins: Vec<PluginSummary>,
    figures: ServiceFigures,
) {
    // The main loop is the only other user, and it is the caller: the lock is free unless the
    // timer holds it right now, so retry until it does not.
    let mut payload = Some((result, events, plugins));
    while payload.is_some() {
        with_services(|slot| {
            if let (Some(services), Some((result, events, plugins))) =
                (slot.as_mut(), payload.take())
            {
                let link_tx = &mut services.ports.link_tx;
                let mut out = |frame: &[u8]| {
                    let _ = link_tx.write_all(frame);
                };
                services
                    .link
                    .complete(&mut out, seq, result, events, figures);
                services.plugins = plugins;
            }
        });
    }
}

/// Whether any input is waiting (checked with interrupts off before sleeping).
pub fn input_pending() -> bool {
    with_services(|slot| {
        slot.as_mut().is_some_and(|services| {
            services.ports.console_rx.ready() || services.ports.link_rx.ready()
        })
    })
    .unwrap_or(true)
}

impl Services {
    fn poll(&mut self, plugins: Availability) -> Option<PluginRequest> {
        while let Some(byte) = self.ports.console_rx.dequeue() {
            let stats = self.link.stats(self.board.platform_stats());
            let view = ConsoleView {
                board: &self.board,
                stats: &stats,
                plugins: &self.plugins,
                busy: busy(),
            };
            self.console.feed(byte, &mut self.ports.console_tx, &view);
        }
        let link_tx = &mut self.ports.link_tx;
        let mut out = |frame: &[u8]| {
            let _ = link_tx.write_all(frame);
        };
        let mut deferred = None;
        while deferred.is_none() {
            let Some(byte) = self.ports.link_rx.dequeue() else {
                break;
            };
            deferred = self.link.feed(byte, &mut self.board, &mut out, plugins);
        }
        self.link.stream_logs(&mut self.board, &mut out);
        deferred
    }
}
