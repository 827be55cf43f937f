//! A fake parallel port modelled on QEMU's software port (`hw/char/parallel.c`): the data register
//! reads back what was written, and a rising STROBE with INIT and SELECT IN set emits the data byte
//! (QEMU sends it to the `-parallel` chardev). Panics when a driver writes the read-only status
//! register, drives the data pins while the port is in input mode, or enables the port's IRQ.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::lpt::*;
use crate::port::PortIo;

/// Status register value: not busy, acknowledged, selected, no error.
const STATUS_READY: u8 = 0b1101_1111;

#[derive(Debug)]
struct State {
    base: u16,
    pins: u8,
    control: u8,
    emitted: Vec<u8>,
}

/// A fake parallel port decoding its 3 registers from `base`. Clones share the port.
#[derive(Clone, Debug)]
pub struct FakeLpt {
    state: Rc<RefCell<State>>,
}

impl FakeLpt {
    /// A port in QEMU's reset state: pins low, control INIT | SELECT IN.
    pub fn new(base: u16) -> Self {
        Self {
            state: Rc::new(RefCell::new(State {
                base,
                pins: 0,
                control: CONTROL_INITIALIZE | CONTROL_SELECT_IN,
                emitted: Vec::new(),
            })),
        }
    }

    /// The level of D0-D7 (bit `n` is pin `n`).
    pub fn pins(&self) -> u8 {
        self.state.borrow().pins
    }

    /// Forces the pins' levels, as another owner or an external load would.
    pub fn set_pins(&self, value: u8) {
        self.state.borrow_mut().pins = value;
    }

    /// Forces the control register, as a previous owner might have left it.
    pub fn set_control(&self, value: u8) {
        self.state.borrow_mut().control = value;
    }

    /// The control register.
    pub fn control(&self) -> u8 {
        self.state.borrow().control
    }

    /// Every byte emitted by a STROBE pulse, in order.
    pub fn emitted(&self) -> Vec<u8> {
        self.state.borrow().emitted.clone()
    }
}

impl PortIo for FakeLpt {
    fn read8(&mut self, port: u16) -> u8 {
        let state = self.state.borrow();
        match port.wrapping_sub(state.base) {
            REG_DATA => state.pins,
            REG_STATUS => STATUS_READY,
            REG_CONTROL => state.control,
            _ => panic!("parallel port at {:#x}: read of port {port:#x}", state.base),
        }
    }

    fn write8(&mut self, port: u16, value: u8) {
        let mut state = self.state.borrow_mut();
        let base = state.base;
        match port.wrapping_sub(base) {
            REG_DATA => {
                assert!(
                    state.control & CONTROL_INPUT_DIRECTION == 0,
                    "parallel port at {base:#x}: data written while the port is in input mode \
                     (control bit 5): the pins are not driven"
                );
                state.pins = value;
            }
            REG_STATUS => panic!("parallel port at {base:#x}: the status register is read-only"),
            REG_CONTROL => {
                assert!(
                    value & CONTROL_IRQ_ENABLE == 0,
                    "parallel port at {base:#x}: control {value:#04x} enables IRQ 7"
                );
                let strobe_rises =
                    value & CONTROL_STROBE != 0 && state.control & CONTROL_STROBE == 0;
                let selected = value & (CONTROL_INITIALIZE | CONTROL_SELECT_IN)
                    == CONTROL_INITIALIZE | CONTROL_SELECT_IN;
                if strobe_rises && selected {
                    let pins = state.pins;
                    state.emitted.push(pins);
                }
                state.control = value;
            }
            _ => panic!("parallel port at {base:#x}: write of {value:#04x} to port {port:#x}"),
        }
    }
}
