//! Bad input on both serial ports never takes the board down: every malformed, oversized,
//! truncated or unknown frame on COM2 gets a typed error response or is counted and dropped, and
//! the firmware still answers `info` after each; console input of any length or content is
//! absorbed.

use std::time::Duration;

use plugin_format::error::RequestError;
use plugin_format::frame::{self, MAX_ENCODED_FRAME};
use plugin_format::message::{HostFrame, Request};
use plugin_host_tool::link::{Link, LinkError};
use qemu_tests::TestBoard;

fn still_answers(link: &mut Link) {
    link.info().expect("the firmware still answers info");
}

/// Random bytes, with and without delimiters, are dropped and counted; the link resynchronises.
#[test]
fn random_bytes_are_dropped_and_counted() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let mut state = 0x1234_5678u32;
    let mut garbage = Vec::new();
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        garbage.push(state as u8);
    }
    link.send_raw(&garbage).expect("send");
    link.send_raw(&[0]).expect("delimiter");
    still_answers(&mut link);
    let stats = link.stats().expect("stats");
    assert!(
        stats.bad_crc + stats.bad_cobs + stats.oversized + stats.undecodable > 0,
        "{stats:?}"
    );
}

/// A truncated frame (cut short and then delimited) and a frame with a flipped CRC bit are
/// counted as bad CRC; an oversized frame is counted as oversized.
#[test]
fn truncated_corrupt_and_oversized_frames() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let before = link.stats().expect("stats");
    let good = frame::encode(&HostFrame {
        seq: 9,
        request: Request::Ping,
    })
    .unwrap();
    let mut truncated = good[..good.len() - 3].to_vec();
    truncated.push(0);
    link.send_raw(&truncated).expect("send");
    let mut corrupt = good.clone();
    corrupt[3] ^= 0x01;
    link.send_raw(&corrupt).expect("send");
    let oversized = vec![0x55u8; MAX_ENCODED_FRAME * 2];
    link.send_raw(&oversized).expect("send");
    link.send_raw(&[0]).expect("delimiter");
    still_answers(&mut link);
    let after = link.stats().expect("stats");
    assert!(
        after.bad_crc + after.bad_cobs >= before.bad_crc + before.bad_cobs + 2,
        "{before:?} -> {after:?}"
    );
    assert_eq!(
        after.oversized,
        before.oversized + 1,
        "{before:?} -> {after:?}"
    );
}

/// A frame with a valid CRC whose request kind is unknown gets an `UnknownRequest` response with
/// its own sequence number.
#[test]
fn unknown_request_kind_gets_a_typed_error() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    // postcard: seq 77 (varint), request variant 200 (varint 0xC8 0x01), no payload.
    let payload = [77u8, 0xC8, 0x01];
    let wire = frame::encode_payload(&payload).expect("frame");
    link.send_raw(&wire).expect("send");
    match link.wait_response(77, Duration::from_secs(10)) {
        Ok(Err(RequestError::UnknownRequest)) => {}
        other => panic!("expected UnknownRequest for seq 77, got {other:?}"),
    }
    still_answers(&mut link);
}

/// A Hello with another protocol version is refused with the firmware's version, and the board
/// goes on answering.
#[test]
fn wrong_protocol_version_is_refused() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let result = link.request(Request::Hello { protocol: 999 });
    match result {
        Err(LinkError::Device(RequestError::VersionMismatch { firmware })) => {
            assert_eq!(firmware, plugin_format::message::PROTOCOL_VERSION)
        }
        Err(LinkError::VersionMismatch { firmware, .. }) => {
            assert_eq!(firmware, plugin_format::message::PROTOCOL_VERSION)
        }
        other => panic!("expected a version mismatch, got {other:?}"),
    }
    still_answers(&mut link);
}

/// Console input of any length and content (very long lines, control bytes, escape sequences,
/// bytes >= 0x80, NULs) leaves the console working.
#[test]
fn console_survives_any_input() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let mut console = board.console();
    let mut noise: Vec<u8> = (0..=255u8).cycle().take(8192).collect();
    noise.extend_from_slice(b"\x1b[A\x1b[1;5C\x1bOP\x1b");
    noise.extend(std::iter::repeat_n(b'x', 5000));
    noise.extend_from_slice(b"\r");
    console.send(&noise).expect("send");
    console.send(b"\x03").expect("ctrl-c");
    console.send_line("uptime").expect("send");
    let output = console
        .read_until("up ", Duration::from_secs(20))
        .expect("console still answers");
    assert!(output.contains("up "));
    still_answers(&mut link);
}
