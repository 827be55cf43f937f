//! Signed plugins: exactly what is signed, the key id, and the signature as it travels on the
//! link and is kept in the plugin store.
//!
//! - A plugin signature is an Ed25519 signature (RFC 8032, pure Ed25519) over
//!   [`plugin_signed_message`]: the bytes [`PLUGIN_SIGNATURE_DOMAIN`] followed by the postcard
//!   encoding of the whole [`PluginDescription`], module bytes included. Postcard encodes a value
//!   one way only (varints are minimal), so host and firmware build the same bytes from the same
//!   description: name, version, limits, imports in their order, module.
//! - A key is named by its [`KeyId`]: the first 8 bytes of the 32-byte public key. The id only
//!   picks which provisioned key to check against and names it in messages; the check itself
//!   always uses the whole key.
//! - Key management is signed too ([`key_change_message`]): once a board holds a key, adding or
//!   removing one needs a signature by a key the board holds, over the change and the board's
//!   current key epoch (which every change increments, so an old signed change cannot be
//!   replayed). Without a provisioned key the first key is accepted as it comes (trust on first
//!   use). The other way to remove keys is a reflash of the store.

use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::plugin::{ImportRequest, Limits, PluginDescription};

/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Bytes of a [`KeyId`].
pub const KEY_ID_BYTES: usize = 8;
/// The most public keys a board holds.
pub const MAX_BOARD_KEYS: usize = 4;
/// What precedes the description in a plugin's signed message (domain separation).
pub const PLUGIN_SIGNATURE_DOMAIN: &[u8] = b"kplug plugin signature v1\0";
/// What precedes a key change in its signed message.
pub const KEY_CHANGE_DOMAIN: &[u8] = b"kplug key change v1\0";

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_BYTES]);

impl PublicKey {
    /// The key's id: its first [`KEY_ID_BYTES`] bytes.
    pub fn id(&self) -> KeyId {
        let mut id = [0; KEY_ID_BYTES];
        id.copy_from_slice(&self.0[..KEY_ID_BYTES]);
        KeyId(id)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "PublicKey({})", self.id())
    }
}

/// Names a public key: its first 8 bytes, printed as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyId(pub [u8; KEY_ID_BYTES]);

impl fmt::Display for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(formatter, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "KeyId({self})")
    }
}

/// An Ed25519 signature: its `R` and `S` halves (serde stops at 32-byte arrays).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ed25519Signature {
    /// The encoded point `R`.
    pub r: [u8; 32],
    /// The scalar `S`.
    pub s: [u8; 32],
}

impl Ed25519Signature {
    /// From the 64 bytes of RFC 8032 (`R || S`).
    pub fn from_bytes(bytes: &[u8; SIGNATURE_BYTES]) -> Self {
        let mut r = [0; 32];
        let mut s = [0; 32];
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..]);
        Self { r, s }
    }

    /// The 64 bytes of RFC 8032 (`R || S`).
    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES] {
        let mut bytes = [0; SIGNATURE_BYTES];
        bytes[..32].copy_from_slice(&self.r);
        bytes[32..].copy_from_slice(&self.s);
        bytes
    }
}

impl fmt::Debug for Ed25519Signature {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "Ed25519Signature({:02x}{:02x}..)",
            self.r[0], self.r[1]
        )
    }
}

/// A signature and the key that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedBy {
    /// Which key signed.
    pub key: KeyId,
    /// The signature.
    pub signature: Ed25519Signature,
}

/// The bytes a plugin signature covers: [`PLUGIN_SIGNATURE_DOMAIN`] then
/// `postcard(description)`, module included.
pub fn plugin_signed_message(description: &PluginDescription) -> Vec<u8> {
    let mut message = plugin_signed_prefix(description);
    message.extend_from_slice(&description.module);
    message
}

/// The signed message without the module bytes, which follow it: a verifier can hash the prefix
/// and then the module where it lies, without copying it. The module is the description's last
/// field, so `postcard(description)` is the other fields followed by the module's length (a
/// varint) and its bytes.
pub fn plugin_signed_prefix(description: &PluginDescription) -> Vec<u8> {
    /// The fields before the module, borrowed; postcard encodes `&str` as `String` and a slice as
    /// `Vec`.
    #[derive(Serialize)]
    struct Head<'a> {
        name: &'a str,
        version: &'a str,
        limits: &'a Limits,
        imports: &'a [ImportRequest],
        module_bytes: usize,
    }
    signed_message(
        PLUGIN_SIGNATURE_DOMAIN,
        &Head {
            name: &description.name,
            version: &description.version,
            limits: &description.limits,
            imports: &description.imports,
            module_bytes: description.module.len(),
        },
    )
}

/// A change to the board's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyChange {
    /// Provision this key.
    Add(PublicKey),
    /// Remove the key with this id.
    Remove(KeyId),
}

/// The bytes a key change's signature covers: [`KEY_CHANGE_DOMAIN`] then
/// `postcard((change, epoch))`, where `epoch` is the board's key epoch before the change.
pub fn key_change_message(change: &KeyChange, epoch: u32) -> Vec<u8> {
    signed_message(KEY_CHANGE_DOMAIN, &(change, epoch))
}

fn signed_message(domain: &[u8], value: &impl Serialize) -> Vec<u8> {
    let message = Vec::from(domain);
    // Encoding into a Vec fails only when the allocator does, which aborts anyway.
    postcard::to_extend(value, message).unwrap_or_default()
}

/// Why a board refused a plugin or a key change on signature grounds. Variant order is wire
/// format: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureRefusal {
    /// The board holds a key and the upload carries no signature.
    Unsigned,
    /// The signature does not verify with the key it names.
    BadSignature(KeyId),
    /// The signature names a key the board does not hold.
    UnknownKey(KeyId),
    /// The board already holds [`MAX_BOARD_KEYS`] keys.
    TooManyKeys,
    /// The key is already provisioned.
    KeyPresent(KeyId),
    /// The key change was signed for another key epoch (a replay, or the board changed since).
    StaleEpoch {
        /// The board's current epoch.
        current: u32,
    },
}

impl fmt::Display for SignatureRefusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsigned => write!(
                formatter,
                "the board holds a key and refuses unsigned plugins (sign with `--sign KEY`)"
            ),
            Self::BadSignature(key) => {
                write!(formatter, "the signature does not verify with key {key}")
            }
            Self::UnknownKey(key) => write!(formatter, "the board does not hold key {key}"),
            Self::TooManyKeys => write!(
                formatter,
                "the board already holds {MAX_BOARD_KEYS} keys (the most it keeps)"
            ),
            Self::KeyPresent(key) => write!(formatter, "key {key} is already provisioned"),
            Self::StaleEpoch { current } => write!(
                formatter,
                "the key change was signed for another key epoch (the board is at {current})"
            ),
        }
    }
}
