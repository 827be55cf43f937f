//! Golden-disassembly support for the encoder's and masm's tests: emitted bytes decoded by
//! `iced-x86` (32-bit) and printed with its Intel formatter, one instruction per line. Runs on
//! any host: nothing is executed.

use alloc::string::String;
use alloc::vec::Vec;
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};

/// The instructions in `code`, as text (`mov eax,[ebp+8]`), addresses from 0.
pub fn disassemble(code: &[u8]) -> Vec<String> {
    let mut decoder = Decoder::with_ip(32, code, 0, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    let mut lines = Vec::new();
    while decoder.can_decode() {
        let instruction = decoder.decode();
        let mut text = String::new();
        formatter.format(&instruction, &mut text);
        lines.push(text);
    }
    lines
}

/// Asserts that `code` disassembles to exactly `expected`, instruction by instruction.
pub fn assert_disassembly(code: &[u8], expected: &[&str]) {
    let lines = disassemble(code);
    assert!(
        lines
            .iter()
            .map(String::as_str)
            .eq(expected.iter().copied()),
        "disassembly differs\n  got:      {lines:?}\n  expected: {expected:?}"
    );
}
