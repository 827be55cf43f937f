//! CFI NOR flash with the Intel/Sharp command set, byte-wide: the chips QEMU's `pflash_cfi01`
//! emulates, behind the `embedded-storage` `NorFlash` traits (blocking and async).
//!
//! The driver reads the chip's geometry with a CFI query instead of hard-coding it, erases
//! blocks, programs bytes through the chip's write buffer (or one at a time when it has none),
//! polls the status register with timeouts taken from the CFI table, and turns every error bit
//! into a typed [`FlashError`]. It is generic over a [`FlashBus`] (byte reads and writes at chip
//! offsets): [`MappedFlash`] on the board, the rule-checking `FakeCfiFlash` in host tests.
//!
//! Sources:
//! - JEDEC JESD68.01 "Common Flash Interface" and Intel AP-646 "Common Flash Interface (CFI) and
//!   Command Sets": the query command (0x98 at address 0x55), the "QRY" table and its offsets.
//! - Intel StrataFlash (28F128J3) datasheet, "Command Definitions" and "Status Register": read
//!   array 0xFF, read status 0x70, clear status 0x50, block erase 0x20/0xD0, program 0x40,
//!   write to buffer 0xE8/count/data/0xD0, lock-bit commands 0x60/0xD0|0x01; SR.7 ready, SR.5
//!   erase error, SR.4 program error (SR.4 + SR.5: improper command sequence), SR.3 Vpp low,
//!   SR.1 block locked.
//! - QEMU 7.2 `hw/block/pflash_cfi01.c` (what the board really runs): in command mode every read
//!   returns the status register, for the whole chip; the CFI table is addressed by the low 8
//!   offset bits; the pc machine's units are byte-wide with 4 KiB blocks and a 256-byte write
//!   buffer (`cfi_table[0x2A] = 8`); a program stores the value as given (it does not AND it
//!   with the old contents as a real chip does), so this driver programs `old & new` itself;
//!   clear status (0x50) zeroes the whole register, SR.7 included, until the next operation.
//!   Debian's QEMU 7.2.9 carries the upstream write-buffer rework: the buffer line is the count
//!   write's address aligned to 256, data outside it sets SR.4, and a failed confirm drops the
//!   chip to read-array mode (so the driver asks for the status before polling). Verified on a
//!   QEMU board: geometry, erase, buffered program and read back of a 256 KiB module.
//!
//! Timeouts are counted in the delay provider's microseconds, so a poll loop waits at least as
//! long as the CFI maximum before it gives up (time spent reading the status is extra).

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Command: return to read-array mode.
pub const CMD_READ_ARRAY: u8 = 0xFF;
/// Command: reads return the status register.
pub const CMD_READ_STATUS: u8 = 0x70;
/// Command: clear the status register's error bits.
pub const CMD_CLEAR_STATUS: u8 = 0x50;
/// Command: CFI query mode (written at [`CFI_QUERY_ADDRESS`]).
pub const CMD_CFI_QUERY: u8 = 0x98;
/// Command: block erase setup (at an address in the block), followed by [`CMD_CONFIRM`].
pub const CMD_BLOCK_ERASE: u8 = 0x20;
/// Command: byte program setup; the next write is the data, at its address.
pub const CMD_PROGRAM: u8 = 0x40;
/// Command: write to buffer; then the byte count minus one, the data, and [`CMD_CONFIRM`].
pub const CMD_WRITE_TO_BUFFER: u8 = 0xE8;
/// Command: lock-bit setup; [`CMD_CONFIRM`] then clears the block's lock bit.
pub const CMD_LOCK_SETUP: u8 = 0x60;
/// Command: confirms a block erase, a buffered write or a block unlock.
pub const CMD_CONFIRM: u8 = 0xD0;

/// Where the query command is written (byte-wide devices; JESD68.01).
pub const CFI_QUERY_ADDRESS: u32 = 0x55;
/// Query table: "QRY" at 0x10..0x13.
pub const CFI_SIGNATURE: u32 = 0x10;
/// Query table: primary command set, u16 LE.
pub const CFI_PRIMARY_COMMAND_SET: u32 = 0x13;
/// Query table: typical byte/word program time, 2^n µs.
pub const CFI_TYPICAL_PROGRAM: u32 = 0x1F;
/// Query table: typical buffer write time, 2^n µs (0: no buffer).
pub const CFI_TYPICAL_BUFFER: u32 = 0x20;
/// Query table: typical block erase time, 2^n ms.
pub const CFI_TYPICAL_ERASE: u32 = 0x21;
/// Query table: maximum byte/word program time, 2^n times typical.
pub const CFI_MAX_PROGRAM: u32 = 0x23;
/// Query table: maximum buffer write time, 2^n times typical.
pub const CFI_MAX_BUFFER: u32 = 0x24;
/// Query table: maximum block erase time, 2^n times typical.
pub const CFI_MAX_ERASE: u32 = 0x25;
/// Query table: device size, 2^n bytes.
pub const CFI_DEVICE_SIZE: u32 = 0x27;
/// Query table: device interface code, u16 LE (0: x8 only, 2: x8/x16).
pub const CFI_INTERFACE: u32 = 0x28;
/// Query table: maximum bytes in a buffered write, 2^n, u16 LE.
pub const CFI_BUFFER_SIZE: u32 = 0x2A;
/// Query table: number of erase block regions.
pub const CFI_REGION_COUNT: u32 = 0x2C;
/// Query table: the first erase block region (4 bytes each: blocks - 1 u16 LE, then block size /
/// 256 u16 LE, 0 meaning 128 bytes).
pub const CFI_REGIONS: u32 = 0x2D;

/// Bytes of the query table read (the low 8 address bits select a table byte).
const CFI_TABLE_WINDOW: usize = 256;

/// Primary command set 0x0001: Intel/Sharp extended.
pub const COMMAND_SET_INTEL_EXTENDED: u16 = 0x0001;
/// Primary command set 0x0003: Intel standard.
pub const COMMAND_SET_INTEL_STANDARD: u16 = 0x0003;
/// Interface code: x8 only.
pub const INTERFACE_X8: u16 = 0x0000;
/// Interface code: x8/x16 (byte mode usable).
pub const INTERFACE_X8_X16: u16 = 0x0002;

/// Status bit 7: the write state machine is ready (not busy).
pub const STATUS_READY: u8 = 1 << 7;
/// Status bit 5: erase failed (with bit 4: improper command sequence).
pub const STATUS_ERASE_ERROR: u8 = 1 << 5;
/// Status bit 4: program failed (with bit 5: improper command sequence).
pub const STATUS_PROGRAM_ERROR: u8 = 1 << 4;
/// Status bit 3: programming voltage too low.
pub const STATUS_VPP_LOW: u8 = 1 << 3;
/// Status bit 1: the operation hit a locked block.
pub const STATUS_BLOCK_LOCKED: u8 = 1 << 1;
/// Every error bit.
pub const STATUS_ERRORS: u8 =
    STATUS_ERASE_ERROR | STATUS_PROGRAM_ERROR | STATUS_VPP_LOW | STATUS_BLOCK_LOCKED;

/// The most bytes one buffered write carries: the count is written as one byte on a byte-wide
/// bus (QEMU keeps only the bus width's bits of it).
pub const MAX_BUFFER_BYTES: u32 = 256;
/// The value of an erased byte.
pub const ERASED: u8 = 0xFF;

/// Typical byte program time used when the CFI table says 0 (not given), µs.
const DEFAULT_PROGRAM_TIMEOUT_US: u32 = 1_000;
/// Buffered write time used when the CFI table gives none, µs.
const DEFAULT_BUFFER_TIMEOUT_US: u32 = 10_000;
/// Block erase time used when the CFI table gives none, µs.
const DEFAULT_ERASE_TIMEOUT_US: u32 = 10_000_000;
/// Shortest poll interval, µs.
const MIN_POLL_US: u32 = 1;
/// Longest poll interval, µs.
const MAX_POLL_US: u32 = 10_000;
/// Largest exponent accepted for a 2^n field (keeps shifts in range).
const MAX_EXPONENT: u8 = 31;

/// Byte access to a flash chip at offsets from its first byte.
///
/// In read-array mode a read returns the byte stored there; in command mode (after any command
/// other than read array) every read returns the status register, for the whole chip.
pub trait FlashBus {
    /// Reads the byte at `offset`.
    fn read8(&mut self, offset: u32) -> u8;
    /// Writes `value` at `offset` (a command, or the data of a program command).
    fn write8(&mut self, offset: u32, value: u8);
    /// Reads `bytes.len()` bytes from `offset` (read-array mode). The driver checks the range.
    fn read_into(&mut self, offset: u32, bytes: &mut [u8]) {
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = self.read8(offset.wrapping_add(index as u32));
        }
    }
}

/// A mutable borrow of a bus is a bus.
impl<T: FlashBus + ?Sized> FlashBus for &mut T {
    fn read8(&mut self, offset: u32) -> u8 {
        T::read8(self, offset)
    }

    fn write8(&mut self, offset: u32, value: u8) {
        T::write8(self, offset, value)
    }

    fn read_into(&mut self, offset: u32, bytes: &mut [u8]) {
        T::read_into(self, offset, bytes)
    }
}

/// A flash chip mapped into the physical address space (the board's pflash units).
#[derive(Debug)]
pub struct MappedFlash {
    /// Address of the chip's first byte.
    base: usize,
    /// Bytes mapped.
    size: u32,
}

impl MappedFlash {
    /// The chip mapped at `base..base + size`.
    ///
    /// # Safety
    ///
    /// `base..base + size` must be the chip's MMIO window (identity-mapped, reachable at CPL 0),
    /// and nothing else may access it while this value exists: a write puts the whole chip in
    /// command mode, where reads (including instruction fetches) return the status register.
    #[allow(unsafe_code)]
    pub const unsafe fn new(base: usize, size: u32) -> Self {
        Self { base, size }
    }

    /// The window's first address.
    pub const fn base(&self) -> usize {
        self.base
    }

    /// The window's size in bytes.
    pub const fn size(&self) -> u32 {
        self.size
    }
}

#[allow(unsafe_code)]
impl FlashBus for MappedFlash {
    /// Offsets outside the window read as erased.
    #[inline]
    fn read8(&mut self, offset: u32) -> u8 {
        if offset >= self.size {
            return ERASED;
        }
        // SAFETY: `offset < size`, so the address lies in the chip's window, which
        // `MappedFlash::new`'s contract makes valid, exclusively ours and free of Rust objects;
        // volatile because a read's value depends on the chip's mode.
        unsafe { core::ptr::read_volatile((self.base + offset as usize) as *const u8) }
    }

    /// Offsets outside the window are ignored.
    #[inline]
    fn write8(&mut self, offset: u32, value: u8) {
        if offset >= self.size {
            return;
        }
        // SAFETY: as for `read8`; a write to the window reaches the chip's command decoder and
        // never RAM, so it cannot change any Rust-visible memory.
        unsafe { core::ptr::write_volatile((self.base + offset as usize) as *mut u8, value) }
    }
}

/// What the chip's CFI table says, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CfiGeometry {
    /// Primary command set ([`COMMAND_SET_INTEL_EXTENDED`] or [`COMMAND_SET_INTEL_STANDARD`]).
    pub command_set: u16,
    /// Chip size in bytes.
    pub size_bytes: u32,
    /// Erase block size in bytes (uniform over the chip).
    pub block_bytes: u32,
    /// Number of erase blocks.
    pub blocks: u32,
    /// Bytes one buffered write may carry (1: the chip has no write buffer), at most
    /// [`MAX_BUFFER_BYTES`].
    pub buffer_bytes: u32,
    /// Longest a byte program may take, µs (CFI maximum).
    pub program_timeout_us: u32,
    /// Longest a buffered write may take, µs.
    pub buffer_timeout_us: u32,
    /// Longest a block erase may take, µs.
    pub erase_timeout_us: u32,
}

impl CfiGeometry {
    /// Parses the query table through `read` (which returns the byte at a query offset) and checks
    /// it: the "QRY" signature, an Intel command set, a byte-wide interface, a size of at most
    /// 2 GiB, and erase regions that cover the chip with one block size.
    pub fn parse(mut read: impl FnMut(u32) -> u8) -> Result<Self, FlashError> {
        let mut table = [0u8; CFI_TABLE_WINDOW];
        for (offset, byte) in table.iter_mut().enumerate() {
            *byte = read(offset as u32);
        }
        let byte = |offset: u32| table[offset as usize];
        let read_u16 = |offset: u32| u16::from_le_bytes([byte(offset), byte(offset + 1)]);
        if table[CFI_SIGNATURE as usize..][..3] != *b"QRY" {
            return Err(FlashError::NotCfi);
        }
        let command_set = read_u16(CFI_PRIMARY_COMMAND_SET);
        if command_set != COMMAND_SET_INTEL_EXTENDED && command_set != COMMAND_SET_INTEL_STANDARD {
            return Err(FlashError::UnsupportedCommandSet(command_set));
        }
        let interface = read_u16(CFI_INTERFACE);
        if interface != INTERFACE_X8 && interface != INTERFACE_X8_X16 {
            return Err(FlashError::UnsupportedInterface(interface));
        }
        let size_exponent = byte(CFI_DEVICE_SIZE);
        if size_exponent > MAX_EXPONENT {
            return Err(FlashError::BadGeometry);
        }
        let size_bytes = 1u32 << size_exponent;
        let regions = u32::from(byte(CFI_REGION_COUNT));
        if regions == 0 || CFI_REGIONS + regions * 4 > CFI_TABLE_WINDOW as u32 {
            return Err(FlashError::BadGeometry);
        }
        let mut block_bytes = 0u32;
        let mut covered = 0u64;
        for region in 0..regions {
            let base = CFI_REGIONS + region * 4;
            let blocks = u64::from(read_u16(base)) + 1;
            let size = match read_u16(base + 2) {
                0 => 128,
                units => u32::from(units) * 256,
            };
            if block_bytes != 0 && block_bytes != size {
                return Err(FlashError::NonUniformBlocks);
            }
            block_bytes = size;
            covered += blocks * u64::from(size);
        }
        if covered != u64::from(size_bytes) || !block_bytes.is_power_of_two() {
            return Err(FlashError::BadGeometry);
        }
        let buffer_exponent = read_u16(CFI_BUFFER_SIZE);
        let buffer_bytes = match (buffer_exponent, byte(CFI_TYPICAL_BUFFER)) {
            (0, _) | (_, 0) => 1,
            (exponent, _) if exponent >= 8 => MAX_BUFFER_BYTES,
            (exponent, _) => 1 << exponent,
        };
        let timeout = |typical: u8, maximum: u8, unit_us: u32, default_us: u32| {
            if typical == 0 || typical > MAX_EXPONENT || maximum > MAX_EXPONENT {
                return default_us;
            }
            (1u64 << typical)
                .saturating_mul(1 << maximum)
                .saturating_mul(u64::from(unit_us))
                .min(u64::from(u32::MAX)) as u32
        };
        Ok(Self {
            command_set,
            size_bytes,
            block_bytes,
            blocks: size_bytes / block_bytes,
            buffer_bytes: buffer_bytes.min(block_bytes),
            program_timeout_us: timeout(
                byte(CFI_TYPICAL_PROGRAM),
                byte(CFI_MAX_PROGRAM),
                1,
                DEFAULT_PROGRAM_TIMEOUT_US,
            ),
            buffer_timeout_us: timeout(
                byte(CFI_TYPICAL_BUFFER),
                byte(CFI_MAX_BUFFER),
                1,
                DEFAULT_BUFFER_TIMEOUT_US,
            ),
            erase_timeout_us: timeout(
                byte(CFI_TYPICAL_ERASE),
                byte(CFI_MAX_ERASE),
                1_000,
                DEFAULT_ERASE_TIMEOUT_US,
            ),
        })
    }

    /// Reads and checks the geometry of the chip on `bus`: query mode, the table, read-array mode.
    /// Works at any chip offset the query address decodes (the low address bits), so it can also
    /// find a chip whose size, and so whose base, is not known yet.
    pub fn query(bus: &mut impl FlashBus, table_offset: u32) -> Result<Self, FlashError> {
        bus.write8(table_offset, CMD_READ_ARRAY);
        bus.write8(table_offset + CFI_QUERY_ADDRESS, CMD_CFI_QUERY);
        let geometry = Self::parse(|offset| bus.read8(table_offset + offset));
        bus.write8(table_offset, CMD_READ_ARRAY);
        geometry
    }
}

/// The chip operation a [`FlashError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashOperation {
    /// A block erase.
    Erase,
    /// A byte program or a buffered write.
    Program,
    /// Waiting for a free write buffer.
    BufferAvailable,
    /// Clearing a block's lock bit.
    Unlock,
}

/// Why a flash operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashError {
    /// No "QRY" in the query table: no CFI chip answers there.
    NotCfi,
    /// The chip's primary command set is not Intel/Sharp (0x0001 or 0x0003).
    UnsupportedCommandSet(u16),
    /// The chip cannot be driven byte-wide (interface code other than x8 or x8/x16).
    UnsupportedInterface(u16),
    /// The query table's size and erase regions do not describe a chip of at most 2 GiB.
    BadGeometry,
    /// The erase regions have different block sizes.
    NonUniformBlocks,
    /// The driver's erase size is not a multiple of the chip's block size, or the chip's size
    /// is not a multiple of the driver's erase size.
    EraseSizeMismatch {
        /// The chip's erase block, bytes.
        chip_block: u32,
        /// The driver's `ERASE_SIZE`.
        driver: u32,
    },
    /// An access reaches past the end of the chip.
    OutOfBounds,
    /// An erase range is not aligned to `ERASE_SIZE`, or ends before it starts.
    NotAligned,
    /// The chip stayed busy past the CFI maximum time.
    Timeout {
        /// What it was doing.
        operation: FlashOperation,
        /// The chip offset involved.
        offset: u32,
    },
    /// The status register reported a failed operation.
    Failed {
        /// What failed.
        operation: FlashOperation,
        /// The chip offset involved.
        offset: u32,
        /// The status register (its error bits say why).
        status: u8,
    },
    /// The operation reported success but the flash does not hold what it should.
    VerifyFailed {
        /// What was checked.
        operation: FlashOperation,
        /// The first offset that differs.
        offset: u32,
    },
}

impl fmt::Display for FlashError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotCfi => write!(formatter, "no CFI flash answers the query"),
            Self::UnsupportedCommandSet(set) => {
                write!(formatter, "CFI command set {set:#06x} is not Intel/Sharp")
            }
            Self::UnsupportedInterface(code) => {
                write!(
                    formatter,
                    "CFI interface {code:#06x} cannot be driven byte-wide"
                )
            }
            Self::BadGeometry => write!(formatter, "the CFI geometry is inconsistent"),
            Self::NonUniformBlocks => write!(formatter, "the chip's erase blocks differ in size"),
            Self::EraseSizeMismatch { chip_block, driver } => write!(
                formatter,
                "erase size {driver} does not fit the chip's {chip_block}-byte blocks"
            ),
            Self::OutOfBounds => write!(formatter, "access past the end of the flash"),
            Self::NotAligned => write!(formatter, "erase range not aligned to the erase size"),
            Self::Timeout { operation, offset } => {
                write!(formatter, "{operation:?} at {offset:#x} timed out")
            }
            Self::Failed {
                operation,
                offset,
                status,
            } => write!(
                formatter,
                "{operation:?} at {offset:#x} failed (status {status:#04x}{})",
                status_reason(status)
            ),
            Self::VerifyFailed { operation, offset } => {
                write!(formatter, "{operation:?} did not take at {offset:#x}")
            }
        }
    }
}

/// The status register's error bits in words.
fn status_reason(status: u8) -> &'static str {
    if status & (STATUS_ERASE_ERROR | STATUS_PROGRAM_ERROR)
        == STATUS_ERASE_ERROR | STATUS_PROGRAM_ERROR
    {
        ": improper command sequence"
    } else if status & STATUS_BLOCK_LOCKED != 0 {
        ": block locked"
    } else if status & STATUS_VPP_LOW != 0 {
        ": programming voltage low"
    } else if status & STATUS_ERASE_ERROR != 0 {
        ": erase error"
    } else if status & STATUS_PROGRAM_ERROR != 0 {
        ": program error"
    } else {
        ""
    }
}

impl core::error::Error for FlashError {}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// What the driver has done since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlashStats {
    /// Chip blocks erased.
    pub block_erases: u32,
    /// Program operations (buffered writes or byte programs).
    pub program_operations: u32,
    /// Bytes programmed.
    pub bytes_programmed: u32,
    /// Blocks whose lock bit was cleared.
    pub unlocks: u32,
}

/// A CFI NOR flash chip (Intel/Sharp command set) on `B`, polling with `D`, presented to
/// `embedded-storage` with erase pages of `ERASE_BYTES` (a multiple of the chip's block size).
///
/// Writes AND the new bytes into the old ones ([`MultiwriteNorFlash`]): bits only go from 1 to
/// 0, as on a real chip, also on QEMU's model, which would otherwise store the value as given.
/// Every operation ends with the chip back in read-array mode, checked and verified.
#[derive(Debug)]
pub struct CfiFlash<B, D, const ERASE_BYTES: usize> {
    /// The chip.
    bus: B,
    /// Delays between status polls.
    delay: D,
    /// What the query found.
    geometry: CfiGeometry,
    /// Counters.
    stats: FlashStats,
    /// A timed-out operation that may still be running (checked before the next access).
    pending: Option<(FlashOperation, u32)>,
}

impl<B: FlashBus, D: DelayNs, const ERASE_BYTES: usize> CfiFlash<B, D, ERASE_BYTES> {
    /// Queries the chip on `bus` (put in read-array mode first, with its status cleared) and
    /// checks that `ERASE_BYTES` is a multiple of its block size and divides its size.
    pub fn new(mut bus: B, delay: D) -> Result<Self, FlashError> {
        bus.write8(0, CMD_READ_ARRAY);
        bus.write8(0, CMD_CLEAR_STATUS);
        let geometry = CfiGeometry::query(&mut bus, 0)?;
        let driver = u32::try_from(ERASE_BYTES).unwrap_or(0);
        if driver == 0 || driver % geometry.block_bytes != 0 || geometry.size_bytes % driver != 0 {
            return Err(FlashError::EraseSizeMismatch {
                chip_block: geometry.block_bytes,
                driver,
            });
        }
        Ok(Self {
            bus,
            delay,
            geometry,
            stats: FlashStats::default(),
            pending: None,
        })
    }

    /// The chip's geometry.
    pub const fn geometry(&self) -> &CfiGeometry {
        &self.geometry
    }

    /// What the driver has done so far.
    pub const fn stats(&self) -> FlashStats {
        self.stats
    }

    /// Gives the bus and the delay back.
    pub fn release(self) -> (B, D) {
        (self.bus, self.delay)
    }

    /// Checks that `offset..offset + len` lies in the chip; returns its end.
    fn check_range(&self, offset: u32, len: usize) -> Result<u32, FlashError> {
        u32::try_from(len)
            .ok()
            .and_then(|len| offset.checked_add(len))
            .filter(|end| *end <= self.geometry.size_bytes)
            .ok_or(FlashError::OutOfBounds)
    }

    /// If an earlier operation timed out, checks the chip once more (it is still in command mode,
    /// so a read returns the status) and, once it is ready, clears the status and puts it back in
    /// read-array mode.
    fn settle(&mut self) -> Result<(), FlashError> {
        let Some((operation, offset)) = self.pending else {
            return Ok(());
        };
        if self.bus.read8(offset) & STATUS_READY == 0 {
            return Err(FlashError::Timeout { operation, offset });
        }
        self.pending = None;
        self.bus.write8(offset, CMD_CLEAR_STATUS);
        self.bus.write8(offset, CMD_READ_ARRAY);
        Ok(())
    }

    /// Polls the status register at `offset` until SR.7 says ready, for at least `timeout_us`,
    /// and returns the final status. It asks for the status first (read status is accepted while
    /// the chip is busy): QEMU drops to read-array mode when a buffered write fails, where a read
    /// would return data instead.
    fn wait_ready(
        &mut self,
        operation: FlashOperation,
        offset: u32,
        timeout_us: u32,
    ) -> Result<u8, FlashError> {
        let interval = (timeout_us / 64).clamp(MIN_POLL_US, MAX_POLL_US);
        let mut waited = 0u32;
        self.bus.write8(offset, CMD_READ_STATUS);
        loop {
            let status = self.bus.read8(offset);
            if status & STATUS_READY != 0 {
                return Ok(status);
            }
            if waited >= timeout_us {
                self.pending = Some((operation, offset));
                return Err(FlashError::Timeout { operation, offset });
            }
            self.delay.delay_us(interval);
            waited = waited.saturating_add(interval);
        }
    }

    /// Ends an operation whose final status is `status`: clears the status register if it shows
    /// an error, and returns the chip to read-array mode.
    fn finish(
        &mut self,
        operation: FlashOperation,
        offset: u32,
        status: u8,
    ) -> Result<(), FlashError> {
        if status & STATUS_ERRORS != 0 {
            self.bus.write8(offset, CMD_CLEAR_STATUS);
            self.bus.write8(offset, CMD_READ_ARRAY);
            return Err(FlashError::Failed {
                operation,
                offset,
                status,
            });
        }
        self.bus.write8(offset, CMD_READ_ARRAY);
        Ok(())
    }

    /// Runs `operation` once; if the chip says the block is locked, clears the block's lock bit
    /// and runs it again.
    fn with_unlock(
        &mut self,
        block: u32,
        mut operation: impl FnMut(&mut Self) -> Result<(), FlashError>,
    ) -> Result<(), FlashError> {
        match operation(self) {
            Err(FlashError::Failed { status, .. }) if status & STATUS_BLOCK_LOCKED != 0 => {
                self.unlock_block(block)?;
                operation(self)
            }
            result => result,
        }
    }

    /// Clears the lock bit of the chip block at `block` (lock-bit setup, confirm).
    pub fn unlock_block(&mut self, block: u32) -> Result<(), FlashError> {
        self.settle()?;
        self.bus.write8(block, CMD_LOCK_SETUP);
        self.bus.write8(block, CMD_CONFIRM);
        let status = self.wait_ready(
            FlashOperation::Unlock,
            block,
            self.geometry.erase_timeout_us,
        )?;
        self.finish(FlashOperation::Unlock, block, status)?;
        self.stats.unlocks = self.stats.unlocks.saturating_add(1);
        Ok(())
    }

    /// Erases the chip block at `block` (block erase, confirm) and checks that it reads erased.
    fn erase_block(&mut self, block: u32) -> Result<(), FlashError> {
        self.with_unlock(block, |flash| {
            flash.bus.write8(block, CMD_BLOCK_ERASE);
            flash.bus.write8(block, CMD_CONFIRM);
            let status = flash.wait_ready(
                FlashOperation::Erase,
                block,
                flash.geometry.erase_timeout_us,
            )?;
            flash.finish(FlashOperation::Erase, block, status)
        })?;
        self.stats.block_erases = self.stats.block_erases.saturating_add(1);
        let mut chunk = [0u8; 64];
        let mut offset = block;
        let end = block + self.geometry.block_bytes;
        while offset < end {
            self.bus.read_into(offset, &mut chunk);
            if let Some(index) = chunk.iter().position(|byte| *byte != ERASED) {
                return Err(FlashError::VerifyFailed {
                    operation: FlashOperation::Erase,
                    offset: offset + index as u32,
                });
            }
            offset += chunk.len() as u32;
        }
        Ok(())
    }

    /// Programs `data` at `offset`: one buffered write (the span lies in one write-buffer line),
    /// or byte programs when the chip has no buffer.
    fn program_span(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let block = offset & !(self.geometry.block_bytes - 1);
        self.with_unlock(block, |flash| {
            if flash.geometry.buffer_bytes > 1 {
                flash.buffered_write(offset, data)
            } else {
                for (index, byte) in data.iter().enumerate() {
                    let address = offset + index as u32;
                    flash.bus.write8(address, CMD_PROGRAM);
                    flash.bus.write8(address, *byte);
                    let status = flash.wait_ready(
                        FlashOperation::Program,
                        address,
                        flash.geometry.program_timeout_us,
                    )?;
                    flash.finish(FlashOperation::Program, address, status)?;
                }
                Ok(())
            }
        })?;
        self.stats.program_operations = self.stats.program_operations.saturating_add(1);
        self.stats.bytes_programmed = self
            .stats
            .bytes_programmed
            .saturating_add(data.len() as u32);
        Ok(())
    }

    /// One write-to-buffer sequence: request the buffer (until the extended status says it is
    /// free), the count minus one, the data, confirm, then wait for the write. Every command goes
    /// to the span's first address, which lies in the block (Intel: "a block address") and in the
    /// write-buffer line: QEMU 7.2.9 takes the line from the count's address and refuses data
    /// outside it.
    fn buffered_write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let timeout = self.geometry.buffer_timeout_us;
        let mut waited = 0u32;
        loop {
            self.bus.write8(offset, CMD_WRITE_TO_BUFFER);
            if self.bus.read8(offset) & STATUS_READY != 0 {
                break;
            }
            if waited >= timeout {
                self.pending = Some((FlashOperation::BufferAvailable, offset));
                return Err(FlashError::Timeout {
                    operation: FlashOperation::BufferAvailable,
                    offset,
                });
            }
            self.delay.delay_us(MIN_POLL_US);
            waited = waited.saturating_add(MIN_POLL_US);
        }
        // `data` is 1..=MAX_BUFFER_BYTES long (checked by the caller), so the count fits a byte.
        self.bus.write8(offset, (data.len() - 1) as u8);
        for (index, byte) in data.iter().enumerate() {
            self.bus.write8(offset + index as u32, *byte);
        }
        self.bus.write8(offset, CMD_CONFIRM);
        let status = self.wait_ready(FlashOperation::Program, offset, timeout)?;
        self.finish(FlashOperation::Program, offset, status)
    }

    /// Reads `bytes.len()` bytes at `offset`.
    pub fn read_bytes(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        self.check_range(offset, bytes.len())?;
        self.settle()?;
        self.bus.read_into(offset, bytes);
        Ok(())
    }

    /// Erases `from..to`, which must be aligned to `ERASE_BYTES`.
    pub fn erase_range(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        let erase_bytes = ERASE_BYTES as u32;
        if from > to || !from.is_multiple_of(erase_bytes) || !to.is_multiple_of(erase_bytes) {
            return Err(FlashError::NotAligned);
        }
        if to > self.geometry.size_bytes {
            return Err(FlashError::OutOfBounds);
        }
        self.settle()?;
        let mut block = from;
        while block < to {
            self.erase_block(block)?;
            block += self.geometry.block_bytes;
        }
        Ok(())
    }

    /// Writes `bytes` at `offset`, ANDed into what the flash holds (bits only go 1 -> 0), line by
    /// line of the write buffer, programming only the bytes that change, and verifies the result.
    pub fn write_bytes(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let end = self.check_range(offset, bytes.len())?;
        self.settle()?;
        // Without a write buffer, bytes are still grouped (and programmed one by one) per line.
        let line_bytes = match self.geometry.buffer_bytes {
            0 | 1 => MAX_BUFFER_BYTES,
            bytes => bytes,
        };
        let mut start = offset;
        while start < end {
            let line_end = (start - start % line_bytes)
                .saturating_add(line_bytes)
                .min(end);
            let len = (line_end - start) as usize;
            let source = &bytes[(start - offset) as usize..][..len];
            let mut wanted = [0u8; MAX_BUFFER_BYTES as usize];
            let wanted = &mut wanted[..len];
            self.bus.read_into(start, wanted);
            let mut changed = None::<(usize, usize)>;
            for (index, (old, new)) in wanted.iter_mut().zip(source).enumerate() {
                let value = *old & *new;
                if value != *old {
                    *old = value;
                    changed = Some((changed.map_or(index, |(first, _)| first), index));
                }
            }
            if let Some((first, last)) = changed {
                self.program_span(start + first as u32, &wanted[first..=last])?;
                let mut check = [0u8; MAX_BUFFER_BYTES as usize];
                let check = &mut check[..len];
                self.bus.read_into(start, check);
                if let Some(index) = check.iter().zip(wanted.iter()).position(|(a, b)| a != b) {
                    return Err(FlashError::VerifyFailed {
                        operation: FlashOperation::Program,
                        offset: start + index as u32,
                    });
                }
            }
            start = line_end;
        }
        Ok(())
    }
}

impl<B, D, const ERASE_BYTES: usize> ErrorType for CfiFlash<B, D, ERASE_BYTES> {
    type Error = FlashError;
}

impl<B: FlashBus, D: DelayNs, const ERASE_BYTES: usize> ReadNorFlash
    for CfiFlash<B, D, ERASE_BYTES>
{
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.read_bytes(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.geometry.size_bytes as usize
    }
}

impl<B: FlashBus, D: DelayNs, const ERASE_BYTES: usize> NorFlash for CfiFlash<B, D, ERASE_BYTES> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = ERASE_BYTES;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.erase_range(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.write_bytes(offset, bytes)
    }
}

/// Writes AND into the old contents, so a byte may be written again as long as bits only clear.
impl<B: FlashBus, D: DelayNs, const ERASE_BYTES: usize> MultiwriteNorFlash
    for CfiFlash<B, D, ERASE_BYTES>
{
}

/// The async traits do the same work as the blocking ones: a memory-mapped NOR chip answers at
/// once, and the waits are status polls.
impl<B: FlashBus, D: DelayNs, const ERASE_BYTES: usize>
    embedded_storage_async::nor_flash::ReadNorFlash for CfiFlash<B, D, ERASE_BYTES>
{
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.read_bytes(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.geometry.size_bytes as usize
    }
}

impl<B: FlashBus, D: DelayNs, const ERASE_BYTES: usize> embedded_storage_async::nor_flash::NorFlash
    for CfiFlash<B, D, ERASE_BYTES>
{
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = ERASE_BYTES;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.erase_range(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.write_bytes(offset, bytes)
    }
}

impl<B: FlashBus, D: DelayNs, const ERASE_BYTES: usize>
    embedded_storage_async::nor_flash::MultiwriteNorFlash for CfiFlash<B, D, ERASE_BYTES>
{
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeCfiFlash;
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    /// 2 MiB: the store unit the host tool creates.
    const UNIT_BYTES: u32 = 2 * 1024 * 1024;

    /// A delay that only counts the time asked for.
    #[derive(Debug, Default)]
    struct CountingDelay {
        total_ns: u64,
        calls: u32,
    }

    impl DelayNs for CountingDelay {
        fn delay_ns(&mut self, ns: u32) {
            self.total_ns += u64::from(ns);
            self.calls += 1;
        }
    }

    type Flash = CfiFlash<FakeCfiFlash, CountingDelay, 4096>;

    fn qemu_unit() -> (FakeCfiFlash, Flash) {
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        let flash = Flash::new(fake.clone(), CountingDelay::default()).unwrap();
        (fake, flash)
    }

    /// Proves that the geometry comes from the CFI table: QEMU's pc unit of 2 MiB reads as 512
    /// blocks of 4 KiB with a 256-byte buffer and the table's maximum times, and the chip is left
    /// in read-array mode.
    #[test]
    fn geometry_of_a_qemu_pc_unit() {
        let (fake, flash) = qemu_unit();
        assert_eq!(
            *flash.geometry(),
            CfiGeometry {
                command_set: COMMAND_SET_INTEL_EXTENDED,
                size_bytes: UNIT_BYTES,
                block_bytes: 4096,
                blocks: 512,
                buffer_bytes: 256,
                program_timeout_us: 128 * 16,
                buffer_timeout_us: 128 * 16,
                erase_timeout_us: 1024 * 1000 * 16,
            }
        );
        assert_eq!(ReadNorFlash::capacity(&flash), UNIT_BYTES as usize);
        assert!(fake.in_read_array_mode());
        assert_eq!(
            fake.commands(),
            [
                CMD_READ_ARRAY,
                CMD_CLEAR_STATUS,
                CMD_READ_ARRAY,
                CMD_CFI_QUERY,
                CMD_READ_ARRAY
            ]
        );
    }

    /// Proves that another geometry is read, not assumed (128 KiB blocks, 32-byte buffer), that a
    /// driver's erase size may span several chip blocks, and that one smaller than a chip block is
    /// refused.
    #[test]
    fn other_geometries_and_erase_sizes() {
        let fake = FakeCfiFlash::with_geometry(1 << 20, 128 * 1024, 32);
        let flash =
            CfiFlash::<_, _, { 128 * 1024 }>::new(fake.clone(), CountingDelay::default()).unwrap();
        assert_eq!(flash.geometry().blocks, 8);
        assert_eq!(flash.geometry().buffer_bytes, 32);
        assert_eq!(
            CfiFlash::<_, _, 4096>::new(fake, CountingDelay::default()).unwrap_err(),
            FlashError::EraseSizeMismatch {
                chip_block: 128 * 1024,
                driver: 4096
            }
        );
        let fake = FakeCfiFlash::qemu(64 * 1024);
        let mut flash =
            CfiFlash::<_, _, 8192>::new(fake.clone(), CountingDelay::default()).unwrap();
        flash.write_bytes(0, &[0; 16]).unwrap();
        flash.write_bytes(4096, &[0; 16]).unwrap();
        NorFlash::erase(&mut flash, 0, 8192).unwrap();
        assert_eq!(fake.erase_counts()[..3], [1, 1, 0]);
        assert!(fake.memory()[..8192].iter().all(|byte| *byte == ERASED));
    }

    /// Proves that each kind of unusable query table gets its own error.
    #[test]
    fn unusable_query_tables_are_refused() {
        let new = |fake: FakeCfiFlash| Flash::new(fake, CountingDelay::default()).unwrap_err();
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_cfi_byte(0x12, b'X');
        assert_eq!(new(fake), FlashError::NotCfi);
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_cfi_byte(0x13, 0x02); // AMD/Fujitsu
        assert_eq!(new(fake), FlashError::UnsupportedCommandSet(0x0002));
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_cfi_byte(0x28, 0x01); // x16 only
        assert_eq!(new(fake), FlashError::UnsupportedInterface(0x0001));
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_cfi_byte(0x2C, 2); // a second region of 8 KiB blocks
        fake.set_cfi_byte(0x33, 0x20);
        assert_eq!(new(fake), FlashError::NonUniformBlocks);
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_cfi_byte(0x2D, 0x00); // 257 blocks do not make 2 MiB
        assert_eq!(new(fake), FlashError::BadGeometry);
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_cfi_byte(0x27, 40); // 2^40 bytes
        assert_eq!(new(fake), FlashError::BadGeometry);
        let fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_cfi_byte(0x2C, 0);
        assert_eq!(new(fake), FlashError::BadGeometry);
    }

    /// Proves that a write across write-buffer lines is split into one buffered write per line
    /// (the fake panics on a write crossing a line), reads back exactly, and leaves the chip in
    /// read-array mode.
    #[test]
    fn writes_split_at_buffer_lines_and_read_back() {
        let (fake, mut flash) = qemu_unit();
        let data: Vec<u8> = (0..600u32).map(|index| (index * 7 + 3) as u8).collect();
        NorFlash::write(&mut flash, 250, &data).unwrap();
        // 250..256, 256..512, 512..768, 768..850: four lines.
        assert_eq!(fake.program_operations(), 4);
        assert_eq!(flash.stats().program_operations, 4);
        assert_eq!(flash.stats().bytes_programmed, 600);
        let mut back = vec![0; 600];
        ReadNorFlash::read(&mut flash, 250, &mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(fake.memory()[249], ERASED);
        assert_eq!(fake.memory()[850], ERASED);
        assert!(fake.in_read_array_mode());
    }

    /// Proves the multiwrite semantics: a second write ANDs into the first (as on a real chip,
    /// where QEMU would store it as given), bytes that would not change are not programmed, and
    /// 0xFF over programmed bytes leaves them alone.
    #[test]
    fn writes_and_into_the_old_contents() {
        let (fake, mut flash) = qemu_unit();
        flash.write_bytes(10, &[0xF0, 0x3C]).unwrap();
        flash.write_bytes(10, &[0x0F, 0xFF]).unwrap();
        assert_eq!(fake.memory()[10..12], [0x00, 0x3C]);
        let operations = fake.program_operations();
        flash.write_bytes(10, &[0xFF, 0xFF, 0xFF]).unwrap();
        flash.write_bytes(11, &[0x3C]).unwrap();
        assert_eq!(fake.program_operations(), operations);
        assert_eq!(fake.memory()[10..13], [0x00, 0x3C, 0xFF]);
    }

    /// Proves erase: only whole, aligned pages inside the chip, every chip block in the range
    /// erased and verified, counted.
    #[test]
    fn erase_checks_its_range_and_erases_whole_blocks() {
        let (fake, mut flash) = qemu_unit();
        flash.write_bytes(4096, &[0; 4096 * 2]).unwrap();
        NorFlash::erase(&mut flash, 4096, 3 * 4096).unwrap();
        assert!(fake.memory().iter().all(|byte| *byte == ERASED));
        assert_eq!(fake.erase_counts()[..4], [0, 1, 1, 0]);
        assert_eq!(flash.stats().block_erases, 2);
        assert_eq!(
            NorFlash::erase(&mut flash, 1, 4096),
            Err(FlashError::NotAligned)
        );
        assert_eq!(
            NorFlash::erase(&mut flash, 8192, 4096),
            Err(FlashError::NotAligned)
        );
        assert_eq!(
            NorFlash::erase(&mut flash, 0, UNIT_BYTES + 4096),
            Err(FlashError::OutOfBounds)
        );
        assert_eq!(
            NorFlash::erase(&mut flash, 4096, 4096 + 2048)
                .unwrap_err()
                .kind(),
            NorFlashErrorKind::NotAligned
        );
    }

    /// Proves that every range from outside is checked with checked arithmetic: past the end,
    /// and offsets whose end wraps past 4 GiB.
    #[test]
    fn out_of_range_accesses_are_refused() {
        let (_fake, mut flash) = qemu_unit();
        let mut byte = [0u8; 2];
        assert_eq!(
            flash.read_bytes(UNIT_BYTES - 1, &mut byte),
            Err(FlashError::OutOfBounds)
        );
        assert_eq!(
            flash.read_bytes(u32::MAX, &mut byte),
            Err(FlashError::OutOfBounds)
        );
        assert_eq!(
            flash.write_bytes(u32::MAX - 1, &[0; 4]),
            Err(FlashError::OutOfBounds)
        );
        assert_eq!(
            flash.write_bytes(UNIT_BYTES, &[0]).unwrap_err().kind(),
            NorFlashErrorKind::OutOfBounds
        );
        flash.read_bytes(UNIT_BYTES - 2, &mut byte).unwrap();
        flash.read_bytes(UNIT_BYTES, &mut []).unwrap();
    }

    /// Proves that a busy chip is polled (with delays between polls) until SR.7, and that no
    /// command reaches it while it is busy (the fake panics on one).
    #[test]
    fn busy_chip_is_polled_until_ready() {
        let (fake, mut flash) = qemu_unit();
        fake.set_busy_polls(5);
        flash.write_bytes(0, &[1, 2, 3]).unwrap();
        NorFlash::erase(&mut flash, 4096, 8192).unwrap();
        assert_eq!(fake.memory()[..3], [1, 2, 3]);
        assert!(fake.status_reads() >= 12);
        let (_, delay) = flash.release();
        assert_eq!(delay.calls, 10);
    }

    /// Proves the timeout: a chip that never finishes gives `Timeout` after at least the CFI
    /// maximum erase time; accesses keep failing while it is busy, and work again (status cleared,
    /// read-array mode) once it finishes.
    #[test]
    fn stuck_chip_times_out_and_recovers() {
        let (fake, mut flash) = qemu_unit();
        fake.set_hang(true);
        let error = NorFlash::erase(&mut flash, 0, 4096).unwrap_err();
        assert_eq!(
            error,
            FlashError::Timeout {
                operation: FlashOperation::Erase,
                offset: 0
            }
        );
        let timeout_ns = u64::from(flash.geometry().erase_timeout_us) * 1000;
        let mut byte = [0u8];
        assert!(matches!(
            flash.read_bytes(0, &mut byte),
            Err(FlashError::Timeout { .. })
        ));
        fake.set_hang(false);
        flash.read_bytes(0, &mut byte).unwrap();
        assert_eq!(byte, [ERASED]);
        assert!(fake.in_read_array_mode());
        flash.write_bytes(0, &[0x42]).unwrap();
        assert_eq!(fake.memory()[0], 0x42);
        let (_, delay) = flash.release();
        assert!(delay.total_ns >= timeout_ns);
    }

    /// Proves that the error bits become typed errors (QEMU's read-only drive: SR.5 on erase,
    /// SR.4 on program), that the status is cleared after one, and the chip returns to read-array
    /// mode with its contents unchanged.
    #[test]
    fn status_errors_are_typed_and_cleared() {
        let (fake, mut flash) = qemu_unit();
        flash.write_bytes(0, &[0x11]).unwrap();
        fake.set_read_only(true);
        let erase = NorFlash::erase(&mut flash, 0, 4096).unwrap_err();
        assert!(matches!(
            erase,
            FlashError::Failed { operation: FlashOperation::Erase, offset: 0, status }
                if status & STATUS_ERASE_ERROR != 0
        ));
        let program = flash.write_bytes(8, &[0x22]).unwrap_err();
        assert!(matches!(
            program,
            FlashError::Failed { operation: FlashOperation::Program, offset: 8, status }
                if status & STATUS_PROGRAM_ERROR != 0
        ));
        assert!(fake.in_read_array_mode());
        assert_eq!(
            fake.memory()[..9],
            [0x11, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert!(
            fake.commands()
                .ends_with(&[CMD_CLEAR_STATUS, CMD_READ_ARRAY])
        );
        fake.set_read_only(false);
        flash.write_bytes(8, &[0x22]).unwrap();
        assert_eq!(fake.memory()[8], 0x22);
        assert!(erase.to_string().contains("erase error"), "{erase}");
    }

    /// Proves that a locked block is unlocked (lock-bit setup, confirm) and the operation retried
    /// once, for programs and erases.
    #[test]
    fn locked_blocks_are_unlocked_and_retried() {
        let (fake, mut flash) = qemu_unit();
        fake.lock_block(8192);
        flash.write_bytes(8192 + 5, &[0x5A]).unwrap();
        assert!(!fake.is_locked(8192));
        assert_eq!(fake.memory()[8192 + 5], 0x5A);
        fake.lock_block(8192);
        NorFlash::erase(&mut flash, 8192, 12288).unwrap();
        assert_eq!(fake.memory()[8192 + 5], ERASED);
        assert_eq!(flash.stats().unlocks, 2);
    }

    /// Proves that a chip without a write buffer is programmed byte by byte (program setup, data)
    /// and only where bytes change.
    #[test]
    fn chip_without_buffer_uses_byte_programs() {
        let fake = FakeCfiFlash::with_geometry(64 * 1024, 4096, 1);
        let mut flash = Flash::new(fake.clone(), CountingDelay::default()).unwrap();
        assert_eq!(flash.geometry().buffer_bytes, 1);
        flash.write_bytes(100, &[1, 0xFF, 3, 4]).unwrap();
        assert_eq!(fake.memory()[100..104], [1, 0xFF, 3, 4]);
        // Bytes 100..=103 are one span; 101 stays erased but is inside it.
        assert_eq!(fake.program_operations(), 4);
        assert!(!fake.commands().contains(&CMD_WRITE_TO_BUFFER));
    }

    /// Proves that the async traits do what the blocking ones do.
    #[test]
    fn async_traits_forward() {
        use embedded_storage_async::nor_flash::{
            NorFlash as AsyncNorFlash, ReadNorFlash as AsyncRead,
        };
        let (fake, mut flash) = qemu_unit();
        embassy_futures::block_on(async {
            AsyncNorFlash::write(&mut flash, 4096, &[9, 8, 7])
                .await
                .unwrap();
            let mut back = [0; 3];
            AsyncRead::read(&mut flash, 4096, &mut back).await.unwrap();
            assert_eq!(back, [9, 8, 7]);
            AsyncNorFlash::erase(&mut flash, 4096, 8192).await.unwrap();
        });
        assert_eq!(fake.memory()[4096], ERASED);
    }

    /// Proves that the fake enforces "bits only go 1 -> 0".
    #[test]
    #[should_panic(expected = "bits only go 1 -> 0")]
    fn fake_rejects_programming_a_one_over_a_zero() {
        let mut fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.write8(0, CMD_PROGRAM);
        fake.write8(0, 0x00);
        fake.write8(0, CMD_READ_ARRAY);
        fake.write8(0, CMD_PROGRAM);
        fake.write8(0, 0x01);
    }

    /// Proves that the fake enforces "erase setup and confirm in the same block".
    #[test]
    #[should_panic(expected = "outside the block")]
    fn fake_rejects_erase_confirm_in_another_block() {
        let mut fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.write8(0, CMD_BLOCK_ERASE);
        fake.write8(4096, CMD_CONFIRM);
    }

    /// Proves that the fake enforces "no command while busy".
    #[test]
    #[should_panic(expected = "while the chip is busy")]
    fn fake_rejects_commands_while_busy() {
        let mut fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_busy_polls(3);
        fake.write8(0, CMD_BLOCK_ERASE);
        fake.write8(0, CMD_CONFIRM);
        fake.write8(0, CMD_READ_ARRAY);
    }

    /// Proves that the fake enforces "buffered data stays in one write-buffer line".
    #[test]
    #[should_panic(expected = "outside the write-buffer line")]
    fn fake_rejects_buffered_data_across_lines() {
        let mut fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.write8(0, CMD_WRITE_TO_BUFFER);
        fake.write8(0, 1);
        fake.write8(255, 0);
        fake.write8(256, 0);
    }

    /// Proves that the fake enforces QEMU 7.2.9's rule that the count's address picks the line:
    /// a count at the block's start and data 256 bytes further is refused (the bug the driver had
    /// before it was run on a QEMU board: QEMU set SR.4 and dropped to read-array mode).
    #[test]
    #[should_panic(expected = "outside the write-buffer line 0x1000")]
    fn fake_rejects_data_outside_the_count_line() {
        let mut fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.write8(4096, CMD_WRITE_TO_BUFFER);
        fake.write8(4096, 0);
        fake.write8(4096 + 256, 0);
    }

    /// Proves that the fake answers reads with the status register in command mode, anywhere on
    /// the chip, and only commits buffered data at the confirm.
    #[test]
    fn fake_reads_status_in_command_mode() {
        let mut fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.set_memory(100, &[0x12]);
        fake.write8(0, CMD_READ_STATUS);
        assert_eq!(fake.read8(100), STATUS_READY);
        assert_eq!(fake.read8(UNIT_BYTES - 1), STATUS_READY);
        fake.write8(0, CMD_WRITE_TO_BUFFER);
        fake.write8(0, 0);
        fake.write8(7, 0x00);
        assert_eq!(fake.memory()[7], ERASED);
        fake.write8(0, CMD_CONFIRM);
        assert_eq!(fake.memory()[7], 0x00);
        fake.write8(0, CMD_READ_ARRAY);
        assert_eq!(fake.read8(100), 0x12);
    }

    /// Proves that the fake refuses unknown commands.
    #[test]
    #[should_panic(expected = "unknown command")]
    fn fake_rejects_unknown_commands() {
        let mut fake = FakeCfiFlash::qemu(UNIT_BYTES);
        fake.write8(0, 0x42);
    }
}
