//! The host-link server: frames in, exactly one response per request, events out — written once
//! for every platform (the board's COM2, the harness's stdin/stdout, the fake's buffers).
//!
//! - Bytes are fed one at a time ([`LinkServer::feed`]); the [`FrameDecoder`] resynchronises at
//!   every `0x00`. Every kind of bad frame has its own counter ([`LinkCounters`]): bad COBS, bad
//!   CRC, truncated, oversized, undecodable.
//! - Control requests (`Hello`, `Info`, `Ping`, `Stats`, `SubscribeLogs`) are answered at once,
//!   even while a plugin runs. Plugin requests are handed back to the caller (who runs them
//!   through the [`PluginService`](crate::service::PluginService) and calls
//!   [`LinkServer::complete`]), or answered `Busy` when the caller says the service is busy.
//! - A request's events are sent before its response ([`LinkServer::complete`]), so a client
//!   that stops reading at the response has them all.
//! - A response that does not fit in one frame is answered `ResponseTooLarge` instead (and
//!   counted): a request never goes unanswered.
//!
//! The server does no I/O of its own: the platform passes the bytes in, a sink for the encoded
//! frames, and a [`LinkControl`] for the board's identity, figures and log.

use crate::service::ServiceFigures;
use alloc::vec::Vec;
use plugin_format::error::RequestError;
use plugin_format::frame::{self, FrameDecoder, FrameError};
use plugin_format::message::{
    BoardInfo, DeviceFrame, Event, HostFrame, PROTOCOL_VERSION, Reply, Request, Stats,
};

/// Largest chunk of the firmware log sent in one event (or in the `SubscribeLogs` answer).
pub const LOG_EVENT_BYTES: usize = 1024;

/// A plugin request handed to the caller: its sequence number and the request.
pub type PluginRequest = (u32, Request);

/// The figures of a platform that `Stats` reports besides the link's and the service's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlatformStats {
    /// Bytes lost because a receive ring was full.
    pub rx_overruns: u32,
    /// Heap bytes in use.
    pub heap_used: u32,
    /// Heap bytes free.
    pub heap_free: u32,
    /// Log bytes dropped because the log buffer was full.
    pub log_dropped: u32,
}

/// What the link server asks of the platform: who the board is, its figures, and its log.
pub trait LinkControl {
    /// The handshake payload (identity, clock, isolation mode).
    fn info(&self) -> BoardInfo;
    /// The figures `Stats` reports besides the link counters.
    fn platform_stats(&self) -> PlatformStats;
    /// Marks the whole firmware log as not yet sent (for a new subscriber).
    fn rewind_log(&mut self) {}
    /// Up to `max` log bytes not yet sent, oldest first (none on a platform without a log).
    fn take_log(&mut self, max: usize) -> Vec<u8> {
        let _ = max;
        Vec::new()
    }
}

/// The link's counters: frames answered, and one counter per kind of bad frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Requests decoded (and answered).
    pub frames_ok: u32,
    /// Frames dropped because their CRC did not match.
    pub bad_crc: u32,
    /// Frames dropped because their COBS encoding was invalid.
    pub bad_cobs: u32,
    /// Frames dropped because they exceeded the frame size.
    pub oversized: u32,
    /// Frames dropped because their payload was shorter than the CRC.
    pub truncated: u32,
    /// Frames with a valid CRC whose request could not be decoded (answered `UnknownRequest`
    /// when their sequence number could be read).
    pub undecodable: u32,
    /// Responses replaced by `ResponseTooLarge`.
    pub responses_too_large: u32,
}

/// Where encoded frames go (the platform's transmit path).
pub trait FrameSink {
    /// Sends one encoded frame (delimiter included).
    fn send(&mut self, frame: &[u8]);
}

impl<F: FnMut(&[u8])> FrameSink for F {
    fn send(&mut self, frame: &[u8]) {
        self(frame)
    }
}

/// Whether plugin requests can be served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// The plugin service is free: plugin requests are handed to the caller.
    Available,
    /// A plugin request is in progress: further plugin requests are answered `Busy`.
    Busy,
}

/// The host-link server's state.
#[derive(Debug, Default)]
pub struct LinkServer {
    decoder: FrameDecoder,
    counters: LinkCounters,
    /// The service's figures as of its last request (it may be busy when `Stats` arrives).
    service: ServiceFigures,
    /// Stream log events (set by `SubscribeLogs`, cleared by `Hello`).
    streaming_logs: bool,
}

fn bump(counter: &mut u32) {
    *counter = counter.saturating_add(1);
}

impl LinkServer {
    /// A server with an empty decoder.
    pub const fn new() -> LinkServer {
        LinkServer {
            decoder: FrameDecoder::new(),
            counters: LinkCounters {
                frames_ok: 0,
                bad_crc: 0,
                bad_cobs: 0,
                oversized: 0,
                truncated: 0,
                undecodable: 0,
                responses_too_large: 0,
            },
            service: ServiceFigures {
                descriptor_slots: 0,
                output_dropped: 0,
            },
            streaming_logs: false,
        }
    }

    /// The counters.
    pub fn counters(&self) -> LinkCounters {
        self.counters
    }

    /// Handles one received byte. A control request is answered at once; a plugin request is
    /// returned for the caller to serve when `plugins` is [`Availability::Available`], and
    /// answered `Busy` otherwise.
    pub fn feed(
        &mut self,
        byte: u8,
        control: &mut dyn LinkControl,
        out: &mut dyn FrameSink,
        plugins: Availability,
    ) -> Option<PluginRequest> {
        let decoded = self.decoder.feed(byte)?;
        let reply = match decoded {
            Ok(payload) => match frame::decode_host_frame(payload) {
                Ok(HostFrame { seq, request }) => {
                    bump(&mut self.counters.frames_ok);
                    if !crate::service::serves(&request) {
                        Some((seq, self.control(request, control)))
                    } else if plugins == Availability::Available {
                        return Some((seq, request));
                    } else {
                        Some((seq, Err(RequestError::Busy)))
                    }
                }
                Err((seq, _)) => {
                    bump(&mut self.counters.undecodable);
                    seq.map(|seq| (seq, Err(RequestError::UnknownRequest)))
                }
            },
            Err(FrameError::Crc) => {
                bump(&mut self.counters.bad_crc);
                None
            }
            Err(FrameError::Truncated) => {
                bump(&mut self.counters.truncated);
                None
            }
            Err(FrameError::Cobs) => {
                bump(&mut self.counters.bad_cobs);
                None
            }
            Err(FrameError::Oversized) => {
                bump(&mut self.counters.oversized);
                None
            }
            Err(FrameError::Decode | FrameError::Encode) => {
                bump(&mut self.counters.undecodable);
                None
            }
        };
        if let Some((seq, result)) = reply {
            self.respond(out, seq, result);
        }
        None
    }

    /// Sends a plugin request's events, then its one response, and keeps the service's
    /// figures for `Stats`.
    pub fn complete(
        &mut self,
        out: &mut dyn FrameSink,
        seq: u32,
        result: Result<Reply, RequestError>,
        events: Vec<Event>,
        figures: ServiceFigures,
    ) {
        self.service = figures;
        for event in events {
            self.send_event(out, event);
        }
        self.respond(out, seq, result);
    }

    /// Sends the one response to request `seq` (`ResponseTooLarge` if it does not fit a frame).
    pub fn respond(
        &mut self,
        out: &mut dyn FrameSink,
        seq: u32,
        result: Result<Reply, RequestError>,
    ) {
        match frame::encode(&DeviceFrame::Response { seq, result }) {
            Ok(bytes) => out.send(&bytes),
            Err(_) => {
                bump(&mut self.counters.responses_too_large);
                let fallback = DeviceFrame::Response {
                    seq,
                    result: Err(RequestError::ResponseTooLarge),
                };
                if let Ok(bytes) = frame::encode(&fallback) {
                    out.send(&bytes);
                }
            }
        }
    }

    /// Sends an event (events are cut to fit a frame where they are made; one that still does
    /// not fit is dropped).
    pub fn send_event(&mut self, out: &mut dyn FrameSink, event: Event) {
        if let Ok(bytes) = frame::encode(&DeviceFrame::Event(event)) {
            out.send(&bytes);
        }
    }

    /// Sends the log bytes written since the last call, if a host subscribed.
    pub fn stream_logs(&mut self, control: &mut dyn LinkControl, out: &mut dyn FrameSink) {
        if !self.streaming_logs {
            return;
        }
        loop {
            let chunk = control.take_log(LOG_EVENT_BYTES);
            if chunk.is_empty() {
                return;
            }
            self.send_event(out, Event::Log(chunk));
        }
    }

    /// The link counters, the service's and the platform's figures, as `Stats` reports them.
    pub fn stats(&self, platform: PlatformStats) -> Stats {
        let counters = self.counters;
        let service = self.service;
        Stats {
            frames_ok: counters.frames_ok,
            bad_crc: counters.bad_crc,
            bad_cobs: counters.bad_cobs,
            oversized: counters.oversized,
            undecodable: counters.undecodable,
            rx_overruns: platform.rx_overruns,
            heap_used: platform.heap_used,
            heap_free: platform.heap_free,
            log_dropped: platform.log_dropped,
            descriptor_slots: service.descriptor_slots,
            truncated: counters.truncated,
            output_dropped: service.output_dropped,
            responses_too_large: counters.responses_too_large,
        }
    }

    fn control(
        &mut self,
        request: Request,
        control: &mut dyn LinkControl,
    ) -> Result<Reply, RequestError> {
        match request {
            Request::Hello { protocol } => {
                self.streaming_logs = false;
                if protocol != PROTOCOL_VERSION {
                    return Err(RequestError::VersionMismatch {
                        firmware: PROTOCOL_VERSION,
                    });
                }
                Ok(Reply::Info(control.info()))
            }
            Request::Info => Ok(Reply::Info(control.info())),
            Request::Ping => Ok(Reply::Pong),
            Request::Stats => Ok(Reply::Stats(self.stats(control.platform_stats()))),
            Request::SubscribeLogs => {
                self.streaming_logs = true;
                control.rewind_log();
                Ok(Reply::LogBacklog(control.take_log(LOG_EVENT_BYTES)))
            }
            // Plugin requests never get here (`feed` hands them out).
            _ => Err(RequestError::UnknownRequest),
        }
    }
}
