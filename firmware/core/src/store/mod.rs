//! The plugin store: plugins (description, module, policy, attachments, signature) and the board's
//! public keys, kept in NOR flash across power cuts.
//!
//! It is a `sequential-storage` map (power-fail safe, wear-levelled, items CRC-checked) over any
//! flash with the `embedded-storage-async` [`MultiwriteNorFlash`] traits, driven with a
//! busy-polling `block_on`: the board's CFI driver and the host tests' RAM flash answer at once, so
//! the futures never wait. It does no I/O of its own; the board and the silicon harness give it
//! their flash. The layout of its items is in [`format`].
//!
//! Power safety, for every plugin at any cut: it is its old version or its new one, never a
//! mixture, and it is gone only once its removal's commit record has been written.
//! - A version switch writes the module's chunks into the slot's other bank first and the slot's
//!   commit record, one item, last. A cut before the record leaves the old record pointing at the
//!   old bank, untouched; after it, the new version is complete. The old bank's chunks are then
//!   overwritten with empty tombstones, so their space is reclaimed when their pages are reused.
//! - A removal writes a `Removed` record (or, when the store has no room for even that, erases the
//!   record items in place, oldest first, which needs no room), then tombstones the chunks.
//! - Opening the store tombstones every chunk no record refers to: what a cut left behind.
//!
//! The map's items must each fit in one erase page, so a module is split into chunks of about half
//! a page: a 256 KiB module on 4 KiB pages is 129 chunks.

pub mod format;
pub mod service;

#[cfg(any(test, feature = "fake"))]
pub mod fake_flash;

#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, ReadNorFlash,
};
use plugin_format::PluginDescription;
use plugin_format::plugin::MAX_MODULE_BYTES;
use plugin_format::store::{StoreInfo, StoreRefusal, StoredPluginSummary};
use sequential_storage::cache::key_pointers::HeapKeyPointers;
use sequential_storage::cache::page_states::HeapPageStates;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage};

use format::{
    BANKS, BoardKeys, KEY_BYTES, MAX_STORED_PLUGINS, PluginRecord, STORE_MAGIC, STORE_VERSION,
    SlotValue, StoreFormat, StoreKey, StoredPlugin,
};

/// Fewest pages a store spans: the map keeps one page empty to move items into.
pub const MIN_PAGES: u32 = 4;
/// Smallest chunk (pages too small for it are refused).
pub const MIN_CHUNK_BYTES: u32 = 256;
/// Largest chunk (an item's length is a u16).
pub const MAX_CHUNK_BYTES: u32 = 32 * 1024;
/// Keys whose flash locations the store caches (slots, keys, chunks of loaded modules).
const KEY_CACHE_ENTRIES: usize = 512;
/// CRC-32/ISO-HDLC, the CRC of the host link, for modules.
const MODULE_CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Why a store operation failed. `E` is the flash's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError<E> {
    /// The flash reported an error.
    Flash(E),
    /// The flash range is not page-aligned, spans fewer than [`MIN_PAGES`] pages, or its pages
    /// cannot hold a chunk of [`MIN_CHUNK_BYTES`].
    BadRange,
    /// The flash holds a store of another format version: it is left alone.
    FormatMismatch {
        /// The version found.
        version: u16,
    },
    /// The map is damaged beyond what `sequential-storage` repairs.
    Corrupted,
    /// No room: the request needs `needed` bytes, about `available` are free. Nothing changed.
    Full {
        /// Bytes needed.
        needed: u32,
        /// Bytes free (an estimate).
        available: u32,
    },
    /// The module is empty or larger than `MAX_MODULE_BYTES`.
    ModuleSize,
    /// The description and attachments do not fit in one item.
    RecordTooLarge,
    /// Every plugin slot is in use.
    TooManyPlugins,
    /// No plugin by that name is stored.
    NotStored,
    /// A stored plugin's chunks are missing or its module fails its CRC.
    Damaged,
    /// Not enough memory to read a module back.
    OutOfMemory,
    /// `sequential-storage` reported a bug in itself or in how it is used.
    Internal,
}

impl<E> StoreError<E> {
    /// The refusal the host is told.
    pub fn refusal(&self) -> StoreRefusal {
        match *self {
            StoreError::Flash(_) => StoreRefusal::Flash,
            StoreError::Full { needed, available } => StoreRefusal::Full { needed, available },
            StoreError::RecordTooLarge | StoreError::ModuleSize => StoreRefusal::RecordTooLarge,
            StoreError::TooManyPlugins => StoreRefusal::TooManyPlugins,
            StoreError::NotStored => StoreRefusal::NotStored,
            StoreError::BadRange
            | StoreError::FormatMismatch { .. }
            | StoreError::Corrupted
            | StoreError::Damaged
            | StoreError::OutOfMemory
            | StoreError::Internal => StoreRefusal::Unreadable,
        }
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for StoreError<E> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::Flash(error) => write!(formatter, "flash error: {error:?}"),
            StoreError::BadRange => write!(formatter, "the flash range cannot hold a store"),
            StoreError::FormatMismatch { version } => {
                write!(
                    formatter,
                    "the store has format version {version}, not {STORE_VERSION}"
                )
            }
            StoreError::Corrupted => write!(formatter, "the store is damaged"),
            StoreError::Damaged => write!(formatter, "a stored plugin is damaged"),
            StoreError::OutOfMemory => write!(formatter, "out of memory"),
            StoreError::Internal => write!(formatter, "internal store error"),
            other => write!(formatter, "{}", other.refusal()),
        }
    }
}

fn map_error<E>(error: sequential_storage::Error<E>) -> StoreError<E> {
    match error {
        sequential_storage::Error::Storage { value, .. } => StoreError::Flash(value),
        sequential_storage::Error::FullStorage => StoreError::Full {
            needed: 0,
            available: 0,
        },
        sequential_storage::Error::Corrupted { .. }
        | sequential_storage::Error::SerializationError(_) => StoreError::Corrupted,
        sequential_storage::Error::ItemTooBig => StoreError::RecordTooLarge,
        _ => StoreError::Internal,
    }
}

/// A flash that counts its page erases.
#[derive(Debug)]
pub struct CountingFlash<F> {
    flash: F,
    erases: u32,
}

impl<F: ErrorType> ErrorType for CountingFlash<F> {
    type Error = F::Error;
}

impl<F: ReadNorFlash> ReadNorFlash for CountingFlash<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.flash.read(offset, bytes).await
    }

    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl<F: NorFlash> NorFlash for CountingFlash<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let pages = (to.saturating_sub(from) as usize / F::ERASE_SIZE) as u32;
        self.erases = self.erases.saturating_add(pages);
        self.flash.erase(from, to).await
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.flash.write(offset, bytes).await
    }
}

impl<F: MultiwriteNorFlash> MultiwriteNorFlash for CountingFlash<F> {}

/// Page states and key locations are cached. The page-pointer cache is not: with
/// `HeapPagePointers`, sequential-storage 8.0.2 lost writes on a crowded store (a chunk written
/// while a page was migrated read back as the older item migrated beside it; found by
/// `power_cuts_on_a_crowded_store`, gone without that cache).
type StoreCache = Cache<HeapPageStates, Uncached, HeapKeyPointers<StoreKey>, StoreKey>;

/// Why a store could not be opened, with the flash given back (to retry, or to format it).
pub struct OpenFailure<F: ErrorType> {
    /// What went wrong.
    pub error: StoreError<F::Error>,
    /// The flash.
    pub flash: F,
}

impl<F: ErrorType> core::fmt::Debug for OpenFailure<F> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "OpenFailure({:?})", self.error)
    }
}

/// What opening a store found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The flash held no store: a new one was started.
    pub created: bool,
    /// Chunks no record referred to (left by a cut), now tombstoned.
    pub swept_chunks: u32,
    /// Stored plugins whose chunks are missing (they cannot be loaded; removing them frees the
    /// slot).
    pub damaged: Vec<String>,
}

/// What storing a plugin did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReport {
    /// The slot it lives in.
    pub slot: u8,
    /// Its generation in the slot.
    pub generation: u16,
    /// It replaced a stored plugin of the same name.
    pub replaced: bool,
    /// Chunks written.
    pub chunks: u16,
    /// Stale chunks that could not be tombstoned (the store had no room): the next open does it.
    pub left_for_sweep: u32,
}

/// The store's size and use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreUsage {
    /// Bytes of flash it spans.
    pub capacity_bytes: u32,
    /// Bytes its live items may use (all pages but the two the map keeps for moving items).
    pub usable_bytes: u32,
    /// Bytes its current items take, headers included.
    pub used_bytes: u32,
    /// Erase pages.
    pub pages: u32,
    /// Page erases since it was opened.
    pub erases: u32,
    /// Bytes per module chunk.
    pub chunk_bytes: u32,
}

/// The plugin store on the flash `F`.
pub struct Store<F: MultiwriteNorFlash> {
    map: MapStorage<StoreKey, CountingFlash<F>, StoreCache>,
    /// Scratch for items: one page.
    buffer: Vec<u8>,
    /// Pages and bytes.
    range: Range<u32>,
    pages: u32,
    chunk_bytes: u32,
    /// Largest item value.
    max_value_bytes: u32,
    /// Bytes per item besides its key and value.
    item_overhead: u32,
    /// Current plugins by slot.
    slots: BTreeMap<u8, PluginRecord>,
    /// Every current item and the length of its value.
    live: BTreeMap<StoreKey, u32>,
    keys: BoardKeys,
}

impl<F: MultiwriteNorFlash> Store<F> {
    /// Opens the store kept in `range` of `flash` (page-aligned), starting a new one if the range
    /// holds none, and tombstones what an interrupted operation left behind. On failure the flash
    /// comes back with the error.
    pub fn open(flash: F, range: Range<u32>) -> Result<(Self, OpenReport), OpenFailure<F>> {
        let page_bytes = F::ERASE_SIZE as u32;
        let word = F::READ_SIZE.max(F::WRITE_SIZE) as u32;
        let pages = range.end.saturating_sub(range.start) / page_bytes.max(1);
        let item_overhead =
            MapStorage::<StoreKey, CountingFlash<F>, StoreCache>::item_overhead_size();
        let max_value_bytes = page_bytes
            .saturating_sub(2 * word + item_overhead + KEY_BYTES as u32)
            .min(u32::from(u16::MAX) - KEY_BYTES as u32);
        let chunk_bytes = (page_bytes.saturating_sub(2 * word) / 2)
            .saturating_sub(item_overhead + KEY_BYTES as u32)
            .min(MAX_CHUNK_BYTES)
            & !15;
        let config = match MapConfig::<CountingFlash<F>>::try_new(range.clone()) {
            Ok(config) if pages >= MIN_PAGES && chunk_bytes >= MIN_CHUNK_BYTES => config,
            _ => {
                return Err(OpenFailure {
                    error: StoreError::BadRange,
                    flash,
                });
            }
        };
        let cache = Cache::new(
            HeapPageStates::new(pages as usize),
            Uncached,
            HeapKeyPointers::new(KEY_CACHE_ENTRIES),
        );
        let flash = CountingFlash { flash, erases: 0 };
        let mut store = Self {
            map: MapStorage::new(flash, config, cache),
            buffer: vec![0; page_bytes as usize],
            range,
            pages,
            chunk_bytes,
            max_value_bytes,
            item_overhead,
            slots: BTreeMap::new(),
            live: BTreeMap::new(),
            keys: BoardKeys::default(),
        };
        match store.load_index() {
            Ok(report) => Ok((store, report)),
            Err(error) => Err(OpenFailure {
                error,
                flash: store.into_flash(),
            }),
        }
    }

    /// Gives the flash back.
    pub fn into_flash(self) -> F {
        self.map.destroy().0.flash
    }

    /// The board's provisioned keys.
    pub fn keys(&self) -> &BoardKeys {
        &self.keys
    }

    /// The store's size and use.
    pub fn usage(&mut self) -> StoreUsage {
        StoreUsage {
            capacity_bytes: self.range.end - self.range.start,
            usable_bytes: self.usable_bytes(),
            used_bytes: self.used_bytes(),
            pages: self.pages,
            erases: self.map.flash().erases,
            chunk_bytes: self.chunk_bytes,
        }
    }

    /// `StoreInfo` for `kplug info`.
    pub fn info(&mut self) -> StoreInfo {
        let usage = self.usage();
        StoreInfo {
            capacity_bytes: usage.capacity_bytes,
            used_bytes: usage.used_bytes,
            pages: usage.pages,
            erases_since_boot: usage.erases,
            plugins: self.slots.len() as u32,
            keys: self.keys.keys.iter().map(|key| key.id()).collect(),
            key_epoch: self.keys.epoch,
        }
    }

    /// The stored plugins, by slot.
    pub fn list(&self) -> Vec<StoredPluginSummary> {
        self.slots
            .values()
            .map(|record| StoredPluginSummary {
                name: record.plugin.description.name.clone(),
                version: record.plugin.description.version.clone(),
                module_bytes: record.module_bytes,
                attachments: record.plugin.attachments.clone(),
                signed_by: record.plugin.signature.map(|signature| signature.key),
                generation: record.generation,
            })
            .collect()
    }

    /// The names of the stored plugins, by slot.
    pub fn names(&self) -> Vec<String> {
        self.slots
            .values()
            .map(|record| record.plugin.description.name.clone())
            .collect()
    }

    fn usable_bytes(&self) -> u32 {
        let word = F::READ_SIZE.max(F::WRITE_SIZE) as u32;
        self.pages
            .saturating_sub(2)
            .saturating_mul((F::ERASE_SIZE as u32).saturating_sub(2 * word))
    }

    fn item_bytes(&self, value_bytes: u32) -> u32 {
        let word = F::READ_SIZE.max(F::WRITE_SIZE) as u32;
        self.item_overhead + (KEY_BYTES as u32 + value_bytes).next_multiple_of(word)
    }

    fn used_bytes(&self) -> u32 {
        self.live.values().fold(0u32, |total, value| {
            total.saturating_add(self.item_bytes(*value))
        })
    }

    fn slot_of(&self, name: &str) -> Option<u8> {
        self.slots
            .iter()
            .find(|(_, record)| record.plugin.description.name == name)
            .map(|(slot, _)| *slot)
    }
}

impl<F: MultiwriteNorFlash> Store<F> {
    /// Reads the current item `key` as `&[u8]` into the buffer; `None` if it has none.
    fn fetch_raw(&mut self, key: StoreKey) -> Result<Option<&[u8]>, StoreError<F::Error>> {
        embassy_futures::block_on(self.map.fetch_item::<&[u8]>(&mut self.buffer, &key))
            .map_err(map_error)
    }

    /// Reads and decodes the current item `key`.
    fn fetch<V: for<'a> sequential_storage::map::Value<'a>>(
        &mut self,
        key: StoreKey,
    ) -> Result<Option<V>, StoreError<F::Error>> {
        embassy_futures::block_on(self.map.fetch_item::<V>(&mut self.buffer, &key))
            .map_err(map_error)
    }

    /// Writes `value` as the current item `key`.
    fn put_item<V: for<'a> sequential_storage::map::Value<'a>>(
        &mut self,
        key: StoreKey,
        value: &V,
    ) -> Result<(), StoreError<F::Error>> {
        let length = value
            .serialize_into(&mut self.buffer)
            .map_err(|_| StoreError::RecordTooLarge)? as u32;
        if length > self.max_value_bytes {
            return Err(StoreError::RecordTooLarge);
        }
        embassy_futures::block_on(self.map.store_item(&mut self.buffer, &key, value))
            .map_err(map_error)?;
        self.live.insert(key, length);
        Ok(())
    }

    /// Writes `bytes` as the current item `key` (a chunk, or an empty tombstone).
    fn put_raw(&mut self, key: StoreKey, bytes: &[u8]) -> Result<(), StoreError<F::Error>> {
        embassy_futures::block_on(self.map.store_item(&mut self.buffer, &key, &bytes))
            .map_err(map_error)?;
        self.live.insert(key, bytes.len() as u32);
        Ok(())
    }

    /// Tombstones every chunk of `slot` in `bank` that holds data and is not below `keep`:
    /// returns how many could not be (no room).
    fn tombstone_chunks(&mut self, slot: u8, bank: u8, keep: u16) -> u32 {
        let stale: Vec<StoreKey> = self
            .live
            .range(
                StoreKey::Chunk {
                    slot,
                    bank,
                    index: keep,
                }..=StoreKey::Chunk {
                    slot,
                    bank,
                    index: u16::MAX,
                },
            )
            .filter(|(_, length)| **length > 0)
            .map(|(key, _)| *key)
            .collect();
        let mut failed = 0;
        for key in stale {
            if self.put_raw(key, &[]).is_err() {
                failed += 1;
            }
        }
        failed
    }

    /// Builds the index: the format marker, every current key, the keys item, the slots'
    /// records; then tombstones unreferenced chunks.
    fn load_index(&mut self) -> Result<OpenReport, StoreError<F::Error>> {
        let mut report = OpenReport::default();
        let mut live = BTreeMap::new();
        {
            let mut scratch = vec![0u8; self.buffer.len()];
            let mut items = embassy_futures::block_on(self.map.fetch_all_items(&mut scratch))
                .map_err(map_error)?;
            while let Some((key, value)) =
                embassy_futures::block_on(items.next::<&[u8]>(&mut self.buffer))
                    .map_err(map_error)?
            {
                live.insert(key, value.len() as u32);
            }
        }
        self.live = live;
        match self.fetch::<StoreFormat>(StoreKey::Format)? {
            Some(format) if format.magic == STORE_MAGIC && format.version == STORE_VERSION => {}
            Some(format) => {
                return Err(StoreError::FormatMismatch {
                    version: format.version,
                });
            }
            None => {
                report.created = self.live.is_empty();
                self.put_item(
                    StoreKey::Format,
                    &StoreFormat {
                        magic: STORE_MAGIC,
                        version: STORE_VERSION,
                    },
                )?;
            }
        }
        self.keys = self.fetch::<BoardKeys>(StoreKey::Keys)?.unwrap_or_default();
        let slot_keys: Vec<u8> = self
            .live
            .keys()
            .filter_map(|key| match key {
                StoreKey::Slot(slot) => Some(*slot),
                _ => None,
            })
            .collect();
        for slot in slot_keys {
            if let Some(SlotValue::Plugin(record)) =
                self.fetch::<SlotValue>(StoreKey::Slot(slot))?
            {
                let complete = (0..record.chunks).all(|index| {
                    self.live
                        .get(&StoreKey::Chunk {
                            slot,
                            bank: record.bank,
                            index,
                        })
                        .is_some_and(|length| *length > 0)
                });
                if !complete {
                    report.damaged.push(record.plugin.description.name.clone());
                }
                self.slots.insert(slot, record);
            }
        }
        let unreferenced: Vec<StoreKey> = self
            .live
            .iter()
            .filter(|(_, length)| **length > 0)
            .filter_map(|(key, _)| match *key {
                StoreKey::Chunk { slot, bank, index } => {
                    let referenced = self
                        .slots
                        .get(&slot)
                        .is_some_and(|record| record.bank == bank && index < record.chunks);
                    (!referenced).then_some(*key)
                }
                _ => None,
            })
            .collect();
        for key in unreferenced {
            self.put_raw(key, &[])?;
            report.swept_chunks += 1;
        }
        Ok(report)
    }

    /// Stores `plugin` (its module in `plugin.description.module`), replacing a stored plugin of
    /// the same name as one atomic version switch.
    pub fn put(&mut self, plugin: &StoredPlugin) -> Result<PutReport, StoreError<F::Error>> {
        let module = &plugin.description.module;
        if module.is_empty() || module.len() > MAX_MODULE_BYTES {
            return Err(StoreError::ModuleSize);
        }
        let chunk_bytes = self.chunk_bytes as usize;
        let chunks = module.len().div_ceil(chunk_bytes);
        let chunks = u16::try_from(chunks).map_err(|_| StoreError::ModuleSize)?;
        let existing = self.slot_of(&plugin.description.name);
        let (slot, bank, generation, old) = match existing {
            Some(slot) => {
                let old = self.slots.get(&slot).cloned();
                let (bank, generation) = old.as_ref().map_or((0, 0), |record| {
                    ((record.bank + 1) % BANKS, record.generation.wrapping_add(1))
                });
                (slot, bank, generation, old)
            }
            None => {
                let slot = (0..MAX_STORED_PLUGINS)
                    .find(|slot| !self.slots.contains_key(slot))
                    .ok_or(StoreError::TooManyPlugins)?;
                (slot, 0, 0, None)
            }
        };
        let record = PluginRecord {
            generation,
            bank,
            chunks,
            chunk_bytes: self.chunk_bytes,
            module_bytes: module.len() as u32,
            module_crc32: MODULE_CRC.checksum(module),
            plugin: StoredPlugin {
                description: PluginDescription {
                    name: plugin.description.name.clone(),
                    version: plugin.description.version.clone(),
                    limits: plugin.description.limits,
                    imports: plugin.description.imports.clone(),
                    module: Vec::new(),
                },
                policy: plugin.policy,
                attachments: plugin.attachments.clone(),
                signature: plugin.signature,
            },
        };
        let value = SlotValue::Plugin(record);
        let record_bytes = postcard::experimental::serialized_size(&value)
            .map_err(|_| StoreError::RecordTooLarge)? as u32;
        if record_bytes > self.max_value_bytes {
            return Err(StoreError::RecordTooLarge);
        }
        let SlotValue::Plugin(record) = value else {
            return Err(StoreError::Internal);
        };

        // Room: the new chunks and record, less what they make stale in the target bank.
        let mut needed = self.item_bytes(record_bytes);
        let mut freed = self
            .live
            .get(&StoreKey::Slot(slot))
            .map_or(0, |length| self.item_bytes(*length));
        for index in 0..chunks {
            let start = usize::from(index) * chunk_bytes;
            let length = (module.len() - start).min(chunk_bytes) as u32;
            needed = needed.saturating_add(self.item_bytes(length));
            let key = StoreKey::Chunk { slot, bank, index };
            freed = freed.saturating_add(
                self.live
                    .get(&key)
                    .map_or(0, |length| self.item_bytes(*length)),
            );
        }
        let available = self.usable_bytes().saturating_sub(self.used_bytes());
        if needed.saturating_sub(freed) > available {
            return Err(StoreError::Full { needed, available });
        }

        for index in 0..chunks {
            let start = usize::from(index) * chunk_bytes;
            let end = (start + chunk_bytes).min(module.len());
            let key = StoreKey::Chunk { slot, bank, index };
            if let Err(error) = self.put_raw(key, &module[start..end]) {
                self.tombstone_chunks(slot, bank, 0);
                return Err(self.full_estimate(error, needed));
            }
        }
        // The commit point.
        if let Err(error) = self.put_item(StoreKey::Slot(slot), &SlotValue::Plugin(record.clone()))
        {
            self.tombstone_chunks(slot, bank, 0);
            return Err(self.full_estimate(error, needed));
        }
        self.slots.insert(slot, record);
        let mut left_for_sweep = self.tombstone_chunks(slot, bank, chunks);
        if old.is_some() {
            left_for_sweep += self.tombstone_chunks(slot, (bank + 1) % BANKS, 0);
        }
        Ok(PutReport {
            slot,
            generation,
            replaced: old.is_some(),
            chunks,
            left_for_sweep,
        })
    }

    /// Fills in `Full`'s figures.
    fn full_estimate(&self, error: StoreError<F::Error>, needed: u32) -> StoreError<F::Error> {
        match error {
            StoreError::Full { .. } => StoreError::Full {
                needed,
                available: self.usable_bytes().saturating_sub(self.used_bytes()),
            },
            other => other,
        }
    }

    /// Reads the stored plugin `name` back, module included, checked against its CRC.
    pub fn load(&mut self, name: &str) -> Result<StoredPlugin, StoreError<F::Error>> {
        let slot = self.slot_of(name).ok_or(StoreError::NotStored)?;
        let record = self
            .slots
            .get(&slot)
            .cloned()
            .ok_or(StoreError::NotStored)?;
        let module_bytes = record.module_bytes as usize;
        if module_bytes > MAX_MODULE_BYTES
            || record.chunk_bytes == 0
            || module_bytes.div_ceil(record.chunk_bytes as usize) != usize::from(record.chunks)
        {
            return Err(StoreError::Damaged);
        }
        let mut module = Vec::new();
        module
            .try_reserve_exact(module_bytes)
            .map_err(|_| StoreError::OutOfMemory)?;
        for index in 0..record.chunks {
            let key = StoreKey::Chunk {
                slot,
                bank: record.bank,
                index,
            };
            let expected = (module_bytes - module.len()).min(record.chunk_bytes as usize);
            match self.fetch_raw(key)? {
                Some(chunk) if chunk.len() == expected => module.extend_from_slice(chunk),
                _ => return Err(StoreError::Damaged),
            }
        }
        if MODULE_CRC.checksum(&module) != record.module_crc32 {
            return Err(StoreError::Damaged);
        }
        let mut plugin = record.plugin;
        plugin.description.module = module;
        Ok(plugin)
    }

    /// Removes the stored plugin `name`. Its commit record goes first: from then on it is gone.
    pub fn remove(&mut self, name: &str) -> Result<(), StoreError<F::Error>> {
        let slot = self.slot_of(name).ok_or(StoreError::NotStored)?;
        match self.put_item(StoreKey::Slot(slot), &SlotValue::Removed) {
            Ok(()) => {}
            Err(StoreError::Full { .. }) => {
                // No room for a `Removed` record: erase the record items in place (oldest first,
                // so a cut leaves the newest one or none), which writes no new item.
                embassy_futures::block_on(
                    self.map
                        .remove_item(&mut self.buffer, &StoreKey::Slot(slot)),
                )
                .map_err(map_error)?;
                self.live.remove(&StoreKey::Slot(slot));
            }
            Err(error) => return Err(error),
        }
        self.slots.remove(&slot);
        for bank in 0..BANKS {
            self.tombstone_chunks(slot, bank, 0);
        }
        Ok(())
    }

    /// Removes every stored plugin (the keys stay); returns how many there were.
    pub fn remove_all(&mut self) -> Result<u32, StoreError<F::Error>> {
        let names = self.names();
        for name in &names {
            self.remove(name)?;
        }
        Ok(names.len() as u32)
    }

    /// Replaces the board's keys (the caller checks who may change them).
    pub fn set_keys(&mut self, keys: BoardKeys) -> Result<(), StoreError<F::Error>> {
        self.put_item(StoreKey::Keys, &keys)?;
        self.keys = keys;
        Ok(())
    }
}

impl<E: NorFlashError> From<E> for StoreError<E> {
    fn from(error: E) -> Self {
        StoreError::Flash(error)
    }
}
