//! 16550 UART driver: line setup, interrupt-driven receive into a lock-free ring, polled transmit.
//!
//! Sources: National Semiconductor PC16550D datasheet (register map, table II "Summary of
//! Registers"; FCR, IIR and LSR descriptions), OSDev wiki "Serial Ports", and
//! <https://en.wikibooks.org/wiki/Serial_Programming/8250_UART_Programming>.
//!
//! The receive path is split in two, so the interrupt handler and the reader never share a lock:
//! [`Uart16550::on_interrupt`] (IRQ context) pushes bytes into a `heapless::spsc` queue through its
//! producer, and [`UartRx`] (thread context) pops them through its consumer.

use core::convert::Infallible;

use heapless::spsc::{Consumer, Producer};

use crate::port::PortIo;

/// Base I/O port of COM1 (the human console on this board). OSDev "Serial Ports", "Port Addresses".
pub const COM1_BASE: u16 = 0x3F8;
/// Base I/O port of COM2 (the binary host link on this board).
pub const COM2_BASE: u16 = 0x2F8;
/// ISA IRQ line of COM1.
pub const COM1_IRQ: u8 = 4;
/// ISA IRQ line of COM2.
pub const COM2_IRQ: u8 = 3;

// Register offsets from the base port (PC16550D table II). Offsets 0 and 1 are the divisor latch
// while LCR.DLAB is set.

/// Receiver Buffer Register (read, DLAB = 0): the oldest byte of the RX FIFO.
pub const REG_RECEIVE_BUFFER: u16 = 0;
/// Transmitter Holding Register (write, DLAB = 0): queues a byte into the TX FIFO.
pub const REG_TRANSMIT_HOLDING: u16 = 0;
/// Divisor Latch low byte (DLAB = 1).
pub const REG_DIVISOR_LOW: u16 = 0;
/// Interrupt Enable Register (DLAB = 0).
pub const REG_INTERRUPT_ENABLE: u16 = 1;
/// Divisor Latch high byte (DLAB = 1).
pub const REG_DIVISOR_HIGH: u16 = 1;
/// Interrupt Identification Register (read).
pub const REG_INTERRUPT_ID: u16 = 2;
/// FIFO Control Register (write).
pub const REG_FIFO_CONTROL: u16 = 2;
/// Line Control Register.
pub const REG_LINE_CONTROL: u16 = 3;
/// Modem Control Register.
pub const REG_MODEM_CONTROL: u16 = 4;
/// Line Status Register (read).
pub const REG_LINE_STATUS: u16 = 5;
/// Modem Status Register (read).
pub const REG_MODEM_STATUS: u16 = 6;
/// Scratch Register.
pub const REG_SCRATCH: u16 = 7;

/// IER bit 0: interrupt when received data is available (or the FIFO character timeout fires).
pub const IER_RX_AVAILABLE: u8 = 1 << 0;
/// IER bit 1: interrupt when the transmitter holding register is empty.
pub const IER_TX_EMPTY: u8 = 1 << 1;
/// IER bit 2: interrupt on a receiver line status condition (overrun, parity, framing, break).
pub const IER_LINE_STATUS: u8 = 1 << 2;
/// IER bit 3: interrupt on a modem status change.
pub const IER_MODEM_STATUS: u8 = 1 << 3;

/// IIR bit 0: set when NO interrupt is pending (active low "interrupt pending").
pub const IIR_NO_INTERRUPT_PENDING: u8 = 1 << 0;
/// IIR bits 3..1: the identity of the highest-priority pending interrupt.
pub const IIR_ID_MASK: u8 = 0b0000_1110;
/// IIR identity: receiver line status (priority 1), cleared by reading LSR.
pub const IIR_ID_LINE_STATUS: u8 = 0b0000_0110;
/// IIR identity: received data available (priority 2), cleared when the FIFO drops below trigger.
pub const IIR_ID_RX_AVAILABLE: u8 = 0b0000_0100;
/// IIR identity: character timeout (priority 2): bytes below the trigger level sat for 4 character
/// times; cleared by reading RBR.
pub const IIR_ID_CHARACTER_TIMEOUT: u8 = 0b0000_1100;
/// IIR identity: transmitter holding register empty (priority 3), cleared by reading IIR or writing
/// THR.
pub const IIR_ID_TX_EMPTY: u8 = 0b0000_0010;
/// IIR identity: modem status (priority 4), cleared by reading MSR.
pub const IIR_ID_MODEM_STATUS: u8 = 0b0000_0000;
/// IIR bits 7..6: both set when the FIFOs are enabled.
pub const IIR_FIFOS_ENABLED: u8 = 0b1100_0000;

/// FCR bit 0: enable both FIFOs. Must be set in every FCR write, or the other bits are ignored
/// (PC16550D, FCR description).
pub const FCR_ENABLE: u8 = 1 << 0;
/// FCR bit 1: clear the RX FIFO (self-clearing).
pub const FCR_CLEAR_RX: u8 = 1 << 1;
/// FCR bit 2: clear the TX FIFO (self-clearing).
pub const FCR_CLEAR_TX: u8 = 1 << 2;
/// FCR bits 7..6: RX trigger level mask.
pub const FCR_TRIGGER_MASK: u8 = 0b1100_0000;
/// FCR RX trigger level: 1 byte.
pub const FCR_TRIGGER_1: u8 = 0b0000_0000;
/// FCR RX trigger level: 4 bytes.
pub const FCR_TRIGGER_4: u8 = 0b0100_0000;
/// FCR RX trigger level: 8 bytes.
pub const FCR_TRIGGER_8: u8 = 0b1000_0000;
/// FCR RX trigger level: 14 bytes.
pub const FCR_TRIGGER_14: u8 = 0b1100_0000;

/// LCR bits 1..0 = 11: 8 data bits. (Reset value 00 is 5 bits, which Bochs really uses until the
/// firmware programs LCR.)
pub const LCR_WORD_LENGTH_8: u8 = 0b0000_0011;
/// LCR bits 1..0: word length mask.
pub const LCR_WORD_LENGTH_MASK: u8 = 0b0000_0011;
/// LCR bit 2: two stop bits (clear: one).
pub const LCR_TWO_STOP_BITS: u8 = 1 << 2;
/// LCR bit 3: parity enable (clear: no parity).
pub const LCR_PARITY_ENABLE: u8 = 1 << 3;
/// LCR bit 6: transmit a break.
pub const LCR_BREAK: u8 = 1 << 6;
/// LCR bit 7: Divisor Latch Access Bit; offsets 0 and 1 become the divisor latch while set.
pub const LCR_DLAB: u8 = 1 << 7;
/// LCR value for 8 data bits, no parity, one stop bit, DLAB clear.
pub const LCR_8N1: u8 = LCR_WORD_LENGTH_8;

/// MCR bit 0: Data Terminal Ready.
pub const MCR_DTR: u8 = 1 << 0;
/// MCR bit 1: Request To Send.
pub const MCR_RTS: u8 = 1 << 1;
/// MCR bit 2: OUT1 (unused on PCs).
pub const MCR_OUT1: u8 = 1 << 2;
/// MCR bit 3: OUT2. On PC boards it gates the UART's INTR line to the interrupt controller: without
/// it no IRQ reaches the PIC (OSDev "Serial Ports", "Modem Control Register").
pub const MCR_OUT2: u8 = 1 << 3;
/// MCR bit 4: loopback mode.
pub const MCR_LOOPBACK: u8 = 1 << 4;

/// LSR bit 0: Data Ready, at least one byte in the RX FIFO.
pub const LSR_DATA_READY: u8 = 1 << 0;
/// LSR bit 1: Overrun Error, a byte arrived while the RX FIFO was full and was lost.
pub const LSR_OVERRUN_ERROR: u8 = 1 << 1;
/// LSR bit 2: Parity Error in the byte at the top of the FIFO.
pub const LSR_PARITY_ERROR: u8 = 1 << 2;
/// LSR bit 3: Framing Error (no valid stop bit) in the byte at the top of the FIFO.
pub const LSR_FRAMING_ERROR: u8 = 1 << 3;
/// LSR bit 4: Break Interrupt, the line was held low for a whole character (a 0x00 is queued).
pub const LSR_BREAK_INTERRUPT: u8 = 1 << 4;
/// LSR bit 5: Transmitter Holding Register Empty; in FIFO mode the whole TX FIFO is empty.
pub const LSR_TX_HOLDING_EMPTY: u8 = 1 << 5;
/// LSR bit 6: Transmitter Empty, the TX FIFO and the shift register are both empty.
pub const LSR_TX_EMPTY: u8 = 1 << 6;
/// LSR bit 7: at least one parity, framing or break error is in the RX FIFO.
pub const LSR_RX_FIFO_ERROR: u8 = 1 << 7;

/// Depth of the 16550's RX and TX FIFOs.
pub const FIFO_DEPTH: usize = 16;

/// Baud rate at divisor 1: the 1.8432 MHz crystal divided by 16 (PC16550D, "Programmable Baud
/// Generator").
pub const UART_CLOCK_BAUD: u32 = 115_200;

/// The RX trigger level this driver programs: 8 bytes.
///
/// At 115200 baud 8N1 a character takes 10 bits = 86.8 us. Trigger 8 leaves 8 free FIFO slots,
/// i.e. 694 us of interrupt latency before the UART overruns, while taking one interrupt per 8 bytes
/// (1440 IRQ/s at full rate) instead of one per byte (trigger 1: 11520 IRQ/s, costly under TCG and
/// Bochs). Trigger 14 would leave only 2 slots (174 us), too little beside the time the firmware
/// spends with interrupts off (JIT, plugin switches). Bytes below the trigger still arrive: the
/// character timeout interrupt fires after 4 idle character times (PC16550D, FCR and IIR).
pub const RX_TRIGGER_LEVEL: u8 = FCR_TRIGGER_8;

/// Upper bound on IIR re-reads in one [`Uart16550::on_interrupt`] call, so that a UART whose IIR
/// never reports "no interrupt pending" cannot hang the interrupt handler.
const MAX_INTERRUPT_PASSES: u32 = 8;

/// Upper bound on bytes read in one drain. A 16550 cannot refill its FIFO faster than the line
/// rate, so a handler never gets near it; it keeps a misbehaving port from holding the CPU.
const MAX_DRAIN_BYTES: u32 = 1024;

/// What a port reads as when no device decodes it (an open ISA bus). No real LSR value has every
/// bit set (an empty transmitter and received data with every error at once), so LSR = 0xFF means
/// there is no UART at the base.
const LSR_NO_DEVICE: u8 = 0xFF;

/// Divisor latch value for `baud`: `115200 / baud`, rounded to nearest and clamped to the latch's
/// range 1..=65535 (`baud` 0 gives the slowest rate, 65535).
pub const fn divisor_for(baud: u32) -> u16 {
    if baud == 0 {
        return u16::MAX;
    }
    let divisor = (UART_CLOCK_BAUD + baud / 2) / baud;
    if divisor == 0 {
        1
    } else if divisor > u16::MAX as u32 {
        u16::MAX
    } else {
        divisor as u16
    }
}

/// Error and drop counters kept by [`Uart16550`]. All counters wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UartStats {
    /// Bytes read from the UART but dropped because the software ring was full.
    pub dropped: u32,
    /// Times LSR reported an overrun: the hardware FIFO was full and at least one byte was lost.
    pub overrun_errors: u32,
    /// Bytes received with a parity error (they are still queued).
    pub parity_errors: u32,
    /// Bytes received with a framing error (they are still queued).
    pub framing_errors: u32,
    /// Break conditions received (the UART queues a 0x00 for each).
    pub breaks: u32,
}

/// A 16550 UART at `base`, driven through `P`.
#[derive(Debug)]
pub struct Uart16550<P: PortIo> {
    /// The port space the UART sits in.
    ports: P,
    /// First of the UART's 8 ports.
    base: u16,
    /// Error and drop counters.
    stats: UartStats,
    /// Bytes `write` may queue after each THRE: the FIFO depth once `init` saw the FIFOs enabled
    /// (IIR bits 7..6), else 1 (a 16450, or before `init`).
    transmit_burst: usize,
}

impl<P: PortIo> Uart16550<P> {
    /// A driver for the UART whose first port is `base` (for example [`COM1_BASE`]). Touches no
    /// port; call [`Uart16550::init`] before using the line.
    pub const fn new(ports: P, base: u16) -> Self {
        Self {
            ports,
            base,
            stats: UartStats {
                dropped: 0,
                overrun_errors: 0,
                parity_errors: 0,
                framing_errors: 0,
                breaks: 0,
            },
            transmit_burst: 1,
        }
    }

    /// The UART's base port.
    pub const fn base(&self) -> u16 {
        self.base
    }

    /// The error and drop counters since [`Uart16550::new`].
    pub const fn stats(&self) -> UartStats {
        self.stats
    }

    /// Programs the line: 8N1, FIFOs enabled and cleared with an RX trigger of 8 bytes (see
    /// [`RX_TRIGGER_LEVEL`] for why), divisor for `baud` (115200 -> 1, see [`divisor_for`]), DTR, RTS
    /// and OUT2 set so the IRQ reaches the PIC, stale state drained, and only the
    /// receive-data-available interrupt enabled.
    ///
    /// Bochs's UARTs send 5-bit characters until LCR is programmed; this sets it.
    pub fn init(&mut self, baud: u32) {
        let divisor = divisor_for(baud);
        let [divisor_low, divisor_high] = divisor.to_le_bytes();
        // DLAB clear first: offset 1 must be IER, not the divisor high byte, for the next write.
        self.write_register(REG_LINE_CONTROL, LCR_8N1);
        // No interrupts while the line is being reconfigured.
        self.write_register(REG_INTERRUPT_ENABLE, 0);
        self.write_register(REG_LINE_CONTROL, LCR_8N1 | LCR_DLAB);
        self.write_register(REG_DIVISOR_LOW, divisor_low);
        self.write_register(REG_DIVISOR_HIGH, divisor_high);
        self.write_register(REG_LINE_CONTROL, LCR_8N1);
        self.write_register(
            REG_FIFO_CONTROL,
            FCR_ENABLE | FCR_CLEAR_RX | FCR_CLEAR_TX | RX_TRIGGER_LEVEL,
        );
        self.write_register(REG_MODEM_CONTROL, MCR_DTR | MCR_RTS | MCR_OUT2);
        // Clear whatever a previous owner left pending: line status (LSR read), stale RX bytes
        // (RBR reads), THR-empty (IIR read), modem status (MSR read).
        self.read_register(REG_LINE_STATUS);
        let mut stale = FIFO_DEPTH;
        while stale > 0 && self.read_register(REG_LINE_STATUS) & LSR_DATA_READY != 0 {
            self.read_register(REG_RECEIVE_BUFFER);
            stale -= 1;
        }
        let interrupt_id = self.read_register(REG_INTERRUPT_ID);
        self.transmit_burst = if interrupt_id & IIR_FIFOS_ENABLED == IIR_FIFOS_ENABLED {
            FIFO_DEPTH
        } else {
            1
        };
        self.read_register(REG_MODEM_STATUS);
        self.write_register(REG_INTERRUPT_ENABLE, IER_RX_AVAILABLE);
    }

    /// Interrupt handler body: drains every byte while LSR.DR is set into `rx`, and repeats until
    /// IIR reports no pending interrupt, so the UART's interrupt line drops (the PIC is
    /// edge-triggered: a condition left pending would never raise another IRQ).
    ///
    /// A byte that finds `rx` full is read from the UART anyway (to clear the condition), dropped
    /// and counted in [`UartStats::dropped`]. Returns the number of bytes dropped by this call. Note
    /// that a `heapless` 0.7 queue of `N` slots holds `N - 1` bytes.
    pub fn on_interrupt<const N: usize>(&mut self, rx: &mut Producer<'_, u8, N>) -> u32 {
        let mut dropped = 0;
        for _ in 0..MAX_INTERRUPT_PASSES {
            let interrupt_id = self.read_register(REG_INTERRUPT_ID);
            // Reading LSR in the drain clears a line-status interrupt; emptying RBR clears
            // RX-available and character-timeout; the IIR read above cleared THR-empty.
            dropped += self.drain_into(rx);
            if interrupt_id & IIR_NO_INTERRUPT_PENDING != 0 {
                break;
            }
            if interrupt_id & IIR_ID_MASK == IIR_ID_MODEM_STATUS {
                self.read_register(REG_MODEM_STATUS);
            }
        }
        dropped
    }

    /// Blocking transmit of one byte: polls LSR.THRE, then writes THR.
    pub fn write_byte(&mut self, byte: u8) {
        self.wait_for_line_status(LSR_TX_HOLDING_EMPTY);
        self.write_register(REG_TRANSMIT_HOLDING, byte);
    }

    /// Non-blocking receive for polled mode (before interrupts are on): `Some(byte)` if LSR.DR is
    /// set. Do not mix with [`Uart16550::on_interrupt`] once the IRQ is unmasked.
    pub fn try_read_byte(&mut self) -> Option<u8> {
        let status = self.read_register(REG_LINE_STATUS);
        self.count_line_errors(status);
        if status & LSR_DATA_READY != 0 {
            Some(self.read_register(REG_RECEIVE_BUFFER))
        } else {
            None
        }
    }

    /// Reads every byte the RX FIFO holds into `rx`; returns how many were dropped for lack of room.
    fn drain_into<const N: usize>(&mut self, rx: &mut Producer<'_, u8, N>) -> u32 {
        let mut dropped = 0;
        for _ in 0..MAX_DRAIN_BYTES {
            let status = self.read_register(REG_LINE_STATUS);
            if status == LSR_NO_DEVICE || status & LSR_DATA_READY == 0 {
                break;
            }
            self.count_line_errors(status);
            let byte = self.read_register(REG_RECEIVE_BUFFER);
            if rx.enqueue(byte).is_err() {
                dropped += 1;
                self.stats.dropped = self.stats.dropped.wrapping_add(1);
            }
        }
        dropped
    }

    /// Counts the error bits of one LSR value (reading LSR clears them in the chip).
    fn count_line_errors(&mut self, status: u8) {
        let stats = &mut self.stats;
        if status & LSR_OVERRUN_ERROR != 0 {
            stats.overrun_errors = stats.overrun_errors.wrapping_add(1);
        }
        if status & LSR_PARITY_ERROR != 0 {
            stats.parity_errors = stats.parity_errors.wrapping_add(1);
        }
        if status & LSR_FRAMING_ERROR != 0 {
            stats.framing_errors = stats.framing_errors.wrapping_add(1);
        }
        if status & LSR_BREAK_INTERRUPT != 0 {
            stats.breaks = stats.breaks.wrapping_add(1);
        }
    }

    /// Spins until every bit of `mask` is set in LSR, counting any error bits seen on the way.
    fn wait_for_line_status(&mut self, mask: u8) {
        loop {
            let status = self.read_register(REG_LINE_STATUS);
            self.count_line_errors(status);
            if status & mask == mask {
                return;
            }
            core::hint::spin_loop();
        }
    }

    fn read_register(&mut self, register: u16) -> u8 {
        self.ports.read8(self.base + register)
    }

    fn write_register(&mut self, register: u16, value: u8) {
        self.ports.write8(self.base + register, value);
    }
}

impl<P: PortIo> embedded_io::ErrorType for Uart16550<P> {
    type Error = Infallible;
}

impl<P: PortIo> embedded_io::Write for Uart16550<P> {
    /// Writes all of `buf`, blocking. Each time LSR.THRE shows the TX FIFO empty, up to
    /// [`FIFO_DEPTH`] bytes go out without polling in between (one byte if `init` found no FIFO).
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        for chunk in buf.chunks(self.transmit_burst) {
            self.wait_for_line_status(LSR_TX_HOLDING_EMPTY);
            for &byte in chunk {
                self.write_register(REG_TRANSMIT_HOLDING, byte);
            }
        }
        Ok(buf.len())
    }

    /// Blocks until the TX FIFO and the shift register are empty (LSR.TEMT): the last byte has left.
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.wait_for_line_status(LSR_TX_EMPTY);
        Ok(())
    }
}

impl<P: PortIo> embedded_io::WriteReady for Uart16550<P> {
    /// True when LSR.THRE is set, so the next `write` does not wait.
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        let status = self.read_register(REG_LINE_STATUS);
        self.count_line_errors(status);
        Ok(status & LSR_TX_HOLDING_EMPTY != 0)
    }
}

/// The receive side: reads the bytes that [`Uart16550::on_interrupt`] queued.
///
/// [`UartRx::try_read`] never blocks. `embedded_io::Read::read` must return at least one byte for a
/// non-empty buffer, so it waits for one, calling the idle function between checks (a spin hint by
/// default; the firmware can pass one that halts until the next interrupt). It only returns if the
/// UART's IRQ is unmasked and interrupts are enabled while it waits.
pub struct UartRx<'a, const N: usize> {
    /// The consumer end of the queue the interrupt handler fills.
    consumer: Consumer<'a, u8, N>,
    /// Called while `read` waits for a byte.
    idle: fn(),
}

impl<'a, const N: usize> UartRx<'a, N> {
    /// A receiver over the consumer end of the queue whose producer feeds
    /// [`Uart16550::on_interrupt`]. Waits by spinning (`core::hint::spin_loop`).
    pub fn new(consumer: Consumer<'a, u8, N>) -> Self {
        Self::with_idle(consumer, core::hint::spin_loop)
    }

    /// Like [`UartRx::new`], but `read` calls `idle` while it waits (for example a `sti; hlt`
    /// helper in the firmware, so an emulator is not kept busy).
    pub fn with_idle(consumer: Consumer<'a, u8, N>, idle: fn()) -> Self {
        Self { consumer, idle }
    }

    /// The next received byte, or `None` if none is queued. Never blocks.
    pub fn try_read(&mut self) -> Option<u8> {
        self.consumer.dequeue()
    }

    /// Number of bytes queued and ready to read.
    pub fn available(&self) -> usize {
        self.consumer.len()
    }
}

impl<const N: usize> embedded_io::ErrorType for UartRx<'_, N> {
    type Error = Infallible;
}

impl<const N: usize> embedded_io::ReadReady for UartRx<'_, N> {
    /// True when at least one byte is queued, so `read` will not wait.
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.consumer.ready())
    }
}

impl<const N: usize> embedded_io::Read for UartRx<'_, N> {
    /// Waits until at least one byte is queued, then copies every queued byte that fits into `buf`.
    /// Returns `Ok(0)` at once for an empty `buf`; never reports end of file.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let first = loop {
            if let Some(byte) = self.consumer.dequeue() {
                break byte;
            }
            (self.idle)();
        };
        buf[0] = first;
        let mut count = 1;
        while count < buf.len() {
            match self.consumer.dequeue() {
                Some(byte) => {
                    buf[count] = byte;
                    count += 1;
                }
                None => break,
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use embedded_io::{Read, ReadReady, Write};
    use heapless::spsc::Queue;

    use super::*;
    use crate::fake::FakeUart;

    fn initialized(baud: u32) -> (FakeUart, Uart16550<FakeUart>) {
        let fake = FakeUart::new(COM2_BASE);
        let mut uart = Uart16550::new(fake.clone(), COM2_BASE);
        uart.init(baud);
        (fake, uart)
    }

    /// Proves that `init` programs 8N1, divisor 1 for 115200, FIFOs on with trigger 8, only the RX
    /// interrupt, and DTR/RTS/OUT2, leaving DLAB clear, without breaking any rule the fake checks.
    #[test]
    fn init_programs_8n1_fifo_divisor_and_rx_interrupt() {
        let (fake, _uart) = initialized(115_200);
        assert_eq!(fake.divisor(), Some(1));
        assert_eq!(fake.line_control(), LCR_8N1);
        assert!(fake.fifos_enabled());
        assert_eq!(fake.rx_trigger_level(), 8);
        assert_eq!(fake.interrupt_enable(), IER_RX_AVAILABLE);
        assert_eq!(fake.modem_control(), MCR_DTR | MCR_RTS | MCR_OUT2);
        assert!(!fake.interrupt_line_asserted());
    }

    /// Proves that `init` computes the divisor for common rates (115200/baud, rounded) and programs
    /// it through the latch.
    #[test]
    fn init_programs_the_divisor_for_the_requested_baud() {
        for (baud, expected) in [(57_600, 2), (38_400, 3), (9_600, 12), (1_200, 96)] {
            let (fake, _uart) = initialized(baud);
            assert_eq!(fake.divisor(), Some(expected), "baud {baud}");
        }
    }

    /// Proves the divisor arithmetic at its edges: rounding to nearest, and clamping to 1..=65535.
    #[test]
    fn divisor_rounds_and_clamps() {
        assert_eq!(divisor_for(115_200), 1);
        assert_eq!(divisor_for(1_000_000), 1);
        assert_eq!(divisor_for(100_000), 1);
        assert_eq!(divisor_for(50_000), 2);
        assert_eq!(divisor_for(14_400), 8);
        assert_eq!(divisor_for(2), 57_600);
        assert_eq!(divisor_for(1), 65_535);
        assert_eq!(divisor_for(0), 65_535);
    }

    /// Proves that `init` empties bytes a previous owner left in the RX FIFO, so none of them can be
    /// mistaken for new input.
    #[test]
    fn init_discards_stale_input() {
        let fake = FakeUart::new(COM1_BASE);
        fake.power_on_with_stale_input(b"junk");
        let mut uart = Uart16550::new(fake.clone(), COM1_BASE);
        uart.init(115_200);
        assert_eq!(fake.rx_fifo_len(), 0);
        assert_eq!(uart.try_read_byte(), None);
    }

    /// Proves that one interrupt drains a full 16-byte FIFO into the ring in order with no byte
    /// lost, and leaves no interrupt condition pending (the edge-triggered PIC would otherwise never
    /// see the next one).
    #[test]
    fn interrupt_drains_a_full_fifo_without_loss() {
        let (fake, mut uart) = initialized(115_200);
        let input: Vec<u8> = (0..16).map(|index| 0xA0 + index).collect();
        fake.receive(&input);
        assert!(fake.interrupt_line_asserted());

        let mut queue: Queue<u8, 32> = Queue::new();
        let (mut producer, mut consumer) = queue.split();
        assert_eq!(uart.on_interrupt(&mut producer), 0);

        let received: Vec<u8> = core::iter::from_fn(|| consumer.dequeue()).collect();
        assert_eq!(received, input);
        assert_eq!(fake.rx_fifo_len(), 0);
        assert!(!fake.interrupt_line_asserted());
        assert_eq!(uart.stats(), UartStats::default());
    }

    /// Proves that when the ring fills, the remaining bytes are still read out of the UART (the
    /// interrupt clears), dropped, counted, and returned as the drop count.
    #[test]
    fn full_ring_counts_overruns() {
        let (fake, mut uart) = initialized(115_200);
        let input: Vec<u8> = (0..16).collect();
        fake.receive(&input);

        // A heapless 0.7 queue with 8 slots holds 7 bytes.
        let mut queue: Queue<u8, 8> = Queue::new();
        let (mut producer, mut consumer) = queue.split();
        assert_eq!(uart.on_interrupt(&mut producer), 9);

        let received: Vec<u8> = core::iter::from_fn(|| consumer.dequeue()).collect();
        assert_eq!(received, input[..7]);
        assert_eq!(uart.stats().dropped, 9);
        assert_eq!(fake.rx_fifo_len(), 0);
        assert!(!fake.interrupt_line_asserted());
    }

    /// Proves that a byte arriving just after the drain saw the FIFO empty is picked up by the IIR
    /// re-check, so the handler never returns with the interrupt still pending (an edge-triggered
    /// PIC would then never interrupt again for this UART).
    #[test]
    fn interrupt_rechecks_iir_for_late_arrivals() {
        let (fake, mut uart) = initialized(115_200);
        fake.receive(b"first");
        fake.receive_after_next_empty_poll(b"late");
        let mut queue: Queue<u8, 16> = Queue::new();
        let (mut producer, mut consumer) = queue.split();
        uart.on_interrupt(&mut producer);
        let received: Vec<u8> = core::iter::from_fn(|| consumer.dequeue()).collect();
        assert_eq!(received, b"firstlate");
        assert!(!fake.interrupt_line_asserted());
    }

    /// Proves that bytes below the trigger level (the character-timeout case) are delivered too.
    #[test]
    fn interrupt_delivers_bytes_below_the_trigger_level() {
        let (fake, mut uart) = initialized(115_200);
        fake.receive(b"ok");
        assert!(fake.interrupt_line_asserted());
        let mut queue: Queue<u8, 8> = Queue::new();
        let (mut producer, consumer) = queue.split();
        uart.on_interrupt(&mut producer);
        let mut rx = UartRx::new(consumer);
        assert_eq!(rx.try_read(), Some(b'o'));
        assert_eq!(rx.try_read(), Some(b'k'));
        assert_eq!(rx.try_read(), None);
        assert!(!fake.interrupt_line_asserted());
    }

    /// Proves that line errors are counted: a byte lost to a full hardware FIFO (LSR.OE) and a byte
    /// with a framing error (still delivered).
    #[test]
    fn line_errors_are_counted() {
        let (fake, mut uart) = initialized(115_200);
        let input: Vec<u8> = (0..17).collect();
        fake.receive(&input); // the 17th byte overruns the 16-byte FIFO
        let mut queue: Queue<u8, 32> = Queue::new();
        let (mut producer, mut consumer) = queue.split();
        uart.on_interrupt(&mut producer);
        let received: Vec<u8> = core::iter::from_fn(|| consumer.dequeue()).collect();
        assert_eq!(received, input[..16]);
        assert_eq!(uart.stats().overrun_errors, 1);

        fake.receive_with_framing_error(0x55);
        uart.on_interrupt(&mut producer);
        assert_eq!(consumer.dequeue(), Some(0x55));
        assert_eq!(uart.stats().framing_errors, 1);
        assert!(!fake.interrupt_line_asserted());
    }

    /// Proves that polled receive returns bytes in order and `None` when LSR.DR is clear (the fake
    /// panics if RBR is read with DR clear).
    #[test]
    fn polled_receive_reads_only_when_data_ready() {
        let (fake, mut uart) = initialized(115_200);
        assert_eq!(uart.try_read_byte(), None);
        fake.receive(b"hi");
        assert_eq!(uart.try_read_byte(), Some(b'h'));
        assert_eq!(uart.try_read_byte(), Some(b'i'));
        assert_eq!(uart.try_read_byte(), None);
    }

    /// Proves that `write_byte` waits for THRE before each byte (the fake holds THRE clear for a few
    /// polls and panics on a THR write into a full holding register, FIFOs off or not) and that
    /// `flush` waits until the last byte has left.
    #[test]
    fn write_byte_waits_for_transmitter_ready() {
        let (fake, mut uart) = initialized(115_200);
        fake.set_transmit_delay(3);
        uart.write_byte(b'a');
        uart.write_byte(b'b');
        assert_eq!(fake.transmitted(), b"a");
        uart.flush().unwrap();
        assert_eq!(fake.transmitted(), b"ab");
    }

    /// Proves that `embedded_io::Write` sends every byte in order, never overfilling the 16-byte TX
    /// FIFO (the fake panics on overflow), and that `flush` waits until the transmitter is empty.
    #[test]
    fn embedded_io_write_bursts_into_the_fifo_and_flushes() {
        let (fake, mut uart) = initialized(115_200);
        fake.set_transmit_delay(2);
        let message: Vec<u8> = (0..=99).collect();
        uart.write_all(&message).unwrap();
        uart.flush().unwrap();
        assert_eq!(fake.transmitted(), message);
        assert_eq!(fake.tx_fifo_len(), 0);
        assert_eq!(uart.write(&[]).unwrap(), 0);
    }

    /// Proves that on a 16450 (no FIFO: FCR ignored, IIR bits 7..6 clear) `write` sends one byte
    /// per THRE instead of bursting 16 (the fake panics on a second byte into a full THR).
    #[test]
    fn embedded_io_write_does_not_burst_without_fifo() {
        let fake = FakeUart::new_16450(COM1_BASE);
        let mut uart = Uart16550::new(fake.clone(), COM1_BASE);
        uart.init(115_200);
        assert!(!fake.fifos_enabled());
        uart.write_all(b"no fifo here").unwrap();
        uart.flush().unwrap();
        assert_eq!(fake.transmitted(), b"no fifo here");
    }

    /// Proves that an interrupt for a port where no UART answers (every read 0xFF) returns instead
    /// of draining "received" 0xFF bytes forever.
    #[test]
    fn interrupt_on_an_absent_uart_terminates() {
        let mut uart = Uart16550::new(crate::fake::FakeBus::new(), COM1_BASE);
        let mut queue: Queue<u8, 8> = Queue::new();
        let (mut producer, mut consumer) = queue.split();
        assert_eq!(uart.on_interrupt(&mut producer), 0);
        assert_eq!(consumer.dequeue(), None);
    }

    /// Proves that `write!` formatting works through `embedded_io::Write`.
    #[test]
    fn formatted_write_reaches_the_line() {
        let (fake, mut uart) = initialized(115_200);
        write!(uart, "irq {}\r\n", 4).unwrap();
        uart.flush().unwrap();
        assert_eq!(fake.transmitted(), b"irq 4\r\n");
    }

    /// Proves that `UartRx::read` returns what is queued (up to the buffer's size), that
    /// `read_ready` reflects the queue, and that an empty buffer returns 0 without waiting.
    #[test]
    fn uart_rx_reads_what_is_available() {
        let mut queue: Queue<u8, 8> = Queue::new();
        let (mut producer, consumer) = queue.split();
        let mut rx = UartRx::new(consumer);
        assert!(!rx.read_ready().unwrap());
        assert_eq!(rx.read(&mut []).unwrap(), 0);
        for byte in b"abcde" {
            producer.enqueue(*byte).unwrap();
        }
        assert!(rx.read_ready().unwrap());
        assert_eq!(rx.available(), 5);
        let mut buffer = [0; 3];
        assert_eq!(rx.read(&mut buffer).unwrap(), 3);
        assert_eq!(&buffer, b"abc");
        let mut buffer = [0; 8];
        assert_eq!(rx.read(&mut buffer).unwrap(), 2);
        assert_eq!(&buffer[..2], b"de");
    }

    /// Proves that `UartRx::read` waits for a byte (calling the idle function) instead of returning
    /// 0: another thread plays the interrupt handler and queues a byte 20 ms later.
    #[test]
    fn uart_rx_read_waits_through_the_idle_function() {
        use core::sync::atomic::{AtomicU32, Ordering};
        static IDLE_CALLS: AtomicU32 = AtomicU32::new(0);
        fn idle() {
            IDLE_CALLS.fetch_add(1, Ordering::Relaxed);
            std::thread::yield_now();
        }
        let mut queue: Queue<u8, 4> = Queue::new();
        let (mut producer, consumer) = queue.split();
        let mut rx = UartRx::with_idle(consumer, idle);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                producer.enqueue(b'z').unwrap();
            });
            let mut buffer = [0; 4];
            assert_eq!(rx.read(&mut buffer).unwrap(), 1);
            assert_eq!(buffer[0], b'z');
        });
        assert!(IDLE_CALLS.load(Ordering::Relaxed) > 0);
    }

    /// Proves the fake enforces "no THR write before the line is configured" (Bochs would send 5-bit
    /// characters), so the tests above would catch a driver that skipped LCR.
    #[test]
    #[should_panic(expected = "before the line was configured")]
    fn fake_rejects_transmit_before_init() {
        let mut uart = Uart16550::new(FakeUart::new(COM1_BASE), COM1_BASE);
        uart.write_byte(b'x');
    }

    /// Proves the fake catches a divisor written while DLAB is clear (it lands in THR/IER).
    #[test]
    #[should_panic(expected = "DLAB")]
    fn fake_rejects_divisor_written_without_dlab() {
        let mut fake = FakeUart::new(COM1_BASE);
        fake.write8(COM1_BASE + REG_LINE_CONTROL, LCR_8N1);
        fake.write8(COM1_BASE + REG_DIVISOR_LOW, 1);
    }

    /// Proves the fake catches a THR write while DLAB is still set (it would overwrite the divisor).
    #[test]
    #[should_panic(expected = "while DLAB is set")]
    fn fake_rejects_transmit_while_dlab_set() {
        let mut fake = FakeUart::new(COM1_BASE);
        fake.write8(COM1_BASE + REG_LINE_CONTROL, LCR_8N1 | LCR_DLAB);
        fake.write8(COM1_BASE + REG_DIVISOR_LOW, 1);
        fake.write8(COM1_BASE + REG_DIVISOR_HIGH, 0);
        fake.write8(COM1_BASE + REG_TRANSMIT_HOLDING, b'x');
    }
}
