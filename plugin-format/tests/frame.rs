//! Framing tests: exact wire vectors, streaming, resynchronisation, corruption and size limits.

mod common;

use common::{XorShift, cobs_frame, decode_stream, feed_all, raw_frame};
use plugin_format::frame::{CRC_LEN, FrameDecoder, FrameError, MAX_ENCODED_FRAME, MAX_FRAME};
use plugin_format::{
    DeviceFrame, Event, HostFrame, Reply, Request, decode, decode_host_frame, encode,
};

fn ping(seq: u32) -> HostFrame {
    HostFrame {
        seq,
        request: Request::Ping,
    }
}

fn log_event(len: usize) -> DeviceFrame {
    DeviceFrame::Event(Event::Log((0..len).map(|i| i as u8).collect()))
}

/// `HostFrame { seq: 1, request: Ping }` is exactly these bytes on the wire.
#[test]
fn wire_vector_ping() {
    let expected = [
        0x07, // COBS code: 6 non-zero bytes follow, then the delimiter
        0x01, // postcard varint seq = 1
        0x02, // Request variant 2 = Ping
        0x92, 0x42, 0xCC, 0xB6, // CRC-32 of [01 02] = 0xB6CC4292, little endian
        0x00, // delimiter
    ];
    assert_eq!(encode(&ping(1)).unwrap(), expected);
}

/// Zeros inside the payload are COBS-stuffed: `HostFrame { seq: 0, Hello { protocol: 1 } }`.
#[test]
fn wire_vector_hello_with_zeros() {
    let frame = HostFrame {
        seq: 0,
        request: Request::Hello { protocol: 1 },
    };
    let expected = [
        0x01, // COBS code: 0 bytes, then a zero ->  seq = 0 (varint 0x00)
        0x01, // COBS code: 0 bytes, then a zero ->  Request variant 0 = Hello
        0x06, // COBS code: 5 non-zero bytes follow, then the delimiter
        0x01, // protocol = 1 (varint)
        0x84, 0xE9, 0x46, 0x88, // CRC-32 of [00 00 01] = 0x8846E984, little endian
        0x00, // delimiter
    ];
    assert_eq!(encode(&frame).unwrap(), expected);
}

/// `DeviceFrame::Response { seq: 1, result: Ok(Pong) }` is exactly these bytes on the wire.
#[test]
fn wire_vector_pong_response() {
    let frame = DeviceFrame::Response {
        seq: 1,
        result: Ok(Reply::Pong),
    };
    let expected = [
        0x01, // COBS code: a zero  -> DeviceFrame variant 0 = Response
        0x02, // COBS code: 1 byte, then a zero
        0x01, //   seq = 1; the zero is Result variant 0 = Ok
        0x06, // COBS code: 5 non-zero bytes follow, then the delimiter
        0x01, // Reply variant 1 = Pong
        0xBD, 0x85, 0x81, 0x57, // CRC-32 of [00 01 00 01] = 0x578185BD, little endian
        0x00, // delimiter
    ];
    assert_eq!(encode(&frame).unwrap(), expected);
}

/// The decoder returns the postcard bytes of each wire vector, with the CRC stripped.
#[test]
fn decoder_strips_crc() {
    assert_eq!(
        decode_stream(&encode(&ping(1)).unwrap()),
        [Ok(vec![0x01, 0x02])]
    );
}

/// Feeding a stream in two parts, split at every byte boundary, reports each frame exactly when
/// its delimiter arrives and yields the same frames as feeding it whole.
#[test]
fn split_at_every_boundary() {
    let mut stream = encode(&ping(7)).unwrap();
    stream.extend(encode(&log_event(600)).unwrap()); // several 0xFF COBS blocks
    stream.extend(
        encode(&HostFrame {
            seq: 0,
            request: Request::Hello { protocol: 1 },
        })
        .unwrap(),
    );
    let whole = decode_stream(&stream);
    assert_eq!(whole.len(), 3);
    assert!(whole.iter().all(Result::is_ok));

    for split in 0..=stream.len() {
        let (head, tail) = stream.split_at(split);
        let mut decoder = FrameDecoder::new();
        let mut results = feed_all(&mut decoder, head);
        let completed = head.iter().filter(|&&byte| byte == 0).count();
        assert_eq!(results, whole[..completed], "split at {split}");
        results.extend(feed_all(&mut decoder, tail));
        assert_eq!(results, whole, "split at {split}");
    }
}

/// Every single-bit flip of a frame is rejected (Crc or Cobs, or Truncated when the flip creates
/// a delimiter that cuts off a short fragment); no flip ever yields a payload.
#[test]
fn single_bit_flips_are_rejected() {
    let frames = [
        encode(&ping(1)).unwrap(),
        encode(&HostFrame {
            seq: 300,
            request: Request::Hello { protocol: 1 },
        })
        .unwrap(),
        encode(&DeviceFrame::Response {
            seq: 1,
            result: Ok(Reply::Pong),
        })
        .unwrap(),
        encode(&log_event(300)).unwrap(),
    ];
    for frame in &frames {
        for index in 0..frame.len() {
            for bit in 0..8 {
                let mut corrupt = frame.clone();
                corrupt[index] ^= 1 << bit;
                corrupt.push(0); // ends the frame even if the flip hit the delimiter
                let results = decode_stream(&corrupt);
                assert!(
                    !results.is_empty(),
                    "byte {index} bit {bit}: nothing reported"
                );
                for result in results {
                    assert!(
                        matches!(
                            result,
                            Err(FrameError::Crc | FrameError::Cobs | FrameError::Truncated)
                        ),
                        "byte {index} bit {bit}: {result:?}"
                    );
                }
            }
        }
    }
}

/// Random garbage, then a delimiter, then a valid frame: only the valid frame decodes.
#[test]
fn garbage_then_valid_frame() {
    let mut rng = XorShift(0x1234_5678);
    let valid = encode(&ping(99)).unwrap();
    for round in 0..500 {
        let length = (rng.next_u32() % 600) as usize;
        let mut stream: Vec<u8> = (0..length).map(|_| rng.next_byte()).collect();
        stream.push(0);
        stream.extend(&valid);
        let mut results = decode_stream(&stream);
        assert_eq!(results.pop(), Some(Ok(vec![99, 0x02])), "round {round}");
        assert!(
            results.iter().all(Result::is_err),
            "round {round}: {results:?}"
        );
    }
}

/// Consecutive delimiters are empty frames and are skipped without a report.
#[test]
fn empty_frames_are_skipped() {
    let mut stream = vec![0, 0, 0];
    stream.extend(encode(&ping(3)).unwrap());
    stream.extend([0, 0]);
    assert_eq!(decode_stream(&stream), [Ok(vec![3, 0x02])]);
}

/// A decoded payload shorter than the CRC is Truncated (lengths 0 to 3).
#[test]
fn short_payloads_are_truncated() {
    for length in 0..CRC_LEN {
        let payload = vec![0xAA; length];
        assert_eq!(
            decode_stream(&cobs_frame(&payload)),
            [Err(FrameError::Truncated)]
        );
    }
}

/// A COBS code byte that points past the delimiter is a Cobs error, and the next frame decodes.
#[test]
fn bad_cobs_then_resync() {
    let mut stream = vec![0x05, 0x11, 0x22, 0x00];
    stream.extend(encode(&ping(4)).unwrap());
    assert_eq!(
        decode_stream(&stream),
        [Err(FrameError::Cobs), Ok(vec![4, 0x02])]
    );
}

/// A well-formed frame whose CRC does not match is a Crc error.
#[test]
fn wrong_crc_is_rejected() {
    let mut payload = vec![0x01, 0x02];
    payload.extend((CRC32_OF_01_02 ^ 1).to_le_bytes());
    assert_eq!(decode_stream(&cobs_frame(&payload)), [Err(FrameError::Crc)]);
}
const CRC32_OF_01_02: u32 = 0xB6CC_4292;

/// A payload of exactly MAX_FRAME bytes with no zero byte (the longest encoding, exactly
/// MAX_ENCODED_FRAME bytes) is accepted: the limits are not off by one.
#[test]
fn largest_frame_is_accepted() {
    let message = (1..=u8::MAX)
        .map(|fill| vec![fill; MAX_FRAME - CRC_LEN])
        .find(|message| !common::CRC32.checksum(message).to_le_bytes().contains(&0))
        .unwrap();
    let wire = raw_frame(&message);
    assert_eq!(wire.len(), MAX_ENCODED_FRAME);
    assert_eq!(decode_stream(&wire), [Ok(message)]);
}

/// A frame one byte over MAX_FRAME (with a valid CRC) is Oversized, and the next frame decodes.
#[test]
fn oversized_payload_then_resync() {
    let mut stream = raw_frame(&vec![0x55; MAX_FRAME - CRC_LEN + 1]);
    stream.extend(encode(&ping(5)).unwrap());
    assert_eq!(
        decode_stream(&stream),
        [Err(FrameError::Oversized), Ok(vec![5, 0x02])]
    );
}

/// A run of non-zero bytes far longer than MAX_ENCODED_FRAME is discarded and reported once as
/// Oversized at its delimiter, and the next frame decodes.
#[test]
fn endless_run_then_resync() {
    let mut stream = vec![0xFF; 3 * MAX_ENCODED_FRAME];
    stream.push(0);
    stream.extend(encode(&ping(6)).unwrap());
    assert_eq!(
        decode_stream(&stream),
        [Err(FrameError::Oversized), Ok(vec![6, 0x02])]
    );
}

/// `encode` accepts a message whose payload is exactly MAX_FRAME and refuses one byte more.
#[test]
fn encode_enforces_max_frame() {
    // DeviceFrame::Event (1) + Event::Log (1) + varint length (2) + data + CRC (4) = MAX_FRAME.
    let fits = log_event(MAX_FRAME - 8);
    let wire = encode(&fits).unwrap();
    assert!(wire.len() <= MAX_ENCODED_FRAME);
    let payload = decode_stream(&wire).pop().unwrap().unwrap();
    assert_eq!(payload.len(), MAX_FRAME - CRC_LEN);
    assert_eq!(
        encode(&log_event(MAX_FRAME - 7)),
        Err(FrameError::Oversized)
    );
}

/// A valid CRC over an unknown request kind yields its seq with a Decode error.
#[test]
fn unknown_request_kind_keeps_seq() {
    let payload = [
        0xAC, 0x02, // varint seq = 300
        0x7F, // Request variant 127: no such request
    ];
    let decoded = decode_stream(&raw_frame(&payload)).pop().unwrap().unwrap();
    assert_eq!(
        decode_host_frame(&decoded),
        Err((Some(300), FrameError::Decode))
    );
}

/// A payload whose seq is not a valid u32 varint has no seq to answer with.
#[test]
fn unreadable_seq_is_none() {
    assert_eq!(decode_host_frame(&[]), Err((None, FrameError::Decode)));
    // Five continuation bytes: longer than any u32 varint.
    let too_long = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
    assert_eq!(
        decode_host_frame(&too_long),
        Err((None, FrameError::Decode))
    );
}

/// A payload must be exactly one message: trailing bytes are a Decode error, not ignored.
#[test]
fn trailing_bytes_are_rejected() {
    assert_eq!(decode_host_frame(&[0x01, 0x02]), Ok(ping(1)));
    assert_eq!(
        decode_host_frame(&[0x01, 0x02, 0x00]),
        Err((Some(1), FrameError::Decode))
    );
    assert_eq!(
        decode::<HostFrame>(&[0x01, 0x02, 0x00]),
        Err(FrameError::Decode)
    );
}
