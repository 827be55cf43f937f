//! A port space that records every access and answers reads from a table, for drivers whose only
//! rule is "write this byte there" (`isa-debug-exit`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::port::PortIo;

/// Records writes and reads; reads return the value set with [`FakeBus::set_read_value`], or 0xFF
/// (what an unclaimed ISA port reads as) for other ports.
#[derive(Debug, Default)]
pub struct FakeBus {
    /// Values returned by reads, per port.
    read_values: BTreeMap<u16, u8>,
    /// Every write, in order.
    writes: Vec<(u16, u8)>,
    /// Every port read, in order.
    reads: Vec<u16>,
}

impl FakeBus {
    /// An empty bus: every port reads 0xFF.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes reads of `port` return `value`.
    pub fn set_read_value(&mut self, port: u16, value: u8) {
        self.read_values.insert(port, value);
    }

    /// Every `(port, value)` written so far, in order.
    pub fn writes(&self) -> &[(u16, u8)] {
        &self.writes
    }

    /// Every port read so far, in order.
    pub fn reads(&self) -> &[u16] {
        &self.reads
    }
}

impl PortIo for FakeBus {
    fn read8(&mut self, port: u16) -> u8 {
        self.reads.push(port);
        self.read_values.get(&port).copied().unwrap_or(0xFF)
    }

    fn write8(&mut self, port: u16, value: u8) {
        self.writes.push((port, value));
    }
}
