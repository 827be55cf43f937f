//! The store's on-flash format: the keys of its items and the values behind them.
//!
//! Every item lives in a `sequential-storage` map (one item per key is current; older ones are
//! stale and disappear when their page is reused). Keys are 5 bytes:
//!
//! ```text
//! tag  slot  bank  index (u16 LE)     value
//! 1    0     0     0                  StoreFormat (magic and version), written first
//! 2    0     0     0                  BoardKeys (epoch, public keys)
//! 3    S     0     0                  SlotValue for plugin slot S: its commit record, or Removed
//! 4    S     B     I                  chunk I of the module of slot S in bank B (0 or 1); an empty
//!                                     chunk is a tombstone that makes the old chunk stale
//! ```
//!
//! A plugin's module is split into chunks that fit in a page, written to the bank its current
//! record does not use; the record, written last in one item, is the commit point of a version
//! switch. Values are postcard, except chunks, which are raw bytes.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use plugin_format::PluginDescription;
use plugin_format::message::TrapPolicy;
use plugin_format::signature::{PublicKey, SignedBy};
use plugin_format::store::AttachSpec;
use sequential_storage::map::{Key, SerializationError, Value};

/// Bytes of a serialized [`StoreKey`].
pub const KEY_BYTES: usize = 5;
/// `StoreFormat::magic`.
pub const STORE_MAGIC: [u8; 4] = *b"KPST";
/// `StoreFormat::version` this firmware writes and reads.
pub const STORE_VERSION: u16 = 1;
/// Plugin slots: the most plugins a store holds.
pub const MAX_STORED_PLUGINS: u8 = 32;
/// Banks per slot: the current version's chunks and the next one's.
pub const BANKS: u8 = 2;

/// Key tags.
const TAG_FORMAT: u8 = 1;
const TAG_KEYS: u8 = 2;
const TAG_SLOT: u8 = 3;
const TAG_CHUNK: u8 = 4;

/// The key of one store item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreKey {
    /// The format marker.
    Format,
    /// The board's public keys.
    Keys,
    /// A plugin slot's commit record.
    Slot(u8),
    /// A chunk of a slot's module.
    Chunk {
        /// The plugin slot.
        slot: u8,
        /// The bank (0 or 1).
        bank: u8,
        /// The chunk's index in the module.
        index: u16,
    },
}

impl StoreKey {
    fn to_bytes(self) -> [u8; KEY_BYTES] {
        match self {
            StoreKey::Format => [TAG_FORMAT, 0, 0, 0, 0],
            StoreKey::Keys => [TAG_KEYS, 0, 0, 0, 0],
            StoreKey::Slot(slot) => [TAG_SLOT, slot, 0, 0, 0],
            StoreKey::Chunk { slot, bank, index } => {
                let [low, high] = index.to_le_bytes();
                [TAG_CHUNK, slot, bank, low, high]
            }
        }
    }

    fn from_bytes(bytes: [u8; KEY_BYTES]) -> Result<Self, SerializationError> {
        match bytes {
            [TAG_FORMAT, 0, 0, 0, 0] => Ok(StoreKey::Format),
            [TAG_KEYS, 0, 0, 0, 0] => Ok(StoreKey::Keys),
            [TAG_SLOT, slot, 0, 0, 0] => Ok(StoreKey::Slot(slot)),
            [TAG_CHUNK, slot, bank, low, high] => Ok(StoreKey::Chunk {
                slot,
                bank,
                index: u16::from_le_bytes([low, high]),
            }),
            _ => Err(SerializationError::InvalidFormat),
        }
    }
}

impl Key for StoreKey {
    fn serialize_into(&self, buffer: &mut [u8]) -> Result<usize, SerializationError> {
        buffer
            .get_mut(..KEY_BYTES)
            .ok_or(SerializationError::BufferTooSmall)?
            .copy_from_slice(&self.to_bytes());
        Ok(KEY_BYTES)
    }

    fn deserialize_from(buffer: &[u8]) -> Result<(Self, usize), SerializationError> {
        let bytes = buffer
            .get(..KEY_BYTES)
            .ok_or(SerializationError::BufferTooSmall)?;
        let mut key = [0; KEY_BYTES];
        key.copy_from_slice(bytes);
        Ok((Self::from_bytes(key)?, KEY_BYTES))
    }

    fn get_len(_buffer: &[u8]) -> Result<usize, SerializationError> {
        Ok(KEY_BYTES)
    }
}

/// The first item of a store: which format it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreFormat {
    /// [`STORE_MAGIC`].
    pub magic: [u8; 4],
    /// [`STORE_VERSION`].
    pub version: u16,
}

/// The board's provisioned public keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardKeys {
    /// Incremented by every key change; signed key changes name the epoch they were made for.
    pub epoch: u32,
    /// The keys (at most `signature::MAX_BOARD_KEYS`).
    pub keys: Vec<PublicKey>,
}

/// A stored plugin: everything the board needs to install it again at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPlugin {
    /// The description, module included (in the store the module lives in chunks).
    pub description: PluginDescription,
    /// What happens when it traps.
    pub policy: TrapPolicy,
    /// Where its exports are attached (issue 12).
    pub attachments: Vec<AttachSpec>,
    /// The signature it was uploaded with, if any.
    pub signature: Option<SignedBy>,
}

/// A slot's commit record: the current version of its plugin and where its module is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// Stores under this slot so far (wraps); tells versions apart in reports.
    pub generation: u16,
    /// The bank holding the module's chunks.
    pub bank: u8,
    /// Number of chunks.
    pub chunks: u16,
    /// Bytes per chunk (the last one may be shorter).
    pub chunk_bytes: u32,
    /// Module size.
    pub module_bytes: u32,
    /// CRC-32 (ISO-HDLC) of the whole module, checked when it is read back.
    pub module_crc32: u32,
    /// The plugin, with an empty `description.module`.
    pub plugin: StoredPlugin,
}

/// What a slot holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per slot operation"
)]
pub enum SlotValue {
    /// The slot's plugin was removed.
    Removed,
    /// The slot's current plugin.
    Plugin(PluginRecord),
}

/// Postcard values for the store's map.
macro_rules! postcard_value {
    ($type:ty) => {
        impl<'a> Value<'a> for $type {
            fn serialize_into(&self, buffer: &mut [u8]) -> Result<usize, SerializationError> {
                postcard::to_slice(self, buffer)
                    .map(|bytes| bytes.len())
                    .map_err(|_| SerializationError::BufferTooSmall)
            }

            fn deserialize_from(buffer: &'a [u8]) -> Result<(Self, usize), SerializationError> {
                postcard::from_bytes(buffer)
                    .map(|value| (value, buffer.len()))
                    .map_err(|_| SerializationError::InvalidFormat)
            }
        }
    };
}

postcard_value!(StoreFormat);
postcard_value!(BoardKeys);
postcard_value!(SlotValue);

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves that each key has the documented 5-byte form and reads back, and that unknown tags
    /// and stray bytes are refused.
    #[test]
    fn keys_round_trip_in_five_bytes() {
        let keys = [
            (StoreKey::Format, [1, 0, 0, 0, 0]),
            (StoreKey::Keys, [2, 0, 0, 0, 0]),
            (StoreKey::Slot(31), [3, 31, 0, 0, 0]),
            (
                StoreKey::Chunk {
                    slot: 2,
                    bank: 1,
                    index: 0x0102,
                },
                [4, 2, 1, 0x02, 0x01],
            ),
        ];
        for (key, bytes) in keys {
            let mut buffer = [0xAA; 8];
            assert_eq!(key.serialize_into(&mut buffer), Ok(KEY_BYTES));
            assert_eq!(buffer[..KEY_BYTES], bytes);
            assert_eq!(StoreKey::deserialize_from(&buffer), Ok((key, KEY_BYTES)));
        }
        assert_eq!(
            StoreKey::deserialize_from(&[9, 0, 0, 0, 0]),
            Err(SerializationError::InvalidFormat)
        );
        assert_eq!(
            StoreKey::deserialize_from(&[1, 0, 0, 1, 0]),
            Err(SerializationError::InvalidFormat)
        );
        assert_eq!(
            StoreKey::deserialize_from(&[3, 0]),
            Err(SerializationError::BufferTooSmall)
        );
        assert_eq!(
            StoreKey::Keys.serialize_into(&mut [0; 4]),
            Err(SerializationError::BufferTooSmall)
        );
    }
}
