//! The plugin store as the host sees it: what `kplug store list` and `kplug info` show, the attach
//! specifications a stored plugin carries, and why a store request failed.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::signature::KeyId;

/// The attachments a stored plugin carries are the attach work's own specs (kept with the
/// plugin, attached again at boot).
pub use crate::attach::{AttachPoint, AttachSpec};

/// One stored plugin, as `kplug store list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPluginSummary {
    /// Its name.
    pub name: String,
    /// Its version text.
    pub version: String,
    /// Module size.
    pub module_bytes: u32,
    /// Its attachments.
    pub attachments: Vec<AttachSpec>,
    /// The key that signed it, if it was signed.
    pub signed_by: Option<KeyId>,
    /// How many times it has been stored under this name in its slot (wraps).
    pub generation: u16,
}

/// The store's size and use, for `kplug info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreInfo {
    /// Bytes of flash the store spans.
    pub capacity_bytes: u32,
    /// Bytes its live items take (an estimate from item sizes; stale items waiting for their
    /// page to be reused are not counted).
    pub used_bytes: u32,
    /// Erase pages.
    pub pages: u32,
    /// Page erases since the firmware booted.
    pub erases_since_boot: u32,
    /// Plugins stored.
    pub plugins: u32,
    /// The ids of the provisioned public keys.
    pub keys: Vec<KeyId>,
    /// The key epoch (incremented by every key change).
    pub key_epoch: u32,
}

/// Why a store request failed. Variant order is wire format: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreRefusal {
    /// The board has no store (Bochs maps its ROM read-only; or no flash chip answered).
    NoStore,
    /// The store has no room for this: the plugin's old version, if any, is kept.
    Full {
        /// Bytes the request needed.
        needed: u32,
        /// Bytes free (an estimate).
        available: u32,
    },
    /// No plugin by that name is stored.
    NotStored,
    /// The plugin's description or attachments do not fit in one store record.
    RecordTooLarge,
    /// Every plugin slot of the store is in use.
    TooManyPlugins,
    /// The store cannot be read (damaged, or written by another format version).
    Unreadable,
    /// The flash chip reported an error.
    Flash,
}

impl fmt::Display for StoreRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStore => write!(formatter, "this board has no plugin store"),
            Self::Full { needed, available } => write!(
                formatter,
                "the plugin store is full: {needed} bytes needed, about {available} free"
            ),
            Self::NotStored => write!(formatter, "no plugin by that name is stored"),
            Self::RecordTooLarge => write!(
                formatter,
                "the plugin's description and attachments do not fit in a store record"
            ),
            Self::TooManyPlugins => write!(formatter, "every plugin slot of the store is in use"),
            Self::Unreadable => write!(formatter, "the plugin store cannot be read"),
            Self::Flash => write!(formatter, "the store's flash chip reported an error"),
        }
    }
}
