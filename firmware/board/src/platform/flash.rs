//! The plugin store's flash chip: QEMU's pflash unit 1, mapped just below the firmware's chip
//! (unit 0, 4 MiB at `0xFFC00000`), found by a CFI query rather than assumed.
//!
//! QEMU maps its pflash units downwards from 4 GiB (`hw/i386/pc_sysfw.c`), so unit 1 ends at
//! `0xFFC00000`. A CFI query written into the 256 bytes below that address reaches unit 1's last
//! bytes, and the chip decodes the query table from the low address bits, so the answer gives
//! the chip's size and thus its base. Where nothing answers (Bochs maps only its 2 MiB ROM; a
//! QEMU board made before the store existed has no unit 1), reads return open-bus bytes, not
//! "QRY": the board has no store. The writes of the probe go to unmapped addresses there and are
//! dropped.

use board_support::cfi_flash::{CfiFlash, CfiGeometry, FlashError, MappedFlash};
use board_support::pit::PitDelay;
use board_support::port::X86Ports;

/// Where the firmware's own chip (pflash unit 0) begins; the store chip ends here.
const FIRMWARE_CHIP_BASE: usize = 0xFFC0_0000;
/// The window the probe queries: the last 256 bytes below the firmware's chip.
const PROBE_BYTES: u32 = 256;
/// The store's page: the erase block of QEMU's pflash (4 KiB; `CfiFlash::new` checks that it is
/// a multiple of the chip's block).
pub const STORE_PAGE_BYTES: usize = 4096;
/// The largest store chip mapped: QEMU maps at most 8 MiB of pflash, 4 of them the firmware's.
const MAX_STORE_BYTES: u32 = 4 << 20;

/// The store chip's driver.
pub type StoreFlash = CfiFlash<MappedFlash, PitDelay<X86Ports>, STORE_PAGE_BYTES>;

/// Why the board has no store chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoStoreChip {
    /// Nothing answered the CFI query below the firmware's chip (Bochs, or no pflash unit 1).
    NotFound,
    /// A chip answered, with a geometry the store cannot use.
    Unusable(FlashError),
}

/// Probes for the store chip and returns its driver, or why there is none. Call once, at boot,
/// before anything else uses the chip.
pub fn probe() -> Result<StoreFlash, NoStoreChip> {
    // SAFETY: the 256 bytes below the firmware's chip are either the last bytes of pflash unit 1
    // (MMIO, owned by nobody else) or unmapped (writes dropped, reads open bus); no Rust object
    // lives there.
    let mut window =
        unsafe { MappedFlash::new(FIRMWARE_CHIP_BASE - PROBE_BYTES as usize, PROBE_BYTES) };
    let geometry = match CfiGeometry::query(&mut window, 0) {
        Ok(geometry) => geometry,
        Err(FlashError::NotCfi) => return Err(NoStoreChip::NotFound),
        Err(other) => return Err(NoStoreChip::Unusable(other)),
    };
    if geometry.size_bytes > MAX_STORE_BYTES {
        return Err(NoStoreChip::Unusable(FlashError::BadGeometry));
    }
    let base = FIRMWARE_CHIP_BASE - geometry.size_bytes as usize;
    // SAFETY: the query says a chip of `size_bytes` ends at the firmware's chip, so the window
    // is that chip's MMIO, used only through this driver from now on.
    let chip = unsafe { MappedFlash::new(base, geometry.size_bytes) };
    // SAFETY: CPL 0; PIT channel 2 is used by the delay only while the main loop (or the boot
    // code before it) drives the flash; calibration ended before.
    let delay = PitDelay::new(unsafe { X86Ports::new() });
    CfiFlash::new(chip, delay).map_err(NoStoreChip::Unusable)
}
