//! The runtime for platforms that serve the host link and run plugins in one thread of control
//! (the silicon harness, the fake): a [`LinkServer`] and a [`PluginService`] fed byte by byte,
//! and the attached runs that fall due between requests ([`Runtime::run_due`]).
//! The board runs the same two pieces split between its main loop and its timer tick, so that
//! the link keeps answering while a plugin request runs.

use crate::instance::Platform;
use crate::link::{Availability, FrameSink, LinkControl, LinkServer};
use crate::service::{Device, PluginService};

/// The link server and the plugin service, served together.
pub struct Runtime<P: Platform, D: Device> {
    /// The host-link server.
    pub link: LinkServer,
    /// The plugin service.
    pub service: PluginService<P, D>,
}

impl<P: Platform, D: Device> Runtime<P, D> {
    /// The runtime over `service`.
    pub fn new(service: PluginService<P, D>) -> Runtime<P, D> {
        Runtime {
            link: LinkServer::new(),
            service,
        }
    }

    /// Feeds one received byte: a control request is answered at once, a plugin request is
    /// served to the end and answered (its events first).
    pub fn feed(&mut self, byte: u8, control: &mut dyn LinkControl, out: &mut dyn FrameSink) {
        if let Some((seq, request)) = self.link.feed(byte, control, out, Availability::Available) {
            let (result, events) = self.service.serve(request);
            let figures = self.service.figures();
            self.link.complete(out, seq, result, events, figures);
        }
        self.link.stream_logs(control, out);
    }

    /// Runs at most one attached invocation that is due, the timer due earliest, else a due
    /// block of a channel's source (as the board's main loop does between its passes over the
    /// link), and sends the events it produced. Returns whether one ran. The caller serves the
    /// link between calls, so a busy attachment never starves it.
    pub fn run_due(&mut self, out: &mut dyn FrameSink) -> bool {
        let ran = self.service.run_due_timer() || self.service.run_due_source();
        for event in self.service.take_events() {
            self.link.send_event(out, event);
        }
        ran
    }
}
