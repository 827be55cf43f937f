//! A fake 16550 that models DLAB aliasing, both FIFOs, LSR, IIR and the interrupt line, and panics
//! when a driver breaks the chip's rules (PC16550D datasheet).
//!
//! At byte level a write to offset 0 is THR or the divisor low byte depending only on DLAB, so the
//! fake infers intent from the sequence: LCR.DLAB opens a "divisor window" in which each latch
//! byte is written once; a second write there is a THR/IER write made while DLAB is set. A write to
//! offset 0 with DLAB clear is THR, which must not come before the line is configured (divisor
//! programmed, 8-bit LCR); a divisor byte written while DLAB is clear lands there.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::port::PortIo;
use crate::uart::*;

/// Bits of MCR above loopback are reserved (read as 0).
const MCR_RESERVED: u8 = 0b1110_0000;
/// Bits of IER above modem status are reserved on a 16550.
const IER_RESERVED: u8 = 0b1111_0000;

/// A received character and the errors that came with it.
#[derive(Clone, Copy, Debug)]
struct RxEntry {
    /// The byte.
    byte: u8,
    /// PE/FE/BI bits not yet reported through LSR.
    errors: u8,
}

/// The divisor latch bytes written since DLAB was set.
#[derive(Clone, Copy, Debug, Default)]
struct DivisorWindow {
    /// DLL, once written.
    low: Option<u8>,
    /// DLM, once written.
    high: Option<u8>,
}

#[derive(Debug)]
struct State {
    base: u16,
    /// False for a 16450: no FIFOs, FCR writes ignored.
    has_fifo: bool,
    line_control: u8,
    /// Open while LCR.DLAB is set.
    divisor_window: Option<DivisorWindow>,
    /// The divisor latch, once programmed through a complete window.
    divisor: Option<u16>,
    interrupt_enable: u8,
    modem_control: u8,
    scratch: u8,
    fifos_enabled: bool,
    rx_trigger_bits: u8,
    rx_fifo: VecDeque<RxEntry>,
    /// LSR.OE, sticky until LSR is read.
    overrun: bool,
    tx_fifo: VecDeque<u8>,
    /// LSR reads left before the TX FIFO drains onto the line.
    transmit_countdown: u32,
    /// LSR reads the transmitter takes after each THR write.
    transmit_delay: u32,
    transmitted: Vec<u8>,
    /// THR-empty interrupt latched (cleared by an IIR read or a THR write).
    tx_empty_interrupt: bool,
    /// Bytes that arrive just after the next LSR read that finds the RX FIFO empty.
    late_arrivals: Vec<u8>,
}

impl State {
    fn dlab(&self) -> bool {
        self.line_control & LCR_DLAB != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifos_enabled { FIFO_DEPTH } else { 1 }
    }

    fn rx_trigger_level(&self) -> usize {
        match self.rx_trigger_bits {
            FCR_TRIGGER_1 => 1,
            FCR_TRIGGER_4 => 4,
            FCR_TRIGGER_8 => 8,
            _ => 14,
        }
    }

    fn line_configured(&self) -> bool {
        self.divisor.is_some()
            && !self.dlab()
            && self.line_control & LCR_WORD_LENGTH_MASK == LCR_WORD_LENGTH_8
    }

    fn line_error_pending(&self) -> bool {
        self.overrun || self.rx_fifo.front().is_some_and(|entry| entry.errors != 0)
    }

    /// The IIR identity the chip would show now, by priority (PC16550D table IV).
    fn pending_interrupt(&self) -> Option<u8> {
        let enabled = self.interrupt_enable;
        if enabled & IER_LINE_STATUS != 0 && self.line_error_pending() {
            return Some(IIR_ID_LINE_STATUS);
        }
        if enabled & IER_RX_AVAILABLE != 0 && !self.rx_fifo.is_empty() {
            if !self.fifos_enabled || self.rx_fifo.len() >= self.rx_trigger_level() {
                return Some(IIR_ID_RX_AVAILABLE);
            }
            // Below the trigger level the chip waits 4 character times, then raises the timeout;
            // the fake treats that time as already passed.
            return Some(IIR_ID_CHARACTER_TIMEOUT);
        }
        if enabled & IER_TX_EMPTY != 0 && self.tx_empty_interrupt {
            return Some(IIR_ID_TX_EMPTY);
        }
        None
    }

    fn read_line_status(&mut self) -> u8 {
        if !self.tx_fifo.is_empty() {
            if self.transmit_countdown == 0 {
                self.transmitted.extend(self.tx_fifo.drain(..));
                self.tx_empty_interrupt = true;
            } else {
                self.transmit_countdown -= 1;
            }
        }
        let mut status = 0;
        if let Some(front) = self.rx_fifo.front_mut() {
            status |= LSR_DATA_READY | front.errors;
            front.errors = 0;
        }
        if self.overrun {
            status |= LSR_OVERRUN_ERROR;
            self.overrun = false;
        }
        if self.tx_fifo.is_empty() {
            status |= LSR_TX_HOLDING_EMPTY | LSR_TX_EMPTY;
        }
        if self.rx_fifo.iter().any(|entry| entry.errors != 0) {
            status |= LSR_RX_FIFO_ERROR;
        }
        if status & LSR_DATA_READY == 0 {
            for byte in core::mem::take(&mut self.late_arrivals) {
                self.rx_fifo.push_back(RxEntry { byte, errors: 0 });
            }
        }
        status
    }

    fn write_transmit_holding(&mut self, byte: u8) {
        assert!(
            self.line_configured(),
            "16550 at {:#x}: THR written before the line was configured (divisor through DLAB, \
             8-bit LCR): Bochs would send 5-bit characters. A divisor byte written while DLAB is \
             clear also lands here.",
            self.base
        );
        let capacity = if self.fifos_enabled { FIFO_DEPTH } else { 1 };
        assert!(
            self.tx_fifo.len() < capacity,
            "16550 at {:#x}: THR written while the TX FIFO is full ({capacity} bytes): LSR.THRE was \
             not checked",
            self.base
        );
        if self.tx_fifo.is_empty() {
            self.transmit_countdown = self.transmit_delay;
        }
        self.tx_fifo.push_back(byte);
        self.tx_empty_interrupt = false;
    }

    fn write_divisor_byte(&mut self, high: bool, value: u8) {
        let base = self.base;
        let window = self
            .divisor_window
            .as_mut()
            .expect("DLAB set implies an open divisor window");
        let (slot, name, alias) = if high {
            (&mut window.high, "DLM", "IER")
        } else {
            (&mut window.low, "DLL", "THR")
        };
        assert!(
            slot.is_none(),
            "16550 at {base:#x}: {name} written twice while DLAB is set: this is a {alias} write \
             made while DLAB is set, and it overwrote the divisor latch"
        );
        *slot = Some(value);
    }

    fn write_line_control(&mut self, value: u8) {
        let was_dlab = self.dlab();
        self.line_control = value;
        match (was_dlab, self.dlab()) {
            (false, true) => self.divisor_window = Some(DivisorWindow::default()),
            (true, false) => {
                let window = self.divisor_window.take().unwrap_or_default();
                let (Some(low), Some(high)) = (window.low, window.high) else {
                    panic!(
                        "16550 at {:#x}: DLAB cleared with the divisor latch half programmed \
                         (DLL {:?}, DLM {:?})",
                        self.base, window.low, window.high
                    );
                };
                let divisor = u16::from_le_bytes([low, high]);
                assert!(divisor != 0, "16550 at {:#x}: divisor 0", self.base);
                self.divisor = Some(divisor);
            }
            _ => {}
        }
    }

    fn write_fifo_control(&mut self, value: u8) {
        if !self.has_fifo {
            return;
        }
        if value & FCR_ENABLE == 0 {
            assert!(
                value == 0,
                "16550 at {:#x}: FCR {value:#04x} without FCR_ENABLE: the other bits are not \
                 programmed (PC16550D, FCR bit 0)",
                self.base
            );
            self.fifos_enabled = false;
            self.rx_fifo.clear();
            self.tx_fifo.clear();
            return;
        }
        self.fifos_enabled = true;
        self.rx_trigger_bits = value & FCR_TRIGGER_MASK;
        if value & FCR_CLEAR_RX != 0 {
            self.rx_fifo.clear();
        }
        if value & FCR_CLEAR_TX != 0 {
            self.tx_fifo.clear();
        }
    }
}

/// A fake 16550 UART decoding the 8 ports from `base`. Clones share the chip.
#[derive(Clone, Debug)]
pub struct FakeUart {
    state: Rc<RefCell<State>>,
}

impl FakeUart {
    /// A UART in its reset state (PC16550D table III: LCR, IER, MCR 0; FIFOs off; THRE set).
    pub fn new(base: u16) -> Self {
        Self::with_fifo(base, true)
    }

    /// A 16450: the same registers without FIFOs (FCR writes are ignored, IIR bits 7..6 read 0).
    pub fn new_16450(base: u16) -> Self {
        Self::with_fifo(base, false)
    }

    fn with_fifo(base: u16, has_fifo: bool) -> Self {
        Self {
            state: Rc::new(RefCell::new(State {
                base,
                has_fifo,
                line_control: 0,
                divisor_window: None,
                divisor: None,
                interrupt_enable: 0,
                modem_control: 0,
                scratch: 0,
                fifos_enabled: false,
                rx_trigger_bits: FCR_TRIGGER_1,
                rx_fifo: VecDeque::new(),
                overrun: false,
                tx_fifo: VecDeque::new(),
                transmit_countdown: 0,
                transmit_delay: 0,
                transmitted: Vec::new(),
                tx_empty_interrupt: false,
                late_arrivals: Vec::new(),
            })),
        }
    }

    /// Leaves `bytes` in the RX FIFO and a pending overrun, as a previous owner (a boot loader)
    /// might have.
    pub fn power_on_with_stale_input(&self, bytes: &[u8]) {
        let mut state = self.state.borrow_mut();
        state
            .rx_fifo
            .extend(bytes.iter().map(|&byte| RxEntry { byte, errors: 0 }));
        state.overrun = true;
    }

    /// Characters arrive on the line. Each one that finds the RX FIFO full is lost and sets LSR.OE,
    /// as on the chip.
    pub fn receive(&self, bytes: &[u8]) {
        for &byte in bytes {
            self.receive_entry(RxEntry { byte, errors: 0 });
        }
    }

    /// `bytes` arrive right after the next LSR read that finds the RX FIFO empty: the race where a
    /// handler has just decided the FIFO is drained.
    pub fn receive_after_next_empty_poll(&self, bytes: &[u8]) {
        self.state
            .borrow_mut()
            .late_arrivals
            .extend_from_slice(bytes);
    }

    /// A character arrives with a framing error (no valid stop bit).
    pub fn receive_with_framing_error(&self, byte: u8) {
        self.receive_entry(RxEntry {
            byte,
            errors: LSR_FRAMING_ERROR,
        });
    }

    fn receive_entry(&self, entry: RxEntry) {
        let mut state = self.state.borrow_mut();
        if state.rx_fifo.len() < state.rx_capacity() {
            state.rx_fifo.push_back(entry);
        } else {
            state.overrun = true;
        }
    }

    /// Makes the transmitter take `polls` LSR reads to send each burst written into an empty FIFO,
    /// so that drivers must really wait for THRE.
    pub fn set_transmit_delay(&self, polls: u32) {
        self.state.borrow_mut().transmit_delay = polls;
    }

    /// Every byte that left on the line so far (bytes still in the TX FIFO are not included).
    pub fn transmitted(&self) -> Vec<u8> {
        self.state.borrow().transmitted.clone()
    }

    /// The divisor latch, if a complete DLAB window has programmed it.
    pub fn divisor(&self) -> Option<u16> {
        self.state.borrow().divisor
    }

    /// The Line Control Register.
    pub fn line_control(&self) -> u8 {
        self.state.borrow().line_control
    }

    /// The Interrupt Enable Register.
    pub fn interrupt_enable(&self) -> u8 {
        self.state.borrow().interrupt_enable
    }

    /// The Modem Control Register.
    pub fn modem_control(&self) -> u8 {
        self.state.borrow().modem_control
    }

    /// Whether FCR has enabled the FIFOs.
    pub fn fifos_enabled(&self) -> bool {
        self.state.borrow().fifos_enabled
    }

    /// The RX trigger level FCR selected, in bytes.
    pub fn rx_trigger_level(&self) -> usize {
        self.state.borrow().rx_trigger_level()
    }

    /// Bytes waiting in the RX FIFO.
    pub fn rx_fifo_len(&self) -> usize {
        self.state.borrow().rx_fifo.len()
    }

    /// Bytes waiting in the TX FIFO.
    pub fn tx_fifo_len(&self) -> usize {
        self.state.borrow().tx_fifo.len()
    }

    /// Whether the UART drives its IRQ line: an enabled interrupt is pending and MCR.OUT2 gates it
    /// through to the PIC.
    pub fn interrupt_line_asserted(&self) -> bool {
        let state = self.state.borrow();
        state.modem_control & MCR_OUT2 != 0 && state.pending_interrupt().is_some()
    }
}

impl PortIo for FakeUart {
    fn read8(&mut self, port: u16) -> u8 {
        let mut state = self.state.borrow_mut();
        let base = state.base;
        let register = port.checked_sub(base).filter(|offset| *offset < 8);
        let Some(register) = register else {
            panic!("16550 at {base:#x}: port {port:#x} is not one of its registers");
        };
        match register {
            REG_RECEIVE_BUFFER | REG_INTERRUPT_ENABLE if state.dlab() => {
                panic!(
                    "16550 at {base:#x}: offset {register} read while DLAB is set: this reads the \
                     divisor latch, not RBR/IER"
                )
            }
            REG_RECEIVE_BUFFER => match state.rx_fifo.pop_front() {
                Some(entry) => entry.byte,
                None => panic!("16550 at {base:#x}: RBR read with LSR.DR clear"),
            },
            REG_INTERRUPT_ENABLE => state.interrupt_enable,
            REG_INTERRUPT_ID => {
                let fifo_bits = if state.fifos_enabled {
                    IIR_FIFOS_ENABLED
                } else {
                    0
                };
                match state.pending_interrupt() {
                    Some(identity) => {
                        if identity == IIR_ID_TX_EMPTY {
                            state.tx_empty_interrupt = false;
                        }
                        identity | fifo_bits
                    }
                    None => IIR_NO_INTERRUPT_PENDING | fifo_bits,
                }
            }
            REG_LINE_CONTROL => state.line_control,
            REG_MODEM_CONTROL => state.modem_control,
            REG_LINE_STATUS => state.read_line_status(),
            REG_MODEM_STATUS => 0,
            _ => state.scratch,
        }
    }

    fn write8(&mut self, port: u16, value: u8) {
        let mut state = self.state.borrow_mut();
        let base = state.base;
        let register = port.checked_sub(base).filter(|offset| *offset < 8);
        let Some(register) = register else {
            panic!("16550 at {base:#x}: port {port:#x} is not one of its registers");
        };
        match register {
            REG_DIVISOR_LOW if state.dlab() => state.write_divisor_byte(false, value),
            REG_DIVISOR_HIGH if state.dlab() => state.write_divisor_byte(true, value),
            REG_TRANSMIT_HOLDING => state.write_transmit_holding(value),
            REG_INTERRUPT_ENABLE => {
                assert!(
                    value & IER_RESERVED == 0,
                    "16550 at {base:#x}: IER {value:#04x} sets reserved bits (a divisor high byte \
                     written while DLAB is clear?)"
                );
                state.interrupt_enable = value;
            }
            REG_FIFO_CONTROL => state.write_fifo_control(value),
            REG_LINE_CONTROL => state.write_line_control(value),
            REG_MODEM_CONTROL => {
                assert!(
                    value & MCR_RESERVED == 0,
                    "16550 at {base:#x}: MCR {value:#04x} sets reserved bits"
                );
                state.modem_control = value;
            }
            REG_LINE_STATUS | REG_MODEM_STATUS => {
                panic!("16550 at {base:#x}: write to read-only status register offset {register}")
            }
            _ => state.scratch = value,
        }
    }
}
