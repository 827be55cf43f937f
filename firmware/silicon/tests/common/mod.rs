//! The host side of `kplug-silicon link`, shared by the harness's test binaries: one client
//! for the link protocol, so that every test uploads, requests and reads events the way
//! `kplug --local` does. Each test binary uses part of it (hence `dead_code` is allowed), and
//! adds its own helpers in an `impl Link` block of its own.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use plugin_format::error::RequestError;
use plugin_format::frame::{self, FrameDecoder};
use plugin_format::message::{
    DeviceFrame, Event, HostFrame, MAX_CHUNK_BYTES, PROTOCOL_VERSION, Reply, Request,
};
use plugin_format::plugin::{Limits, PluginDescription};

/// How long anything the harness should do may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A host connection to `kplug-silicon link`, its frames decoded by a reader thread so that
/// waits time out.
pub struct Link {
    /// The harness process, when this connection started it (on its stdin/stdout).
    child: Option<Child>,
    writer: Option<Box<dyn Write>>,
    frames: Receiver<DeviceFrame>,
    /// The sequence number of the last request sent.
    pub seq: u32,
    /// Events received and not yet looked at, oldest first.
    pub events: VecDeque<Event>,
}

impl Link {
    /// Starts `kplug-silicon link --isolation ISOLATION` and connects to its stdin/stdout.
    pub fn spawn(isolation: &str) -> Link {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kplug-silicon"))
            .args(["link", "--isolation", isolation])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        Link::over(Some(child), Box::new(stdin), stdout, isolation)
    }

    /// A connection writing requests to `writer` and reading frames from `reader`, after the
    /// handshake (which checks the isolation mode).
    pub fn over(
        child: Option<Child>,
        writer: Box<dyn Write>,
        mut reader: impl Read + Send + 'static,
        isolation: &str,
    ) -> Link {
        let (sender, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let mut decoder = FrameDecoder::new();
            let mut buffer = [0u8; 4096];
            while let Ok(count @ 1..) = reader.read(&mut buffer) {
                for &byte in &buffer[..count] {
                    if let Some(decoded) = decoder.feed(byte) {
                        let frame = frame::decode::<DeviceFrame>(decoded.unwrap()).unwrap();
                        if sender.send(frame).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut link = Link {
            child,
            writer: Some(writer),
            frames,
            seq: 0,
            events: VecDeque::new(),
        };
        match link.request(Request::Hello {
            protocol: PROTOCOL_VERSION,
        }) {
            Ok(Reply::Info(info)) => assert_eq!(info.isolation.as_str(), isolation),
            other => panic!("{other:?}"),
        }
        link
    }

    /// Writes `bytes` to the link as they are (a frame, or an attack on the framing).
    pub fn send(&mut self, bytes: &[u8]) {
        let writer = self.writer.as_mut().unwrap();
        writer.write_all(bytes).unwrap();
        writer.flush().unwrap();
    }

    /// The next frame from the harness (fails the test after [`PATIENCE`]).
    pub fn frame(&mut self) -> DeviceFrame {
        self.frames
            .recv_timeout(PATIENCE)
            .expect("the harness answers in time")
    }

    /// Sends `request` and returns its one response (events before it are kept).
    pub fn request(&mut self, request: Request) -> Result<Reply, RequestError> {
        self.seq += 1;
        let frame = frame::encode(&HostFrame {
            seq: self.seq,
            request,
        })
        .unwrap();
        self.send(&frame);
        loop {
            match self.frame() {
                DeviceFrame::Response { seq, result } => {
                    assert_eq!(seq, self.seq);
                    return result;
                }
                DeviceFrame::Event(event) => self.events.push_back(event),
            }
        }
    }

    /// The first event (kept or still to come) that `matches`; the ones before it are dropped.
    pub fn event(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        while let Some(event) = self.events.pop_front() {
            if matches(&event) {
                return event;
            }
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(DeviceFrame::Event(event)) if matches(&event) => return event,
                Ok(_) => {}
                Err(_) => panic!("no {what} within {PATIENCE:?}"),
            }
        }
    }

    /// The whole upload of `module` under `description`, chunk by chunk as `kplug load` sends
    /// it; the answer to its end.
    pub fn upload(
        &mut self,
        description: PluginDescription,
        module: &[u8],
    ) -> Result<Reply, RequestError> {
        let begin = Request::UploadBegin {
            description,
            module_bytes: module.len() as u32,
        };
        assert_eq!(self.request(begin), Ok(Reply::UploadReady));
        for (index, chunk) in module.chunks(MAX_CHUNK_BYTES).enumerate() {
            self.request(Request::UploadChunk {
                offset: (index * MAX_CHUNK_BYTES) as u32,
                bytes: chunk.to_vec(),
            })
            .unwrap();
        }
        self.request(Request::UploadEnd {
            crc32: frame::crc32(module),
        })
    }

    /// Uploads `module` as `name` with `limits` and no declared imports; its id.
    pub fn load(&mut self, name: &str, module: &[u8], limits: Limits) -> Result<u32, RequestError> {
        let description = PluginDescription {
            name: name.into(),
            version: "0".into(),
            limits,
            imports: Vec::new(),
            module: Vec::new(),
        };
        match self.upload(description, module)? {
            Reply::Loaded(report) => Ok(report.id),
            other => panic!("{name}: {other:?}"),
        }
    }

    /// Closes the link and checks that the harness exits cleanly at the end of its input.
    pub fn finish(mut self) {
        drop(self.writer.take());
        let mut child = self.child.take().expect("a harness this link started");
        assert!(child.wait().unwrap().success());
    }
}

impl Drop for Link {
    /// Closes the link (a harness on stdin/stdout exits at the end of its input) and reaps the
    /// child, if this connection started one.
    fn drop(&mut self) {
        drop(self.writer.take());
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
