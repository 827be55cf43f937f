//! A fake cascaded pair of 8259A PICs (master at 0x20, slave at 0xA0 on IR2) that follows the
//! initialization sequence state machine of the Intel 8259A datasheet ("Initialization Command
//! Words", figure 6 flowchart) and panics when a driver breaks it.
//!
//! Rules checked: ICW1 must ask for ICW4, cascade mode and edge triggering; ICW2 must be a vector
//! base with its low 3 bits clear (8086 mode); ICW3 must name IR2 on the master and identity 2 on
//! the slave; ICW4 must select 8086 mode with normal (not automatic) EOI; no OCW before
//! initialization finishes; an EOI must find an interrupt in service; the slave gets its EOI before
//! the master's IR2; only unmasked lines can be delivered.

use alloc::rc::Rc;
use core::cell::RefCell;

use crate::pic::*;
use crate::port::PortIo;

/// The two chips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chip {
    Master,
    Slave,
}

/// Where a chip is in its initialization sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Never initialized: only ICW1 is acceptable.
    Reset,
    ExpectIcw2,
    ExpectIcw3,
    ExpectIcw4,
    /// Initialized: the data port takes OCW1, the command port OCW2/OCW3.
    Ready,
}

#[derive(Debug)]
struct ChipState {
    chip: Chip,
    phase: Phase,
    vector_base: Option<u8>,
    mask: u8,
    in_service: u8,
    requested: u8,
    /// OCW3 read-register select: true reads ISR from the command port, false IRR.
    read_in_service: bool,
}

impl ChipState {
    fn new(chip: Chip) -> Self {
        Self {
            chip,
            phase: Phase::Reset,
            vector_base: None,
            mask: 0,
            in_service: 0,
            requested: 0,
            read_in_service: false,
        }
    }

    fn write_command(&mut self, value: u8) {
        let chip = self.chip;
        if value & ICW1_INIT != 0 {
            assert!(
                value & ICW1_ICW4_NEEDED != 0,
                "8259A {chip:?}: ICW1 {value:#04x} without IC4: ICW4 (8086 mode) would not be read"
            );
            assert!(
                value & ICW1_SINGLE == 0,
                "8259A {chip:?}: ICW1 {value:#04x} selects single mode; the board cascades"
            );
            assert!(
                value & ICW1_LEVEL_TRIGGERED == 0,
                "8259A {chip:?}: ICW1 {value:#04x} selects level triggering; ISA IRQs are edges"
            );
            // ICW1 clears IMR and ISR and selects IRR for reads (8259A datasheet, ICW1).
            self.phase = Phase::ExpectIcw2;
            self.mask = 0;
            self.in_service = 0;
            self.read_in_service = false;
            return;
        }
        assert!(
            self.phase == Phase::Ready,
            "8259A {chip:?}: OCW {value:#04x} written during initialization ({:?})",
            self.phase
        );
        if value & OCW3_SELECT != 0 {
            match value & OCW3_READ_MASK {
                OCW3_READ_IRR => self.read_in_service = false,
                OCW3_READ_ISR => self.read_in_service = true,
                _ => {}
            }
            return;
        }
        // OCW2.
        match value & OCW2_COMMAND_MASK {
            OCW2_NON_SPECIFIC_EOI => {
                assert!(
                    self.in_service != 0,
                    "8259A {chip:?}: EOI with no interrupt in service (spurious IRQ \
                     acknowledged, or EOI sent to the wrong chip)"
                );
                // Fully nested mode: the highest priority (lowest numbered) level is the one
                // being serviced.
                self.in_service &= self.in_service - 1;
            }
            OCW2_SPECIFIC_EOI => {
                let level = value & OCW2_LEVEL_MASK;
                assert!(
                    self.in_service & (1 << level) != 0,
                    "8259A {chip:?}: specific EOI for level {level}, which is not in service"
                );
                self.in_service &= !(1 << level);
            }
            other => panic!("8259A {chip:?}: OCW2 command {other:#04x} not modelled"),
        }
    }

    fn write_data(&mut self, value: u8) {
        let chip = self.chip;
        match self.phase {
            Phase::Reset => panic!("8259A {chip:?}: data port written before ICW1"),
            Phase::ExpectIcw2 => {
                assert!(
                    value & ICW2_VECTOR_LOW_BITS == 0,
                    "8259A {chip:?}: ICW2 vector base {value:#04x} is not a multiple of 8; in 8086 \
                     mode the chip supplies the low 3 bits"
                );
                self.vector_base = Some(value);
                self.phase = Phase::ExpectIcw3;
            }
            Phase::ExpectIcw3 => {
                match chip {
                    Chip::Master => assert!(
                        value == 1 << CASCADE_IRQ,
                        "8259A master: ICW3 {value:#04x} must have only bit {CASCADE_IRQ} (slave on IR2)"
                    ),
                    Chip::Slave => assert!(
                        value == CASCADE_IRQ,
                        "8259A slave: ICW3 {value:#04x} must be its cascade identity {CASCADE_IRQ}"
                    ),
                }
                self.phase = Phase::ExpectIcw4;
            }
            Phase::ExpectIcw4 => {
                assert!(
                    value & ICW4_8086_MODE != 0,
                    "8259A {chip:?}: ICW4 {value:#04x} leaves MCS-80/85 mode"
                );
                assert!(
                    value & ICW4_AUTO_EOI == 0,
                    "8259A {chip:?}: ICW4 {value:#04x} selects automatic EOI; the driver sends EOIs"
                );
                assert!(
                    value & !(ICW4_8086_MODE | ICW4_AUTO_EOI) == 0,
                    "8259A {chip:?}: ICW4 {value:#04x} selects buffered or special fully nested mode"
                );
                self.phase = Phase::Ready;
            }
            Phase::Ready => self.mask = value,
        }
    }

    fn read_command(&self) -> u8 {
        assert!(
            self.phase == Phase::Ready,
            "8259A {:?}: command port read during initialization",
            self.chip
        );
        if self.read_in_service {
            self.in_service
        } else {
            self.requested
        }
    }

    fn read_data(&self) -> u8 {
        assert!(
            self.phase == Phase::Ready,
            "8259A {:?}: IMR read during initialization",
            self.chip
        );
        self.mask
    }
}

/// The level an OCW2 written to a chip with `in_service` would end, if it is an EOI.
fn eoi_level(value: u8, in_service: u8) -> Option<u8> {
    if value & (ICW1_INIT | OCW3_SELECT) != 0 {
        return None;
    }
    match value & OCW2_COMMAND_MASK {
        OCW2_NON_SPECIFIC_EOI if in_service != 0 => Some(in_service.trailing_zeros() as u8),
        OCW2_SPECIFIC_EOI => Some(value & OCW2_LEVEL_MASK),
        _ => None,
    }
}

#[derive(Debug)]
struct State {
    master: ChipState,
    slave: ChipState,
    io_waits: u32,
}

/// A fake master/slave 8259A pair on ports 0x20/0x21 and 0xA0/0xA1; port 0x80 writes (I/O delays)
/// are accepted and counted. Clones share the chips.
#[derive(Clone, Debug)]
pub struct FakePicPair {
    state: Rc<RefCell<State>>,
}

impl Default for FakePicPair {
    fn default() -> Self {
        Self::new()
    }
}

impl FakePicPair {
    /// Both chips uninitialized, as after reset.
    pub fn new() -> Self {
        Self {
            state: Rc::new(RefCell::new(State {
                master: ChipState::new(Chip::Master),
                slave: ChipState::new(Chip::Slave),
                io_waits: 0,
            })),
        }
    }

    /// The master's vector base from ICW2, once written.
    pub fn master_vector_base(&self) -> Option<u8> {
        self.state.borrow().master.vector_base
    }

    /// The slave's vector base from ICW2, once written.
    pub fn slave_vector_base(&self) -> Option<u8> {
        self.state.borrow().slave.vector_base
    }

    /// Whether both chips finished their ICW sequence.
    pub fn initialized(&self) -> bool {
        let state = self.state.borrow();
        state.master.phase == Phase::Ready && state.slave.phase == Phase::Ready
    }

    /// The master's Interrupt Mask Register.
    pub fn master_mask(&self) -> u8 {
        self.state.borrow().master.mask
    }

    /// The slave's Interrupt Mask Register.
    pub fn slave_mask(&self) -> u8 {
        self.state.borrow().slave.mask
    }

    /// The master's In-Service Register.
    pub fn master_in_service(&self) -> u8 {
        self.state.borrow().master.in_service
    }

    /// The slave's In-Service Register.
    pub fn slave_in_service(&self) -> u8 {
        self.state.borrow().slave.in_service
    }

    /// Number of port 0x80 writes (I/O delays) seen.
    pub fn io_waits(&self) -> u32 {
        self.state.borrow().io_waits
    }

    /// Raises `irq` and lets the CPU acknowledge it: sets its in-service bit (and the master's IR2
    /// for a slave line) and returns the vector the CPU would receive. Panics if the line is
    /// masked, on either chip.
    pub fn deliver(&self, irq: u8) -> u8 {
        let mut state = self.state.borrow_mut();
        assert!(irq < 16, "no IRQ {irq} on a PIC pair");
        assert!(
            state.master.phase == Phase::Ready && state.slave.phase == Phase::Ready,
            "IRQ {irq} delivered before both PICs were initialized"
        );
        if irq < 8 {
            assert!(state.master.mask & (1 << irq) == 0, "IRQ {irq} is masked");
            state.master.in_service |= 1 << irq;
            state.master.vector_base.unwrap_or(0) + irq
        } else {
            let level = irq - 8;
            assert!(
                state.slave.mask & (1 << level) == 0,
                "IRQ {irq} is masked on the slave"
            );
            assert!(
                state.master.mask & (1 << CASCADE_IRQ) == 0,
                "IRQ {irq} cannot pass: the cascade line IR2 is masked on the master"
            );
            state.slave.in_service |= 1 << level;
            state.master.in_service |= 1 << CASCADE_IRQ;
            state.slave.vector_base.unwrap_or(0) + level
        }
    }

    /// A spurious interrupt: the request vanished before the acknowledge cycle, so the chip sends
    /// its IR7 vector with nothing in service (8259A datasheet, "Interrupt Sequence"). For 15 the
    /// master did see a real request on IR2 and marks it in service. Returns the vector.
    pub fn deliver_spurious(&self, irq: u8) -> u8 {
        let mut state = self.state.borrow_mut();
        match irq {
            7 => state.master.vector_base.unwrap_or(0) + 7,
            15 => {
                state.master.in_service |= 1 << CASCADE_IRQ;
                state.slave.vector_base.unwrap_or(0) + 7
            }
            _ => panic!("only IRQ 7 and 15 can be spurious"),
        }
    }
}

impl PortIo for FakePicPair {
    fn read8(&mut self, port: u16) -> u8 {
        let state = self.state.borrow();
        match port {
            PIC1_COMMAND => state.master.read_command(),
            PIC1_DATA => state.master.read_data(),
            PIC2_COMMAND => state.slave.read_command(),
            PIC2_DATA => state.slave.read_data(),
            _ => panic!("8259A pair: read of port {port:#x}"),
        }
    }

    fn write8(&mut self, port: u16, value: u8) {
        let mut state = self.state.borrow_mut();
        match port {
            PIC1_COMMAND => {
                assert!(
                    !(eoi_level(value, state.master.in_service) == Some(CASCADE_IRQ)
                        && state.slave.in_service != 0),
                    "8259A master: EOI for the cascade line while the slave still has an IRQ in \
                     service: send the slave its EOI first"
                );
                state.master.write_command(value);
            }
            PIC1_DATA => state.master.write_data(value),
            PIC2_COMMAND => state.slave.write_command(value),
            PIC2_DATA => state.slave.write_data(value),
            IO_WAIT_PORT => state.io_waits += 1,
            _ => panic!("8259A pair: write of {value:#04x} to port {port:#x}"),
        }
    }
}
