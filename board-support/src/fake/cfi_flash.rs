//! A fake byte-wide CFI NOR flash with the Intel/Sharp command set, shaped like the pflash units of
//! QEMU's pc machine (`hw/block/pflash_cfi01.c`, `hw/i386/pc_sysfw.c`: 4 KiB blocks, a 256-byte
//! write buffer, the same CFI table), that panics, with the rule in the message, when a driver
//! breaks one of the chip's rules:
//!
//! - in read-array mode every write is a command, and only known commands are accepted;
//! - a block erase is 0x20 then 0xD0 at the same block;
//! - bits only go from 1 to 0: programming a 1 over a 0 needs an erase first;
//! - no command but read status (0x70) while the write state machine is busy;
//! - a buffered write is 0xE8, the count minus one (at most the buffer size) in the same block,
//!   exactly that many data writes inside the write-buffer line of the count's address (QEMU
//!   7.2.9's rule), then 0xD0; the data reaches the array only at the confirm, as on a real chip;
//! - lock-bit setup 0x60 is followed by 0xD0 (clear) or 0x01 (set).
//!
//! As on the chip, every read in command mode returns the status register, wherever it reads.
//! Errors the chip itself reports are modelled, not panics: a locked block or a read-only drive
//! (QEMU's `readonly=on`) sets SR.4/SR.5 (and SR.1 for a lock). Clear status zeroes the register,
//! SR.7 included, as QEMU does. Tests can make the chip stay busy for a number of status polls
//! after each operation, or hang in its next operation until released.

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::cfi_flash::*;

/// The command 0x01: set a block's lock bit (after [`CMD_LOCK_SETUP`]).
const CMD_LOCK_CONFIRM: u8 = 0x01;
/// The alternate byte program command.
const CMD_PROGRAM_ALTERNATE: u8 = 0x10;
/// Read identifier codes.
const CMD_READ_IDENTIFIER: u8 = 0x90;
/// QEMU's pc pflash block size.
pub const QEMU_BLOCK_BYTES: u32 = 4096;
/// Size of QEMU's CFI table.
const CFI_TABLE_BYTES: usize = 0x52;

/// What the chip does with the next write (and what reads return).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Reads return the array; writes are commands.
    ReadArray,
    /// Reads return the status; writes are commands.
    Status,
    /// Reads return the CFI table; writes are commands.
    Query,
    /// Reads return identifier codes (0 here); writes are commands.
    Identifier,
    /// The next write is the byte to program.
    ProgramSetup,
    /// The next write must be the confirm for this block.
    EraseSetup { block: u32 },
    /// The next write is the byte count minus one, in this block; its address picks the line.
    BufferCount { block: u32 },
    /// Data writes of a buffered write, in the write-buffer line the count's address lies in.
    BufferData {
        block: u32,
        count: u32,
        written: u32,
        line: u32,
    },
    /// The next write must be the confirm of the buffered write.
    BufferConfirm { block: u32 },
    /// The next write is 0xD0 (clear) or 0x01 (set) for this block's lock bit.
    LockSetup { block: u32 },
}

#[derive(Debug)]
struct State {
    memory: Vec<u8>,
    block_bytes: u32,
    buffer_bytes: u32,
    cfi: [u8; CFI_TABLE_BYTES],
    mode: Mode,
    status: u8,
    locked: Vec<bool>,
    read_only: bool,
    busy_polls_per_operation: u32,
    busy_remaining: u32,
    hang: bool,
    stuck_busy: bool,
    pending_buffer: Vec<(u32, u8)>,
    erase_counts: Vec<u32>,
    program_operations: u32,
    status_reads: u32,
    commands: Vec<u8>,
}

/// A fake CFI flash. Clones share the chip.
#[derive(Clone, Debug)]
pub struct FakeCfiFlash {
    state: Rc<RefCell<State>>,
}

impl FakeCfiFlash {
    /// A chip of `size` bytes (a multiple of 4 KiB) with QEMU's pc geometry: 4 KiB blocks, a
    /// 256-byte write buffer, erased.
    pub fn qemu(size: u32) -> Self {
        Self::with_geometry(size, QEMU_BLOCK_BYTES, MAX_BUFFER_BYTES)
    }

    /// A chip of `size` bytes in blocks of `block_bytes` with a write buffer of `buffer_bytes`
    /// (a power of two; 1 for none), erased. The CFI table is QEMU's, with these values.
    pub fn with_geometry(size: u32, block_bytes: u32, buffer_bytes: u32) -> Self {
        assert!(size.is_power_of_two() && block_bytes.is_power_of_two() && size >= block_bytes);
        let blocks = size / block_bytes;
        let mut cfi = [0u8; CFI_TABLE_BYTES];
        cfi[0x10..0x13].copy_from_slice(b"QRY");
        cfi[0x13] = 0x01; // Intel/Sharp extended command set
        cfi[0x15] = 0x31; // primary extended table address
        cfi[0x1B] = 0x45;
        cfi[0x1C] = 0x55;
        cfi[0x1F] = 0x07; // typical byte program 128 us
        cfi[0x20] = if buffer_bytes > 1 { 0x07 } else { 0 }; // typical buffer write 128 us
        cfi[0x21] = 0x0A; // typical block erase 1024 ms
        cfi[0x23] = 0x04; // maxima: 16 x typical
        cfi[0x24] = 0x04;
        cfi[0x25] = 0x04;
        cfi[0x27] = size.trailing_zeros() as u8;
        cfi[0x28] = 0x02; // x8/x16
        cfi[0x2A] = buffer_bytes.trailing_zeros() as u8;
        cfi[0x2C] = 0x01; // one erase block region
        cfi[0x2D..0x2F].copy_from_slice(&((blocks - 1) as u16).to_le_bytes());
        cfi[0x2F..0x31].copy_from_slice(&((block_bytes / 256) as u16).to_le_bytes());
        cfi[0x31..0x34].copy_from_slice(b"PRI");
        Self {
            state: Rc::new(RefCell::new(State {
                memory: vec![ERASED; size as usize],
                block_bytes,
                buffer_bytes,
                cfi,
                mode: Mode::ReadArray,
                status: STATUS_READY,
                locked: vec![false; blocks as usize],
                read_only: false,
                busy_polls_per_operation: 0,
                busy_remaining: 0,
                hang: false,
                stuck_busy: false,
                pending_buffer: Vec::new(),
                erase_counts: vec![0; blocks as usize],
                program_operations: 0,
                status_reads: 0,
                commands: Vec::new(),
            })),
        }
    }

    /// Changes byte `offset` of the CFI table (to describe other chips).
    pub fn set_cfi_byte(&self, offset: usize, value: u8) {
        self.state.borrow_mut().cfi[offset] = value;
    }

    /// Every operation keeps the chip busy for `polls` status reads before SR.7 is set.
    pub fn set_busy_polls(&self, polls: u32) {
        self.state.borrow_mut().busy_polls_per_operation = polls;
    }

    /// The next operations never finish (`true`), until this is called with `false`, which
    /// finishes the one that hangs.
    pub fn set_hang(&self, hang: bool) {
        let mut state = self.state.borrow_mut();
        state.hang = hang;
        if !hang {
            state.stuck_busy = false;
        }
    }

    /// Programs and erases fail as on QEMU's read-only drive (SR.4 or SR.5 set, array unchanged).
    pub fn set_read_only(&self, read_only: bool) {
        self.state.borrow_mut().read_only = read_only;
    }

    /// Sets the lock bit of the block holding `offset`.
    pub fn lock_block(&self, offset: u32) {
        let mut state = self.state.borrow_mut();
        let block = (offset / state.block_bytes) as usize;
        state.locked[block] = true;
    }

    /// Whether the block holding `offset` is locked.
    pub fn is_locked(&self, offset: u32) -> bool {
        let state = self.state.borrow();
        state.locked[(offset / state.block_bytes) as usize]
    }

    /// The array's contents (what read-array mode returns).
    pub fn memory(&self) -> Vec<u8> {
        self.state.borrow().memory.clone()
    }

    /// Overwrites the array directly (a pre-filled image).
    pub fn set_memory(&self, offset: u32, bytes: &[u8]) {
        let mut state = self.state.borrow_mut();
        state.memory[offset as usize..][..bytes.len()].copy_from_slice(bytes);
    }

    /// How often each block has been erased.
    pub fn erase_counts(&self) -> Vec<u32> {
        self.state.borrow().erase_counts.clone()
    }

    /// Program operations completed (one per byte program or buffered write).
    pub fn program_operations(&self) -> u32 {
        self.state.borrow().program_operations
    }

    /// Status register reads so far.
    pub fn status_reads(&self) -> u32 {
        self.state.borrow().status_reads
    }

    /// Every command byte written in read-array or command mode, in order (data and counts are
    /// not commands).
    pub fn commands(&self) -> Vec<u8> {
        self.state.borrow().commands.clone()
    }

    /// Whether the chip is in read-array mode.
    pub fn in_read_array_mode(&self) -> bool {
        self.state.borrow().mode == Mode::ReadArray
    }
}

impl State {
    fn block_of(&self, offset: u32) -> u32 {
        offset - offset % self.block_bytes
    }

    fn busy(&self) -> bool {
        self.stuck_busy || self.busy_remaining > 0
    }

    /// An operation ends: SR.7 after the busy period, the given error bits.
    fn complete(&mut self, error_bits: u8) {
        self.status |= STATUS_READY | error_bits;
        self.busy_remaining = self.busy_polls_per_operation;
        self.stuck_busy = self.hang;
        self.mode = Mode::Status;
    }

    fn locked(&self, offset: u32) -> bool {
        self.locked[(offset / self.block_bytes) as usize]
    }

    fn check_program(&self, offset: u32, value: u8) {
        let old = self.memory[offset as usize];
        assert!(
            old & value == value,
            "flash: bits only go 1 -> 0: programming {value:#04x} over {old:#04x} at {offset:#x} \
             needs an erase first"
        );
    }

    fn command(&mut self, offset: u32, value: u8) {
        self.commands.push(value);
        self.mode = match value {
            CMD_READ_ARRAY => Mode::ReadArray,
            CMD_READ_STATUS => Mode::Status,
            CMD_CLEAR_STATUS => {
                self.status = 0;
                Mode::ReadArray
            }
            CMD_CFI_QUERY => Mode::Query,
            CMD_READ_IDENTIFIER => Mode::Identifier,
            CMD_PROGRAM | CMD_PROGRAM_ALTERNATE => Mode::ProgramSetup,
            CMD_BLOCK_ERASE => Mode::EraseSetup {
                block: self.block_of(offset),
            },
            CMD_WRITE_TO_BUFFER => {
                // The buffer is free (no operation runs): XSR.7 reads as set.
                self.status |= STATUS_READY;
                Mode::BufferCount {
                    block: self.block_of(offset),
                }
            }
            CMD_LOCK_SETUP => Mode::LockSetup {
                block: self.block_of(offset),
            },
            _ => panic!(
                "flash: unknown command {value:#04x} at {offset:#x}: in read-array and status mode \
                 every write is a command"
            ),
        };
    }

    fn write(&mut self, offset: u32, value: u8) {
        assert!(
            (offset as usize) < self.memory.len(),
            "flash: write of {value:#04x} past the chip's end at {offset:#x}"
        );
        let status_request = value == CMD_READ_STATUS
            && matches!(self.mode, Mode::Status | Mode::ReadArray | Mode::Query);
        assert!(
            !self.busy() || status_request,
            "flash: {value:#04x} written at {offset:#x} while the chip is busy: poll the status \
             register until SR.7 is set"
        );
        match self.mode {
            Mode::ReadArray | Mode::Status | Mode::Query | Mode::Identifier => {
                self.command(offset, value)
            }
            Mode::ProgramSetup => {
                self.check_program(offset, value);
                let errors = if self.locked(offset) {
                    STATUS_PROGRAM_ERROR | STATUS_BLOCK_LOCKED
                } else if self.read_only {
                    STATUS_PROGRAM_ERROR
                } else {
                    self.memory[offset as usize] = value;
                    self.program_operations += 1;
                    0
                };
                self.complete(errors);
            }
            Mode::EraseSetup { block } => {
                self.commands.push(value);
                match value {
                    CMD_CONFIRM => {
                        assert_eq!(
                            self.block_of(offset),
                            block,
                            "flash: erase confirmed at {offset:#x}, outside the block {block:#x} \
                             the erase was set up for"
                        );
                        let errors = if self.locked(block) {
                            STATUS_ERASE_ERROR | STATUS_BLOCK_LOCKED
                        } else if self.read_only {
                            STATUS_ERASE_ERROR
                        } else {
                            let start = block as usize;
                            let end = start + self.block_bytes as usize;
                            self.memory[start..end].fill(ERASED);
                            self.erase_counts[(block / self.block_bytes) as usize] += 1;
                            0
                        };
                        self.complete(errors);
                    }
                    CMD_READ_ARRAY => self.mode = Mode::ReadArray,
                    _ => panic!(
                        "flash: block erase setup must be followed by confirm 0xd0, got {value:#04x}"
                    ),
                }
            }
            Mode::BufferCount { block } => {
                assert_eq!(
                    self.block_of(offset),
                    block,
                    "flash: buffer count written at {offset:#x}, outside the block {block:#x}"
                );
                let count = u32::from(value) + 1;
                assert!(
                    count <= self.buffer_bytes,
                    "flash: buffered write of {count} bytes, but the buffer holds {}",
                    self.buffer_bytes
                );
                self.pending_buffer.clear();
                self.mode = Mode::BufferData {
                    block,
                    count,
                    written: 0,
                    line: offset - offset % self.buffer_bytes,
                };
            }
            Mode::BufferData {
                block,
                count,
                written,
                line,
            } => {
                let line_start = offset - offset % self.buffer_bytes;
                assert!(
                    self.block_of(offset) == block && line_start == line,
                    "flash: buffered data at {offset:#x} is outside the write-buffer line {line:#x} \
                     of the count's address (or the block {block:#x})"
                );
                assert!(
                    self.pending_buffer
                        .iter()
                        .all(|(address, _)| *address != offset),
                    "flash: buffered write loads {offset:#x} twice"
                );
                self.check_program(offset, value);
                self.pending_buffer.push((offset, value));
                let written = written + 1;
                self.mode = if written == count {
                    Mode::BufferConfirm { block }
                } else {
                    Mode::BufferData {
                        block,
                        count,
                        written,
                        line,
                    }
                };
            }
            Mode::BufferConfirm { block } => {
                assert_eq!(
                    value, CMD_CONFIRM,
                    "flash: a buffered write must end with confirm 0xd0 after its data"
                );
                self.commands.push(value);
                let errors = if self.locked(block) {
                    STATUS_PROGRAM_ERROR | STATUS_BLOCK_LOCKED
                } else if self.read_only {
                    STATUS_PROGRAM_ERROR
                } else {
                    for (address, byte) in core::mem::take(&mut self.pending_buffer) {
                        self.memory[address as usize] &= byte;
                    }
                    self.program_operations += 1;
                    0
                };
                self.complete(errors);
            }
            Mode::LockSetup { block } => {
                self.commands.push(value);
                let index = (block / self.block_bytes) as usize;
                match value {
                    CMD_CONFIRM => self.locked[index] = false,
                    CMD_LOCK_CONFIRM => self.locked[index] = true,
                    _ => panic!(
                        "flash: lock-bit setup must be followed by 0xd0 or 0x01, got {value:#04x}"
                    ),
                }
                self.complete(0);
            }
        }
    }

    fn read(&mut self, offset: u32) -> u8 {
        let Some(index) = usize::try_from(offset)
            .ok()
            .filter(|index| *index < self.memory.len())
        else {
            panic!("flash: read past the chip's end at {offset:#x}");
        };
        match self.mode {
            Mode::ReadArray => self.memory[index],
            Mode::Query => self.cfi.get(index & 0xFF).copied().unwrap_or(0),
            Mode::Identifier => 0,
            _ => {
                self.status_reads += 1;
                if self.stuck_busy {
                    return self.status & !STATUS_READY;
                }
                if self.busy_remaining > 0 {
                    self.busy_remaining -= 1;
                    return self.status & !STATUS_READY;
                }
                self.status
            }
        }
    }
}

impl FlashBus for FakeCfiFlash {
    fn read8(&mut self, offset: u32) -> u8 {
        self.state.borrow_mut().read(offset)
    }

    fn write8(&mut self, offset: u32, value: u8) {
        self.state.borrow_mut().write(offset, value)
    }
}
