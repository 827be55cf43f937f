//! A RAM NOR flash that can lose power in the middle of any write or erase, for power-cut tests.
//!
//! It follows NOR rules: an erase sets a page to 0xFF, a write ANDs bytes in (bits only go
//! 1 -> 0, [`MultiwriteNorFlash`]). [`PowerCutFlash::cut_after`] arms a cut: the write or erase
//! that reaches it is left half done and every later access fails with [`FakeFlashError::PowerCut`]
//! until [`PowerCutFlash::power_on`].
//!
//! What a cut leaves, chosen at random:
//! - a write: a prefix of the bytes written, the next byte torn (a random subset of the bits it
//!   was clearing cleared), the rest untouched;
//! - an erase: nothing erased, all of it, a prefix of the page, or every byte with a random set of
//!   its bits raised (an erase stopped half way).

use alloc::vec;
use alloc::vec::Vec;

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Why a fake flash access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeFlashError {
    /// The power is off (a cut happened and the flash has not been powered on since).
    PowerCut,
    /// The access reaches past the end.
    OutOfBounds,
    /// The erase range is not page-aligned.
    NotAligned,
}

impl NorFlashError for FakeFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FakeFlashError::PowerCut => NorFlashErrorKind::Other,
            FakeFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FakeFlashError::NotAligned => NorFlashErrorKind::NotAligned,
        }
    }
}

/// Counters of what the flash has been through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeFlashStats {
    /// Writes and erases completed or cut.
    pub operations: u64,
    /// Page erases completed.
    pub page_erases: u64,
    /// Power cuts.
    pub cuts: u64,
    /// Writes that asked to raise a bit (which NOR cannot do; the bit stays 0).
    pub writes_raising_bits: u64,
}

/// A RAM NOR flash of `PAGE`-byte erase pages that can lose power. Cloning copies the contents.
#[derive(Debug, Clone)]
pub struct PowerCutFlash<const PAGE: usize> {
    memory: Vec<u8>,
    /// Writes and erases left before the cut, if one is armed.
    countdown: Option<u64>,
    powered: bool,
    random: fastrand::Rng,
    stats: FakeFlashStats,
}

impl<const PAGE: usize> PowerCutFlash<PAGE> {
    /// An erased flash of `pages` pages; `seed` drives what cuts leave behind.
    pub fn new(pages: usize, seed: u64) -> Self {
        Self {
            memory: vec![0xFF; pages * PAGE],
            countdown: None,
            powered: true,
            random: fastrand::Rng::with_seed(seed),
            stats: FakeFlashStats::default(),
        }
    }

    /// Arms a cut: the `operations`-th write or erase from now (0: the next one) is left half
    /// done, and the power goes off.
    pub fn cut_after(&mut self, operations: u64) {
        self.countdown = Some(operations);
    }

    /// Disarms a cut that has not happened.
    pub fn disarm(&mut self) {
        self.countdown = None;
    }

    /// Powers the flash on again after a cut.
    pub fn power_on(&mut self) {
        self.powered = true;
        self.countdown = None;
    }

    /// Whether the power is off.
    pub fn is_cut(&self) -> bool {
        !self.powered
    }

    /// The counters.
    pub fn stats(&self) -> FakeFlashStats {
        self.stats
    }

    /// The contents.
    pub fn memory(&self) -> &[u8] {
        &self.memory
    }

    /// Uses `seed` from now on for what cuts leave behind.
    pub fn reseed(&mut self, seed: u64) {
        self.random = fastrand::Rng::with_seed(seed);
    }

    /// Counts one write or erase; returns `true` if the cut happens on it.
    fn cut_now(&mut self) -> Result<bool, FakeFlashError> {
        if !self.powered {
            return Err(FakeFlashError::PowerCut);
        }
        self.stats.operations += 1;
        match self.countdown {
            Some(0) => {
                self.countdown = None;
                self.powered = false;
                self.stats.cuts += 1;
                Ok(true)
            }
            Some(left) => {
                self.countdown = Some(left - 1);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    fn range(&self, offset: u32, len: usize) -> Result<core::ops::Range<usize>, FakeFlashError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(FakeFlashError::OutOfBounds)?;
        if end > self.memory.len() {
            return Err(FakeFlashError::OutOfBounds);
        }
        Ok(start..end)
    }
}

impl<const PAGE: usize> ErrorType for PowerCutFlash<PAGE> {
    type Error = FakeFlashError;
}

impl<const PAGE: usize> ReadNorFlash for PowerCutFlash<PAGE> {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if !self.powered {
            return Err(FakeFlashError::PowerCut);
        }
        let range = self.range(offset, bytes.len())?;
        bytes.copy_from_slice(&self.memory[range]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.memory.len()
    }
}

impl<const PAGE: usize> NorFlash for PowerCutFlash<PAGE> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = PAGE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if from > to || !(from as usize).is_multiple_of(PAGE) || !(to as usize).is_multiple_of(PAGE)
        {
            return Err(FakeFlashError::NotAligned);
        }
        self.range(from, (to - from) as usize)?;
        for page in (from as usize..to as usize).step_by(PAGE) {
            let cut = self.cut_now()?;
            let bytes = &mut self.memory[page..page + PAGE];
            if !cut {
                bytes.fill(0xFF);
                self.stats.page_erases += 1;
                continue;
            }
            match self.random.u8(0..4) {
                0 => {}
                1 => bytes.fill(0xFF),
                2 => {
                    let erased = self.random.usize(0..PAGE);
                    bytes[..erased].fill(0xFF);
                }
                _ => {
                    for byte in bytes.iter_mut() {
                        *byte |= self.random.u8(..);
                    }
                }
            }
            return Err(FakeFlashError::PowerCut);
        }
        Ok(())
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let range = self.range(offset, bytes.len())?;
        let cut = self.cut_now()?;
        let target = &mut self.memory[range];
        if target.iter().zip(bytes).any(|(old, new)| !*old & *new != 0) {
            self.stats.writes_raising_bits += 1;
        }
        if !cut {
            for (old, new) in target.iter_mut().zip(bytes) {
                *old &= *new;
            }
            return Ok(());
        }
        let done = self.random.usize(0..=bytes.len());
        for (old, new) in target.iter_mut().zip(bytes).take(done) {
            *old &= *new;
        }
        if let (Some(old), Some(new)) = (target.get_mut(done), bytes.get(done)) {
            let clearing = *old & !*new;
            *old &= !(clearing & self.random.u8(..));
        }
        Err(FakeFlashError::PowerCut)
    }
}

impl<const PAGE: usize> MultiwriteNorFlash for PowerCutFlash<PAGE> {}
