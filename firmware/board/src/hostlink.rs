//! The binary host link on COM2: frames in, exactly one response per request, events out.
//!
//! Corrupt input never reaches a handler: bad COBS, bad CRC and oversized frames are counted and
//! dropped, and the decoder resynchronises at the next 0x00. A frame with a valid CRC whose
//! request cannot be decoded gets an `UnknownRequest` response when its sequence number could
//! be read, and is counted either way.

use core::sync::atomic::{AtomicU32, Ordering};

use embedded_io::Write;
use plugin_format::error::RequestError;
use plugin_format::frame::{self, FrameDecoder, FrameError};
use plugin_format::message::{
    DeviceFrame, Event, HostFrame, PROTOCOL_VERSION, Reply, Request, Stats,
};

use crate::board::Board;
use crate::plugins::Plugins;
use crate::services::Deferred;

/// Largest log chunk sent in one event.
const LOG_EVENT_BYTES: usize = 1024;

struct Counters {
    frames_ok: AtomicU32,
    bad_crc: AtomicU32,
    bad_cobs: AtomicU32,
    oversized: AtomicU32,
    undecodable: AtomicU32,
}

static COUNTERS: Counters = Counters {
    frames_ok: AtomicU32::new(0),
    bad_crc: AtomicU32::new(0),
    bad_cobs: AtomicU32::new(0),
    oversized: AtomicU32::new(0),
    undecodable: AtomicU32::new(0),
};

/// The link's counters (the other `Stats` fields are filled by `Board::stats`).
pub fn counters() -> Stats {
    let load = |counter: &AtomicU32| counter.load(Ordering::Relaxed);
    Stats {
        frames_ok: load(&COUNTERS.frames_ok),
        bad_crc: load(&COUNTERS.bad_crc),
        bad_cobs: load(&COUNTERS.bad_cobs),
        oversized: load(&COUNTERS.oversized),
        undecodable: load(&COUNTERS.undecodable),
        ..Stats::default()
    }
}

fn count(counter: &AtomicU32) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The host link's state.
pub struct HostLink {
    decoder: FrameDecoder,
    /// Stream log events (set by `SubscribeLogs`, cleared by `Hello`).
    streaming_logs: bool,
}

impl HostLink {
    /// A link with an empty decoder.
    pub const fn new() -> Self {
        HostLink {
            decoder: FrameDecoder::new(),
            streaming_logs: false,
        }
    }

    /// Handles one received byte, answering a request if it completes one. A plugin request
    /// is returned for the main loop to serve when `plugins_available`, and answered `Busy`
    /// otherwise (a plugin is running).
    pub fn feed(
        &mut self,
        byte: u8,
        out: &mut impl Write,
        board: &Board,
        plugins_available: bool,
    ) -> Option<Deferred> {
        let decoded = self.decoder.feed(byte)?;
        let reply = match decoded {
            Ok(payload) => match frame::decode_host_frame(payload) {
                Ok(HostFrame { seq, request }) => {
                    count(&COUNTERS.frames_ok);
                    if !Plugins::serves(&request) {
                        Some((seq, self.handle(request, board)))
                    } else if plugins_available {
                        return Some((seq, request));
                    } else {
                        Some((seq, Err(RequestError::Busy)))
                    }
                }
                Err((seq, _)) => {
                    count(&COUNTERS.undecodable);
                    seq.map(|seq| (seq, Err(RequestError::UnknownRequest)))
                }
            },
            Err(FrameError::Crc | FrameError::Truncated) => {
                count(&COUNTERS.bad_crc);
                None
            }
            Err(FrameError::Cobs) => {
                count(&COUNTERS.bad_cobs);
                None
            }
            Err(FrameError::Oversized) => {
                count(&COUNTERS.oversized);
                None
            }
            Err(FrameError::Decode | FrameError::Encode) => {
                count(&COUNTERS.undecodable);
                None
            }
        };
        if let Some((seq, result)) = reply {
            self.respond(out, seq, result);
        }
        None
    }

    /// Sends the one response to request `seq`.
    pub fn respond(&mut self, out: &mut impl Write, seq: u32, result: Result<Reply, RequestError>) {
        send(out, &DeviceFrame::Response { seq, result });
    }

    /// Sends an event.
    pub fn send_event(&mut self, out: &mut impl Write, event: Event) {
        send(out, &DeviceFrame::Event(event));
    }

    fn handle(&mut self, request: Request, board: &Board) -> Result<Reply, RequestError> {
        match request {
            Request::Hello { protocol } => {
                self.streaming_logs = false;
                if protocol != PROTOCOL_VERSION {
                    return Err(RequestError::VersionMismatch {
                        firmware: PROTOCOL_VERSION,
                    });
                }
                Ok(Reply::Info(board.info()))
            }
            Request::Info => Ok(Reply::Info(board.info())),
            Request::Ping => Ok(Reply::Pong),
            Request::Stats => Ok(Reply::Stats(board.stats())),
            Request::SubscribeLogs => {
                self.streaming_logs = true;
                crate::log::rewind();
                Ok(Reply::LogBacklog(crate::log::take_unsent(LOG_EVENT_BYTES)))
            }
            // Served by `Plugins` through the main loop (see `feed`).
            _ => Err(RequestError::UnknownRequest),
        }
    }

    /// Sends log bytes written since the last call, if a host subscribed.
    pub fn stream_logs(&mut self, out: &mut impl Write) {
        if !self.streaming_logs {
            return;
        }
        loop {
            let chunk = crate::log::take_unsent(LOG_EVENT_BYTES);
            if chunk.is_empty() {
                return;
            }
            send(out, &DeviceFrame::Event(Event::Log(chunk)));
        }
    }
}

fn send(out: &mut impl Write, message: &DeviceFrame) {
    match frame::encode(message) {
        Ok(bytes) => {
            let _ = out.write_all(&bytes);
        }
        Err(error) => defmt::error!(
            "cannot encode a response: {}",
            defmt::Display2Format(&error)
        ),
    }
}
