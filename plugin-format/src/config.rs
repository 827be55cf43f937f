//! The board configuration block, kept in a sector of the firmware's flash image.
//!
//! `kplug board up` writes it before the board starts; the firmware reads it at boot. Layout at
//! [`CONFIG_FLASH_OFFSET`] in the 4 MiB image: magic `KPCF`, a little-endian u16 length `L`, `L`
//! bytes of postcard-encoded [`BoardConfig`], then a CRC-32 (ISO-HDLC, little endian) of those
//! `L` bytes. An erased (0xFF) or corrupt block means "no configuration": defaults apply.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Bytes before the postcard payload: magic and length.
pub const CONFIG_HEADER_BYTES: usize = HEADER_BYTES;

/// Offset of the configuration sector in the flash image (a 64 KiB sector below the boot block).
pub const CONFIG_FLASH_OFFSET: u32 = 0x3E_0000;
/// Size of the configuration sector.
pub const CONFIG_SECTOR_BYTES: u32 = 0x1_0000;
/// Magic that starts a configuration block.
pub const CONFIG_MAGIC: [u8; 4] = *b"KPCF";

/// Settings that belong to a board rather than to a firmware build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardConfig {
    /// The board's name, reported in the handshake.
    pub board_name: String,
    /// Use software isolation even where the boot probe finds segment limits enforced.
    pub force_software_isolation: bool,
    /// Safe boot: install none of the plugins kept in the plugin store (`kplug board up --safe`).
    pub safe_boot: bool,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            board_name: String::from("kplug-board"),
            force_software_isolation: false,
            safe_boot: false,
        }
    }
}

const HEADER_BYTES: usize = 6;

/// Encodes `config` as a configuration block (without the sector's 0xFF padding).
pub fn encode_config(config: &BoardConfig) -> Vec<u8> {
    let body = postcard::to_allocvec(config).unwrap_or_default();
    let mut block = Vec::with_capacity(HEADER_BYTES + body.len() + 4);
    block.extend_from_slice(&CONFIG_MAGIC);
    block.extend_from_slice(&(body.len() as u16).to_le_bytes());
    block.extend_from_slice(&body);
    block.extend_from_slice(&crate::frame::crc32(&body).to_le_bytes());
    block
}

/// Why a configuration sector holds no usable configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The sector is erased (it starts with 0xFF bytes).
    Erased,
    /// The sector does not start with [`CONFIG_MAGIC`].
    BadMagic,
    /// The length field points past the end of the sector.
    Truncated,
    /// The CRC does not match the payload.
    Crc,
    /// postcard could not decode the payload, or bytes follow it.
    Decode,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::Erased => "the configuration sector is erased",
            ConfigError::BadMagic => "the configuration sector does not start with \"KPCF\"",
            ConfigError::Truncated => "the configuration block is truncated",
            ConfigError::Crc => "the configuration block's CRC does not match",
            ConfigError::Decode => "the configuration block could not be decoded",
        })
    }
}

impl core::error::Error for ConfigError {}

/// Decodes the configuration block at the start of `sector`.
pub fn decode_config(sector: &[u8]) -> Result<BoardConfig, ConfigError> {
    let magic = sector.get(..4).ok_or(ConfigError::Truncated)?;
    if magic != CONFIG_MAGIC {
        return Err(if magic.iter().all(|&byte| byte == 0xFF) {
            ConfigError::Erased
        } else {
            ConfigError::BadMagic
        });
    }
    let length_bytes = sector.get(4..HEADER_BYTES).ok_or(ConfigError::Truncated)?;
    let length = usize::from(u16::from_le_bytes([length_bytes[0], length_bytes[1]]));
    let body = sector
        .get(HEADER_BYTES..HEADER_BYTES + length)
        .ok_or(ConfigError::Truncated)?;
    let crc = sector
        .get(HEADER_BYTES + length..HEADER_BYTES + length + 4)
        .ok_or(ConfigError::Truncated)?;
    if crate::frame::crc32(body).to_le_bytes() != crc {
        return Err(ConfigError::Crc);
    }
    match postcard::take_from_bytes(body) {
        Ok((config, [])) => Ok(config),
        _ => Err(ConfigError::Decode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block survives encode/decode, and any single corrupted byte makes it unreadable.
    #[test]
    fn round_trip_and_corruption() {
        let config = BoardConfig {
            board_name: "lab-7".into(),
            force_software_isolation: true,
            safe_boot: true,
        };
        let block = encode_config(&config);
        assert_eq!(decode_config(&block), Ok(config));
        for index in 0..block.len() {
            let mut bad = block.clone();
            bad[index] ^= 0x40;
            assert!(
                decode_config(&bad).is_err(),
                "corruption at byte {index} went unnoticed"
            );
        }
    }

    /// An erased sector (all 0xFF) is "no configuration".
    #[test]
    fn erased_sector_is_none() {
        assert_eq!(decode_config(&[0xFF; 64]), Err(ConfigError::Erased));
    }
}
