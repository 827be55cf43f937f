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

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use embedded_io::Write;
use kplug_core::link::{Availability, LinkServer, PluginRequest};
use kplug_core::service::ServiceFigures;
use plugin_format::attach::AttachmentSummary;
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
    /// The attachments as of the last plugin request or attached run (for `attachments`).
    pub attachments: Vec<AttachmentSummary>,
    /// A console word the main loop is to run (an attached export, or an unknown word); the
    /// console reads no further input until it is done.
    pub console_pending: Option<String>,
    /// A plugin request that arrived during an attached run, held for the main loop; the link
    /// reads no further input until it is taken.
    pub held: Option<PluginRequest>,
}

struct Slot(UnsafeCell<Option<Services>>);
// SAFETY: access goes through `with_services`, whose flag admits one context at a time.
unsafe impl Sync for Slot {}

static SERVICES: Slot = Slot(UnsafeCell::new(None));
static TAKEN: AtomicBool = AtomicBool::new(false);
/// A plugin request or an attached run is running in the main loop.
static BUSY: AtomicBool = AtomicBool::new(false);
/// What runs is an attached run (a timer, a console word): a plugin request arriving meanwhile
/// is held for the main loop rather than answered `Busy`.
static ATTACHED_RUN: AtomicBool = AtomicBool::new(false);

/// Marks the main loop busy with a plugin request (or done with it).
pub fn set_busy(busy: bool) {
    BUSY.store(busy, Ordering::SeqCst);
}

/// Marks the main loop busy with an attached run (or done with it).
pub fn set_attached_run(running: bool) {
    ATTACHED_RUN.store(running, Ordering::SeqCst);
    BUSY.store(running, Ordering::SeqCst);
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

/// One pass over both ports from the main loop: returns the first plugin request found (a held
/// one first), leaving later input unread. Returns `None` if the services are in use elsewhere.
pub fn poll() -> Option<Option<PluginRequest>> {
    with_services(|slot| {
        let services = slot.as_mut()?;
        if let Some(request) = services.held.take() {
            services.poll_console();
            return Some(request);
        }
        services.poll(Availability::Available)
    })
}

/// One pass over both ports from the tick while the main loop is busy: during a plugin request,
/// plugin requests are answered `Busy`; during an attached run, the first one is held for the
/// main loop (so an attachment never makes the host's requests fail).
pub fn poll_from_tick() {
    with_services(|slot| {
        let Some(services) = slot.as_mut() else {
            return;
        };
        if ATTACHED_RUN.load(Ordering::SeqCst) {
            if services.held.is_some() {
                services.poll_console();
            } else {
                services.held = services.poll(Availability::Available);
            }
        } else {
            let _ = services.poll(Availability::Busy);
        }
    });
}

/// Runs `f` on the services from the main loop. The main loop is the only other user, and it is
/// the caller: the lock is free unless the timer holds it right now, so retry until it does not.
fn with_services_from_main(mut f: impl FnMut(&mut Services)) {
    let mut done = false;
    while !done {
        with_services(|slot| {
            if let Some(services) = slot.as_mut() {
                f(services);
            }
            done = true;
        });
    }
}

/// Sends a plugin request's events, then its answer, and records the plugin summaries, the
/// attachments and the service's figures.
pub fn complete(
    seq: u32,
    result: Result<Reply, RequestError>,
    events: Vec<Event>,
    plugins: Vec<PluginSummary>,
    attachments: Vec<AttachmentSummary>,
    figures: ServiceFigures,
) {
    let mut payload = Some((result, events, plugins, attachments));
    with_services_from_main(|services| {
        if let Some((result, events, plugins, attachments)) = payload.take() {
            let link_tx = &mut services.ports.link_tx;
            let mut out = |frame: &[u8]| {
                let _ = link_tx.write_all(frame);
            };
            services
                .link
                .complete(&mut out, seq, result, events, figures);
            services.plugins = plugins;
            services.attachments = attachments;
        }
    });
}

/// Sends events produced outside a request (attached runs) and records the attachments.
pub fn send_events(events: Vec<Event>, attachments: Vec<AttachmentSummary>) {
    let mut payload = Some((events, attachments));
    with_services_from_main(|services| {
        if let Some((events, attachments)) = payload.take() {
            let link_tx = &mut services.ports.link_tx;
            let mut out = |frame: &[u8]| {
                let _ = link_tx.write_all(frame);
            };
            for event in events {
                services.link.send_event(&mut out, event);
            }
            services.attachments = attachments;
        }
    });
}

/// The console word waiting for the main loop, if any.
pub fn console_command() -> Option<String> {
    with_services(|slot| slot.as_ref()?.console_pending.clone()).flatten()
}

/// Prints what the console word did, the prompt, and lets the console read input again.
pub fn finish_console(text: &str) {
    with_services_from_main(|services| {
        if services.console_pending.take().is_some() {
            services
                .console
                .finish_deferred(text, &mut services.ports.console_tx);
        }
    });
}

/// Whether any input is waiting (checked with interrupts off before sleeping).
pub fn input_pending() -> bool {
    with_services(|slot| {
        slot.as_mut().is_some_and(|services| {
            (services.ports.console_rx.ready() && services.console_pending.is_none())
                || services.ports.link_rx.ready()
                || services.console_pending.is_some()
                || services.held.is_some()
        })
    })
    .unwrap_or(true)
}

impl Services {
    fn poll(&mut self, plugins: Availability) -> Option<PluginRequest> {
        self.poll_console();
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

    fn poll_console(&mut self) {
        while self.console_pending.is_none() {
            let Some(byte) = self.ports.console_rx.dequeue() else {
                break;
            };
            let stats = self.link.stats(self.board.platform_stats());
            let view = ConsoleView {
                board: &self.board,
                stats: &stats,
                plugins: &self.plugins,
                attachments: &self.attachments,
                busy: busy(),
            };
            self.console_pending = self.console.feed(byte, &mut self.ports.console_tx, &view);
        }
    }
}
