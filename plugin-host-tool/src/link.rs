//! The host-link client: talks to the firmware over COM2 with framed postcard messages.
//!
//! [`Link::request`] sends a [`HostFrame`] with the next sequence number and reads
//! [`DeviceFrame`]s until the response with that number arrives. Events that arrive meanwhile are
//! queued for [`Link::next_event`]; responses to other sequence numbers (late answers to a
//! request that already timed out) and corrupt frames are counted and dropped, as the protocol
//! resynchronises at the next delimiter. Every wait has a deadline.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use plugin_format::error::RequestError;
use plugin_format::frame::{self, DELIMITER, FrameDecoder, FrameError};
use plugin_format::message::{
    BoardInfo, DeviceFrame, Event, HostFrame, PROTOCOL_VERSION, Reply, Request, Stats,
};

use crate::transport::{self, Target, Transport, TransportError, is_timeout};

/// How long a request waits for its response unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`Link::hello`] resends its `Hello` while the board does not answer (a board that
/// is still booting drops what arrives before its UART is set up).
pub const HELLO_RETRY_INTERVAL: Duration = Duration::from_millis(1000);
/// Bytes read from the transport at a time.
const READ_CHUNK: usize = 1024;

/// Why a link operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The link could not be opened.
    #[error(transparent)]
    Open(#[from] TransportError),
    /// No matching answer arrived in time.
    #[error(
        "no answer from the board within {:.1} s (is it running kplug firmware, and is no other client attached to its link?)",
        .0.as_secs_f64()
    )]
    Timeout(Duration),
    /// The other end closed the connection.
    #[error("the board closed the link")]
    Closed,
    /// Reading or writing the transport failed.
    #[error("link I/O error: {0}")]
    Io(#[from] io::Error),
    /// A request could not be framed (for example it is larger than `MAX_FRAME`).
    #[error("could not frame the request: {0}")]
    Frame(FrameError),
    /// The firmware speaks another protocol version.
    #[error(
        "protocol version mismatch: kplug speaks version {host}, the firmware speaks version {firmware} (rebuild and reflash the firmware, or use a matching kplug)"
    )]
    VersionMismatch {
        /// Our [`PROTOCOL_VERSION`].
        host: u16,
        /// The firmware's.
        firmware: u16,
    },
    /// The firmware answered with an error.
    #[error("the firmware refused the request: {0}")]
    Device(RequestError),
    /// The firmware answered with a reply of the wrong kind.
    #[error("unexpected reply to {request}: {reply:?}")]
    UnexpectedReply {
        /// The request's name.
        request: &'static str,
        /// What came back.
        reply: Box<Reply>,
    },
}

/// What the link has seen besides the answers it returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames decoded.
    pub frames: u64,
    /// Frames dropped because they were corrupt (COBS, CRC, size or postcard).
    pub bad_frames: u64,
    /// Responses whose sequence number matched no waiting request.
    pub stray_responses: u64,
    /// The last reason a frame was dropped.
    pub last_frame_error: Option<FrameError>,
}

/// A host-link client over any [`Transport`].
pub struct Link<T: Transport = Box<dyn Transport>> {
    /// The byte pipe.
    transport: T,
    /// Frame reassembly; boxed because it holds a `MAX_FRAME` buffer.
    decoder: Box<FrameDecoder>,
    /// Bytes read but not yet fed to the decoder.
    received: Vec<u8>,
    /// How many bytes of `received` were fed.
    received_pos: usize,
    /// The next sequence number to use (never 0, which the firmware uses for unreadable frames).
    next_seq: u32,
    /// Events that arrived while waiting for a response.
    events: VecDeque<Event>,
    /// How long a request waits.
    timeout: Duration,
    /// How often `hello` resends.
    hello_retry: Duration,
    /// A delimiter was sent before the first frame.
    synced: bool,
    /// Dropped frames and stray responses.
    counters: LinkCounters,
}

impl Link {
    /// Opens a link to `target` with [`DEFAULT_TIMEOUT`].
    pub fn open(target: &Target) -> Result<Self, LinkError> {
        Ok(Link::new(transport::open(target, DEFAULT_TIMEOUT)?))
    }
}

impl<T: Transport> Link<T> {
    /// A link over an open transport.
    pub fn new(transport: T) -> Self {
        Link {
            transport,
            decoder: Box::new(FrameDecoder::new()),
            received: Vec::new(),
            received_pos: 0,
            next_seq: 1,
            events: VecDeque::new(),
            timeout: DEFAULT_TIMEOUT,
            hello_retry: HELLO_RETRY_INTERVAL,
            synced: false,
            counters: LinkCounters::default(),
        }
    }

    /// How long requests wait for their response.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets how long requests wait for their response.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sets how often [`Link::hello`] resends while the board is silent.
    pub fn set_hello_retry(&mut self, interval: Duration) {
        self.hello_retry = interval;
    }

    /// Frames dropped and stray responses seen so far.
    pub fn counters(&self) -> &LinkCounters {
        &self.counters
    }

    /// The handshake: checks the protocol version and returns the board's identity. Resends the
    /// `Hello` every [`HELLO_RETRY_INTERVAL`] until the timeout, so it also waits for a board
    /// that is still booting.
    pub fn hello(&mut self) -> Result<BoardInfo, LinkError> {
        let deadline = Instant::now() + self.timeout;
        let request = Request::Hello {
            protocol: PROTOCOL_VERSION,
        };
        let mut sent = Vec::new();
        loop {
            sent.push(self.send_request(&request)?);
            let retry_at = (Instant::now() + self.hello_retry).min(deadline);
            if let Some(result) = self.wait_any(&sent, retry_at)? {
                return match result {
                    Ok(Reply::Info(info)) if info.protocol != PROTOCOL_VERSION => {
                        Err(LinkError::VersionMismatch {
                            host: PROTOCOL_VERSION,
                            firmware: info.protocol,
                        })
                    }
                    Ok(Reply::Info(info)) => Ok(info),
                    Ok(reply) => Err(unexpected("Hello", reply)),
                    Err(RequestError::VersionMismatch { firmware }) => {
                        Err(LinkError::VersionMismatch {
                            host: PROTOCOL_VERSION,
                            firmware,
                        })
                    }
                    Err(error) => Err(LinkError::Device(error)),
                };
            }
            if Instant::now() >= deadline {
                return Err(LinkError::Timeout(self.timeout));
            }
        }
    }

    /// The board's identity and state, without a version check.
    pub fn info(&mut self) -> Result<BoardInfo, LinkError> {
        match self.request(Request::Info)? {
            Reply::Info(info) => Ok(info),
            reply => Err(unexpected("Info", reply)),
        }
    }

    /// A round trip that does nothing.
    pub fn ping(&mut self) -> Result<(), LinkError> {
        match self.request(Request::Ping)? {
            Reply::Pong => Ok(()),
            reply => Err(unexpected("Ping", reply)),
        }
    }

    /// Link and heap statistics.
    pub fn stats(&mut self) -> Result<Stats, LinkError> {
        match self.request(Request::Stats)? {
            Reply::Stats(stats) => Ok(stats),
            reply => Err(unexpected("Stats", reply)),
        }
    }

    /// Starts the `Event::Log` stream and returns the log backlog (rzcobs-encoded defmt frames).
    pub fn subscribe_logs(&mut self) -> Result<Vec<u8>, LinkError> {
        match self.request(Request::SubscribeLogs)? {
            Reply::LogBacklog(bytes) => Ok(bytes),
            reply => Err(unexpected("SubscribeLogs", reply)),
        }
    }

    /// Sends a request and waits for its response; a firmware error becomes
    /// [`LinkError::Device`].
    pub fn request(&mut self, request: Request) -> Result<Reply, LinkError> {
        let seq = self.send_request(&request)?;
        self.wait_response(seq, self.timeout)?
            .map_err(LinkError::Device)
    }

    /// Sends a request without waiting; returns its sequence number for
    /// [`Link::wait_response`].
    pub fn send_request(&mut self, request: &Request) -> Result<u32, LinkError> {
        let seq = self.take_seq();
        let host_frame = HostFrame {
            seq,
            request: request.clone(),
        };
        let wire = frame::encode(&host_frame).map_err(LinkError::Frame)?;
        self.send_raw(&wire)?;
        Ok(seq)
    }

    /// Reserves a sequence number, for hand-made frames sent with [`Link::send_raw`].
    pub fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.checked_add(1).unwrap_or(1);
        seq
    }

    /// Writes bytes to the link unchanged (for bad-input tests). The first write is preceded by
    /// one delimiter, which ends any partial frame the firmware holds.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let timeout = self.timeout;
        let write_error = |error: io::Error| {
            if is_timeout(&error) {
                LinkError::Timeout(timeout)
            } else {
                LinkError::Io(error)
            }
        };
        if !self.synced {
            self.transport
                .write_all(&[DELIMITER])
                .map_err(write_error)?;
            self.synced = true;
        }
        self.transport.write_all(bytes).map_err(write_error)?;
        self.transport.flush().map_err(write_error)?;
        Ok(())
    }

    /// Waits up to `timeout` for the response with sequence number `seq` and returns the
    /// firmware's answer as it came (including its typed error).
    pub fn wait_response(
        &mut self,
        seq: u32,
        timeout: Duration,
    ) -> Result<Result<Reply, RequestError>, LinkError> {
        self.wait_any(&[seq], Instant::now() + timeout)?
            .ok_or(LinkError::Timeout(timeout))
    }

    /// Returns the next event: a queued one, or the next to arrive within `timeout` (`None` when
    /// none did). Responses that arrive meanwhile are stray and dropped.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>, LinkError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        let deadline = Instant::now() + timeout;
        while let Some(frame) = self.read_frame(deadline)? {
            match frame {
                DeviceFrame::Event(event) => return Ok(Some(event)),
                DeviceFrame::Response { .. } => self.counters.stray_responses += 1,
            }
        }
        Ok(None)
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Reads frames until a response to one of `seqs` arrives (`Some`) or `deadline` passes
    /// (`None`), queueing events.
    fn wait_any(
        &mut self,
        seqs: &[u32],
        deadline: Instant,
    ) -> Result<Option<Result<Reply, RequestError>>, LinkError> {
        while let Some(frame) = self.read_frame(deadline)? {
            match frame {
                DeviceFrame::Response { seq, result } if seqs.contains(&seq) => {
                    return Ok(Some(result));
                }
                DeviceFrame::Response { .. } => self.counters.stray_responses += 1,
                DeviceFrame::Event(event) => self.events.push_back(event),
            }
        }
        Ok(None)
    }

    /// The next well-formed device frame, or `None` at `deadline`. Corrupt frames are counted
    /// and skipped.
    fn read_frame(&mut self, deadline: Instant) -> Result<Option<DeviceFrame>, LinkError> {
        loop {
            while let Some(&byte) = self.received.get(self.received_pos) {
                self.received_pos += 1;
                let decoded = match self.decoder.feed(byte) {
                    None => continue,
                    Some(Ok(payload)) => frame::decode::<DeviceFrame>(payload),
                    Some(Err(error)) => Err(error),
                };
                match decoded {
                    Ok(frame) => {
                        self.counters.frames += 1;
                        return Ok(Some(frame));
                    }
                    Err(error) => {
                        self.counters.bad_frames += 1;
                        self.counters.last_frame_error = Some(error);
                    }
                }
            }
            self.received.clear();
            self.received_pos = 0;

            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.transport.set_read_timeout(deadline - now)?;
            let mut chunk = [0; READ_CHUNK];
            match self.transport.read(&mut chunk) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(count) => self.received.extend_from_slice(&chunk[..count]),
                Err(error) if is_timeout(&error) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(LinkError::Io(error)),
            }
        }
    }
}

/// Builds an [`LinkError::UnexpectedReply`].
fn unexpected(request: &'static str, reply: Reply) -> LinkError {
    LinkError::UnexpectedReply {
        request,
        reply: Box::new(reply),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use plugin_format::message::{IsolationMode, ProbeOutcome};
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};

    /// What a scripted peer answers to one host frame.
    type Script = Box<dyn FnMut(&HostFrame) -> Vec<Vec<u8>> + Send>;

    /// An in-memory board: decodes what the link writes, answers through a script, and hands the
    /// answer back in reads of at most `chunk` bytes. Reads with nothing to give sleep for the
    /// read timeout and then time out, like a socket.
    pub(crate) struct ScriptedBoard {
        decoder: Box<FrameDecoder>,
        outgoing: VecDeque<u8>,
        chunk: usize,
        read_timeout: Duration,
        script: Script,
        /// Everything the link wrote, byte for byte.
        pub written: Arc<Mutex<Vec<u8>>>,
        /// Reads return end-of-file once `outgoing` is empty.
        pub closed: bool,
    }

    impl ScriptedBoard {
        pub fn new(chunk: usize, script: Script) -> Self {
            ScriptedBoard {
                decoder: Box::new(FrameDecoder::new()),
                outgoing: VecDeque::new(),
                chunk,
                read_timeout: Duration::from_millis(10),
                script,
                written: Arc::default(),
                closed: false,
            }
        }

        /// Queues bytes as if the board had sent them unprompted.
        pub fn push(&mut self, bytes: &[u8]) {
            self.outgoing.extend(bytes);
        }
    }

    impl Read for ScriptedBoard {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            if self.outgoing.is_empty() {
                if self.closed {
                    return Ok(0);
                }
                std::thread::sleep(self.read_timeout);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let count = buffer.len().min(self.chunk).min(self.outgoing.len());
            for slot in &mut buffer[..count] {
                *slot = self.outgoing.pop_front().unwrap();
            }
            Ok(count)
        }
    }

    impl Write for ScriptedBoard {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.written.lock().unwrap().extend_from_slice(bytes);
            for &byte in bytes {
                let host_frame = match self.decoder.feed(byte) {
                    Some(Ok(payload)) => frame::decode::<HostFrame>(payload).unwrap(),
                    Some(Err(error)) => panic!("the link sent a bad frame: {error}"),
                    None => continue,
                };
                for answer in (self.script)(&host_frame) {
                    self.outgoing.extend(answer);
                }
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for ScriptedBoard {
        fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
            self.read_timeout = timeout.min(Duration::from_millis(10));
            Ok(())
        }

        fn try_clone_transport(&self) -> io::Result<Box<dyn Transport>> {
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// A board identity for tests.
    pub(crate) fn board_info(protocol: u16) -> BoardInfo {
        BoardInfo {
            firmware_version: "0.1.0".into(),
            protocol,
            board_name: "board0".into(),
            ram_bytes: 32 << 20,
            cpu: "GenuineIntel family 5 model 2".into(),
            tsc_hz: 1_000_000_000,
            uptime_ms: 1234,
            isolation: IsolationMode::Software,
            probe: ProbeOutcome::LimitIgnored,
        }
    }

    /// The wire bytes of a device frame.
    pub(crate) fn wire(frame: &DeviceFrame) -> Vec<u8> {
        frame::encode(frame).unwrap()
    }

    /// The wire bytes of a response.
    fn response(seq: u32, result: Result<Reply, RequestError>) -> Vec<u8> {
        wire(&DeviceFrame::Response { seq, result })
    }

    /// The wire bytes of a log event.
    fn log_event(bytes: &[u8]) -> Vec<u8> {
        wire(&DeviceFrame::Event(Event::Log(bytes.to_vec())))
    }

    /// A board that answers every request correctly.
    fn healthy(frame: &HostFrame) -> Vec<Vec<u8>> {
        let reply = match frame.request {
            Request::Hello { .. } | Request::Info => Reply::Info(board_info(PROTOCOL_VERSION)),
            Request::Ping => Reply::Pong,
            Request::Stats => Reply::Stats(Stats::default()),
            Request::SubscribeLogs => Reply::LogBacklog(vec![1, 2, 3]),
            ref other => panic!("the scripted board does not know {other:?}"),
        };
        vec![response(frame.seq, Ok(reply))]
    }

    fn short_link(board: ScriptedBoard) -> Link<ScriptedBoard> {
        let mut link = Link::new(board);
        link.set_timeout(Duration::from_millis(200));
        link.set_hello_retry(Duration::from_millis(50));
        link
    }

    /// The handshake sends `Hello` with our protocol version and a nonzero sequence number after
    /// one resynchronising delimiter, and returns the board's identity even when the answer
    /// arrives one byte at a time.
    #[test]
    fn hello_over_one_byte_reads() {
        let board = ScriptedBoard::new(1, Box::new(healthy));
        let written = board.written.clone();
        let mut link = short_link(board);
        assert_eq!(link.hello().unwrap(), board_info(PROTOCOL_VERSION));

        let written = written.lock().unwrap();
        assert_eq!(written[0], DELIMITER);
        let expected = frame::encode(&HostFrame {
            seq: 1,
            request: Request::Hello {
                protocol: PROTOCOL_VERSION,
            },
        })
        .unwrap();
        assert_eq!(&written[1..], expected.as_slice());
    }

    /// Events that arrive before a response are queued in order and handed out by
    /// `next_event`; the response still reaches its request.
    #[test]
    fn events_before_the_response_are_queued() {
        let board = ScriptedBoard::new(
            7,
            Box::new(|frame| {
                let mut answers = vec![log_event(b"one"), log_event(b"two")];
                answers.extend(healthy(frame));
                answers.push(log_event(b"three"));
                answers
            }),
        );
        let mut link = short_link(board);
        assert_eq!(link.subscribe_logs().unwrap(), vec![1, 2, 3]);
        let timeout = Duration::from_millis(50);
        for expected in [b"one".as_slice(), b"two", b"three"] {
            assert_eq!(
                link.next_event(timeout).unwrap(),
                Some(Event::Log(expected.to_vec()))
            );
        }
        assert_eq!(link.next_event(timeout).unwrap(), None);
    }

    /// Garbage, a corrupt frame and a response to another sequence number before the real
    /// answer are dropped and counted, and the request still succeeds.
    #[test]
    fn noise_and_stray_responses_are_skipped() {
        let board = ScriptedBoard::new(
            5,
            Box::new(|frame| {
                let mut corrupt = response(frame.seq, Ok(Reply::Pong));
                corrupt[2] ^= 0x40;
                vec![
                    vec![0x13, 0x37, 0x00],
                    corrupt,
                    response(frame.seq + 100, Ok(Reply::Pong)),
                    response(frame.seq, Ok(Reply::Pong)),
                ]
            }),
        );
        let mut link = short_link(board);
        link.ping().unwrap();
        assert_eq!(link.counters().bad_frames, 2);
        assert_eq!(link.counters().stray_responses, 1);
        assert_eq!(link.counters().frames, 2);
    }

    /// Sequence numbers increase per request, so each response is matched to its own request.
    #[test]
    fn sequence_numbers_increase() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let board = ScriptedBoard::new(
            64,
            Box::new(move |frame| {
                log.lock().unwrap().push(frame.seq);
                healthy(frame)
            }),
        );
        let mut link = short_link(board);
        link.ping().unwrap();
        link.stats().unwrap();
        link.info().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
    }

    /// A firmware that refuses our version, or reports another one, is a version mismatch.
    #[test]
    fn version_mismatch_is_reported_with_both_versions() {
        let refusing = ScriptedBoard::new(
            64,
            Box::new(|frame| {
                vec![response(
                    frame.seq,
                    Err(RequestError::VersionMismatch { firmware: 9 }),
                )]
            }),
        );
        assert!(matches!(
            short_link(refusing).hello(),
            Err(LinkError::VersionMismatch {
                host: PROTOCOL_VERSION,
                firmware: 9
            })
        ));
        let newer = ScriptedBoard::new(
            64,
            Box::new(|frame| vec![response(frame.seq, Ok(Reply::Info(board_info(7))))]),
        );
        assert!(matches!(
            short_link(newer).hello(),
            Err(LinkError::VersionMismatch { firmware: 7, .. })
        ));
    }

    /// A silent board times out near the configured timeout instead of hanging; a closed one
    /// is reported as closed.
    #[test]
    fn silence_times_out_and_hangup_is_closed() {
        let mut link = short_link(ScriptedBoard::new(64, Box::new(|_| Vec::new())));
        let started = Instant::now();
        assert!(matches!(link.ping(), Err(LinkError::Timeout(_))));
        assert!(matches!(link.hello(), Err(LinkError::Timeout(_))));
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

        let mut board = ScriptedBoard::new(64, Box::new(|_| Vec::new()));
        board.closed = true;
        assert!(matches!(short_link(board).ping(), Err(LinkError::Closed)));
    }

    /// `hello` resends until a board that missed the first `Hello` (still booting) answers.
    #[test]
    fn hello_retries_until_the_board_answers() {
        let mut calls = 0;
        let board = ScriptedBoard::new(
            64,
            Box::new(move |frame| {
                calls += 1;
                if calls < 3 {
                    Vec::new()
                } else {
                    healthy(frame)
                }
            }),
        );
        let mut link = short_link(board);
        assert_eq!(link.hello().unwrap().board_name, "board0");
    }

    /// A typed firmware error and a reply of the wrong kind are errors, not panics.
    #[test]
    fn device_errors_and_wrong_replies_are_errors() {
        let busy = ScriptedBoard::new(
            64,
            Box::new(|frame| vec![response(frame.seq, Err(RequestError::Busy))]),
        );
        assert!(matches!(
            short_link(busy).stats(),
            Err(LinkError::Device(RequestError::Busy))
        ));
        let confused = ScriptedBoard::new(
            64,
            Box::new(|frame| vec![response(frame.seq, Ok(Reply::Pong))]),
        );
        assert!(matches!(
            short_link(confused).info(),
            Err(LinkError::UnexpectedReply {
                request: "Info",
                ..
            })
        ));
    }

    /// `send_raw` writes bytes unchanged and `wait_response` returns the firmware's typed error
    /// for a hand-made frame.
    #[test]
    fn raw_frames_get_raw_answers() {
        let mut board = ScriptedBoard::new(64, Box::new(|_| Vec::new()));
        board.push(&response(0, Err(RequestError::UnknownRequest)));
        let written = board.written.clone();
        let mut link = short_link(board);
        link.send_raw(b"\x01\x02junk").unwrap();
        assert_eq!(written.lock().unwrap().as_slice(), b"\x00\x01\x02junk");
        assert_eq!(
            link.wait_response(0, Duration::from_millis(100)).unwrap(),
            Err(RequestError::UnknownRequest)
        );
    }
}
