//! A fake MC146818 CMOS (ports 0x70/0x71) with 128 bytes of NVRAM. Panics when a driver reads the
//! write-only index port, accesses the data port without selecting a register first, or selects
//! twice without a data access in between (OSDev "CMOS": the RTC can be left in an undefined
//! state).

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::cmos::*;
use crate::port::PortIo;

/// Number of CMOS registers.
const CMOS_SIZE: usize = 128;

#[derive(Debug)]
struct State {
    ram: [u8; CMOS_SIZE],
    selected: Option<u8>,
    index_writes: Vec<u8>,
}

/// A fake CMOS. Clones share the chip.
#[derive(Clone, Debug)]
pub struct FakeCmos {
    state: Rc<RefCell<State>>,
}

impl Default for FakeCmos {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCmos {
    /// A CMOS with all registers 0.
    pub fn new() -> Self {
        Self {
            state: Rc::new(RefCell::new(State {
                ram: [0; CMOS_SIZE],
                selected: None,
                index_writes: Vec::new(),
            })),
        }
    }

    /// A CMOS with the memory registers filled as QEMU's `pc_cmos_init` does for `ram_bytes` of RAM
    /// below 4 GiB: 0x30/0x31 = KiB above 1 MiB capped at 65535, 0x34/0x35 = 64 KiB blocks above
    /// 16 MiB capped at 65535.
    pub fn with_qemu_memory(ram_bytes: u32) -> Self {
        let extended_kib = (ram_bytes.saturating_sub(1 << 20) / 1024).min(0xFFFF);
        let blocks = (ram_bytes.saturating_sub(16 << 20) / (64 * 1024)).min(0xFFFF);
        Self::with_memory_registers(extended_kib as u16, blocks as u16)
    }

    /// A CMOS with the memory registers filled as Bochs's `bx_devices_c::init` does: 0x30/0x31 =
    /// KiB above 1 MiB capped at 0xFC00 (63 MiB), 0x34/0x35 = 64 KiB blocks above 16 MiB capped at
    /// 0xBF00.
    pub fn with_bochs_memory(ram_bytes: u32) -> Self {
        let extended_kib = (ram_bytes.saturating_sub(1 << 20) / 1024).min(0xFC00);
        let blocks = (ram_bytes.saturating_sub(16 << 20) / (64 * 1024)).min(0xBF00);
        Self::with_memory_registers(extended_kib as u16, blocks as u16)
    }

    fn with_memory_registers(extended_kib: u16, blocks: u16) -> Self {
        let fake = Self::new();
        let [low, high] = extended_kib.to_le_bytes();
        fake.set_register(REG_EXTENDED_MEMORY_KIB_LOW, low);
        fake.set_register(REG_EXTENDED_MEMORY_KIB_HIGH, high);
        let [low, high] = blocks.to_le_bytes();
        fake.set_register(REG_MEMORY_ABOVE_16M_LOW, low);
        fake.set_register(REG_MEMORY_ABOVE_16M_HIGH, high);
        fake
    }

    /// Sets `register` to `value`.
    pub fn set_register(&self, register: u8, value: u8) {
        self.state.borrow_mut().ram[usize::from(register & INDEX_REGISTER_MASK)] = value;
    }

    /// The value of `register`.
    pub fn register(&self, register: u8) -> u8 {
        self.state.borrow().ram[usize::from(register & INDEX_REGISTER_MASK)]
    }

    /// Every byte written to the index port (register and NMI bit), in order.
    pub fn index_writes(&self) -> Vec<u8> {
        self.state.borrow().index_writes.clone()
    }
}

impl PortIo for FakeCmos {
    fn read8(&mut self, port: u16) -> u8 {
        let mut state = self.state.borrow_mut();
        match port {
            CMOS_INDEX_PORT => panic!("CMOS: port 0x70 is write-only"),
            CMOS_DATA_PORT => {
                let Some(register) = state.selected.take() else {
                    panic!("CMOS: port 0x71 read without selecting a register on port 0x70 first");
                };
                state.ram[usize::from(register)]
            }
            _ => panic!("CMOS: read of port {port:#x}"),
        }
    }

    fn write8(&mut self, port: u16, value: u8) {
        let mut state = self.state.borrow_mut();
        match port {
            CMOS_INDEX_PORT => {
                assert!(
                    state.selected.is_none(),
                    "CMOS: register selected twice without a data access on port 0x71 in between"
                );
                state.selected = Some(value & INDEX_REGISTER_MASK);
                state.index_writes.push(value);
            }
            CMOS_DATA_PORT => {
                let Some(register) = state.selected.take() else {
                    panic!(
                        "CMOS: port 0x71 written without selecting a register on port 0x70 first"
                    );
                };
                state.ram[usize::from(register)] = value;
            }
            _ => panic!("CMOS: write of {value:#04x} to port {port:#x}"),
        }
    }
}
