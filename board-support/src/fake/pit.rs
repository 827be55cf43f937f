//! A fake 8254 PIT (ports 0x40-0x43) with the channel 2 gate and output on system control port B
//! (0x61). Panics when a driver breaks the chip's rules (Intel 8254 datasheet):
//! a count byte must follow its channel's command byte, low byte then high byte; mode 2 cannot
//! count 1; counts are read only after a latch command; channel 1 (refresh) and the read-back
//! command are not touched; the speaker stays off and port B's NMI check bits are preserved.
//!
//! Time: channel 2 advances a configurable number of ticks per port B read while its gate is high
//! and its count is loaded, so a driver polling OUT really waits the programmed count.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::pit::*;
use crate::port::PortIo;

/// Port B bits 3..2: parity and I/O channel check enables (active low). Drivers must write back
/// what they read.
const PORT_B_CHECK_ENABLES: u8 = 0b0000_1100;
/// Port B bit 4: the refresh toggle (read-only), flips on every read here.
const PORT_B_REFRESH: u8 = 1 << 4;
/// Polls of port B after which a wait that never ends is reported.
const MAX_POLLS: u32 = 10_000_000;

/// Where a channel is in its "command, low byte, high byte" sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WritePhase {
    /// No command byte yet.
    Unprogrammed,
    ExpectLow,
    ExpectHigh,
    /// A full count is loaded; another low byte would start a new count.
    Loaded,
}

#[derive(Clone, Copy, Debug)]
struct Channel {
    phase: WritePhase,
    mode: u8,
    low: u8,
    /// The loaded count (0 means 65536, as in the chip).
    count: Option<u16>,
    /// Latched bytes waiting to be read, low first.
    latch: Option<[Option<u8>; 2]>,
}

impl Channel {
    const fn new() -> Self {
        Self {
            phase: WritePhase::Unprogrammed,
            mode: 0,
            low: 0,
            count: None,
            latch: None,
        }
    }
}

#[derive(Debug)]
struct State {
    channels: [Channel; 3],
    commands: Vec<u8>,
    channel0_current: u16,
    port_b: u8,
    ticks_per_poll: u32,
    /// Ticks channel 2 has counted since its count was loaded.
    channel2_elapsed: u64,
    channel2_ticks_when_out_seen: u64,
    channel2_counts: Vec<u16>,
    polls_without_progress: u32,
}

impl State {
    fn channel_index(&self, port: u16) -> usize {
        match port {
            PIT_CHANNEL0_DATA => 0,
            PIT_CHANNEL2_DATA => 2,
            PIT_CHANNEL1_DATA => {
                panic!("8254: channel 1 (port 0x41) is the refresh timer; this board never uses it")
            }
            _ => unreachable!(),
        }
    }

    fn channel2_out(&self) -> bool {
        let channel = &self.channels[2];
        match (channel.phase, channel.count) {
            (WritePhase::Loaded, Some(count)) => {
                let count = if count == 0 { 65_536 } else { u64::from(count) };
                // Mode 0: OUT rises N + 1 clocks after the count is written.
                self.channel2_elapsed > count
            }
            _ => false,
        }
    }

    fn write_command(&mut self, value: u8) {
        self.commands.push(value);
        let channel = match value & COMMAND_CHANNEL_MASK {
            COMMAND_CHANNEL0 => 0,
            COMMAND_CHANNEL2 => 2,
            COMMAND_READ_BACK => panic!("8254: read-back command {value:#04x} not modelled"),
            _ => panic!("8254: command {value:#04x} selects channel 1, the refresh timer"),
        };
        if value & COMMAND_ACCESS_MASK == COMMAND_ACCESS_LATCH {
            let Some(count) = self.channels[channel].count else {
                panic!("8254: latch of channel {channel}, which was never programmed");
            };
            let current = if channel == 0 {
                self.channel0_current
            } else {
                count.wrapping_sub(self.channel2_elapsed as u16)
            };
            let [low, high] = current.to_le_bytes();
            self.channels[channel].latch = Some([Some(low), Some(high)]);
            return;
        }
        assert!(
            value & COMMAND_ACCESS_MASK == COMMAND_ACCESS_LOW_HIGH,
            "8254: command {value:#04x}: only low/high byte access is modelled"
        );
        assert!(
            value & COMMAND_BCD == 0,
            "8254: command {value:#04x} selects BCD counting"
        );
        let mut mode = (value & COMMAND_MODE_MASK) >> 1;
        if mode >= 6 {
            mode -= 4; // 110 and 111 are modes 2 and 3 (8254 datasheet, control word format)
        }
        let channel_state = &mut self.channels[channel];
        channel_state.phase = WritePhase::ExpectLow;
        channel_state.mode = mode;
        channel_state.count = None;
        channel_state.latch = None;
        if channel == 2 {
            self.channel2_elapsed = 0;
        }
    }

    fn write_count(&mut self, port: u16, value: u8) {
        let index = self.channel_index(port);
        let channel = &mut self.channels[index];
        match channel.phase {
            WritePhase::Unprogrammed => {
                panic!(
                    "8254: count byte {value:#04x} written to channel {index} without a command byte"
                )
            }
            WritePhase::ExpectLow | WritePhase::Loaded => {
                channel.low = value;
                channel.phase = WritePhase::ExpectHigh;
            }
            WritePhase::ExpectHigh => {
                let count = u16::from_le_bytes([channel.low, value]);
                assert!(
                    !(channel.mode == 2 && count == 1),
                    "8254: count 1 is illegal in mode 2 (rate generator)"
                );
                channel.count = Some(count);
                channel.phase = WritePhase::Loaded;
                if index == 2 {
                    self.channel2_elapsed = 0;
                    self.channel2_counts.push(count);
                }
            }
        }
    }

    fn read_count(&mut self, port: u16) -> u8 {
        let index = self.channel_index(port);
        let channel = &mut self.channels[index];
        let Some(latch) = channel.latch.as_mut() else {
            panic!(
                "8254: channel {index} count read without latching it first: the two bytes could \
                 come from different counts"
            );
        };
        let byte = latch
            .iter_mut()
            .find_map(Option::take)
            .expect("a latch holds two bytes");
        if latch.iter().all(Option::is_none) {
            channel.latch = None;
        }
        byte
    }

    fn read_port_b(&mut self) -> u8 {
        let counting = self.port_b & PORT_B_TIMER2_GATE != 0
            && self.channels[2].phase == WritePhase::Loaded
            && !self.channel2_out();
        if counting {
            self.channel2_elapsed += u64::from(self.ticks_per_poll);
            self.polls_without_progress = 0;
        } else {
            self.polls_without_progress += 1;
            assert!(
                self.polls_without_progress < MAX_POLLS,
                "8254: port 0x61 polled {MAX_POLLS} times while channel 2 was not counting (gate \
                 low or no count loaded)"
            );
        }
        self.port_b ^= PORT_B_REFRESH;
        let out = self.channel2_out();
        if out && self.channel2_ticks_when_out_seen == 0 {
            self.channel2_ticks_when_out_seen = self.channel2_elapsed;
        }
        (self.port_b & !PORT_B_TIMER2_OUTPUT) | if out { PORT_B_TIMER2_OUTPUT } else { 0 }
    }

    fn write_port_b(&mut self, value: u8) {
        assert!(
            value & PORT_B_SPEAKER_DATA == 0,
            "8254: port 0x61 write {value:#04x} enables the speaker"
        );
        assert!(
            value & PORT_B_CHECK_ENABLES == self.port_b & PORT_B_CHECK_ENABLES,
            "8254: port 0x61 write {value:#04x} changed the parity/channel check enables (bits \
             3..2): read-modify-write the port"
        );
        let gate_rises = value & PORT_B_TIMER2_GATE != 0 && self.port_b & PORT_B_TIMER2_GATE == 0;
        if gate_rises {
            self.channel2_ticks_when_out_seen = 0;
        }
        let read_only = PORT_B_REFRESH | PORT_B_TIMER2_OUTPUT;
        self.port_b = (self.port_b & read_only) | (value & !read_only);
    }
}

/// A fake 8254 PIT with port B. Clones share the chip.
#[derive(Clone, Debug)]
pub struct FakePit {
    state: Rc<RefCell<State>>,
}

impl Default for FakePit {
    fn default() -> Self {
        Self::new()
    }
}

impl FakePit {
    /// A PIT with no channel programmed, the gate low, and port B's check enable bits set (as a
    /// BIOS leaves them, to show that drivers preserve them). Channel 2 advances 1 tick per poll.
    pub fn new() -> Self {
        let state = State {
            channels: [Channel::new(); 3],
            commands: Vec::new(),
            channel0_current: 0,
            port_b: PORT_B_CHECK_ENABLES,
            ticks_per_poll: 1,
            channel2_elapsed: 0,
            channel2_ticks_when_out_seen: 0,
            channel2_counts: Vec::new(),
            polls_without_progress: 0,
        };
        Self {
            state: Rc::new(RefCell::new(state)),
        }
    }

    /// Makes channel 2 advance `ticks` per port B read while counting.
    pub fn set_ticks_per_poll(&self, ticks: u32) {
        self.state.borrow_mut().ticks_per_poll = ticks;
    }

    /// Sets the count a channel 0 latch captures next.
    pub fn set_channel0_current(&self, count: u16) {
        self.state.borrow_mut().channel0_current = count;
    }

    /// The mode (0..5) of the last command byte for `channel`, once one was written.
    pub fn channel_mode(&self, channel: usize) -> Option<u8> {
        let state = self.state.borrow();
        let channel = &state.channels[channel];
        (channel.phase != WritePhase::Unprogrammed).then_some(channel.mode)
    }

    /// The count loaded into `channel` (0 means 65536), once both bytes were written.
    pub fn channel_count(&self, channel: usize) -> Option<u16> {
        self.state.borrow().channels[channel].count
    }

    /// Every command byte written, in order.
    pub fn command_bytes(&self) -> Vec<u8> {
        self.state.borrow().commands.clone()
    }

    /// Every count loaded into channel 2, in order.
    pub fn channel2_counts(&self) -> Vec<u16> {
        self.state.borrow().channel2_counts.clone()
    }

    /// Ticks channel 2 has counted since its count was loaded.
    pub fn channel2_elapsed(&self) -> u64 {
        self.state.borrow().channel2_elapsed
    }

    /// Ticks channel 2 had counted when a port B read first showed its OUT high (0 if never).
    pub fn channel2_ticks_when_out_seen(&self) -> u64 {
        self.state.borrow().channel2_ticks_when_out_seen
    }

    /// Whether channel 2's gate is high.
    pub fn gate2(&self) -> bool {
        self.state.borrow().port_b & PORT_B_TIMER2_GATE != 0
    }
}

impl PortIo for FakePit {
    fn read8(&mut self, port: u16) -> u8 {
        let mut state = self.state.borrow_mut();
        match port {
            PIT_CHANNEL0_DATA | PIT_CHANNEL1_DATA | PIT_CHANNEL2_DATA => state.read_count(port),
            PIT_COMMAND => panic!("8254: the command register (0x43) is write-only"),
            SYSTEM_CONTROL_PORT_B => state.read_port_b(),
            _ => panic!("8254: read of port {port:#x}"),
        }
    }

    fn write8(&mut self, port: u16, value: u8) {
        let mut state = self.state.borrow_mut();
        match port {
            PIT_CHANNEL0_DATA | PIT_CHANNEL1_DATA | PIT_CHANNEL2_DATA => {
                state.write_count(port, value)
            }
            PIT_COMMAND => state.write_command(value),
            SYSTEM_CONTROL_PORT_B => state.write_port_b(value),
            _ => panic!("8254: write of {value:#04x} to port {port:#x}"),
        }
    }
}
