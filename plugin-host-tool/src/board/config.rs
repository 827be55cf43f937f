//! The board configuration block that `kplug board up` writes into the flash image before boot.
//!
//! The type and its encoding are `plugin_format::config` (the firmware decodes the same bytes);
//! this module puts the block into an image and reads it back with a typed error for each way a
//! sector can be unusable. Layout, at image offset [`CONFIG_OFFSET`] (one 64 KiB sector, the
//! rest of it erased to 0xFF):
//!
//! ```text
//! "KPCF"  u16 LE length L  L bytes postcard(BoardConfig)  u32 LE CRC-32/ISO-HDLC(postcard bytes)
//! ```

pub use plugin_format::config::{BoardConfig, CONFIG_MAGIC};
use plugin_format::config::{
    CONFIG_FLASH_OFFSET, CONFIG_HEADER_BYTES, CONFIG_SECTOR_BYTES, decode_config, encode_config,
};

use crate::flash::ERASED_BYTE;

/// Offset of the configuration sector in the flash image.
pub const CONFIG_OFFSET: usize = CONFIG_FLASH_OFFSET as usize;
/// Size of the configuration sector (one CFI erase block).
pub const CONFIG_SECTOR_SIZE: usize = CONFIG_SECTOR_BYTES as usize;
/// Bytes after the postcard payload: the CRC.
const CRC_LEN: usize = 4;
/// Largest postcard payload that fits in the sector.
pub const MAX_CONFIG_PAYLOAD: usize = CONFIG_SECTOR_SIZE - CONFIG_HEADER_BYTES - CRC_LEN;

/// Why a configuration block could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The image is too short to hold the configuration sector.
    #[error(
        "the flash image is {len} bytes, too short for the configuration sector at {offset:#x}"
    )]
    ImageTooSmall {
        /// The image's length.
        len: usize,
        /// Where the sector starts.
        offset: usize,
    },
    /// The encoded configuration does not fit in the sector.
    #[error("the board configuration is {len} bytes encoded; at most {max} fit")]
    TooLarge {
        /// Encoded block length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The sector holds no usable configuration.
    #[error("{0}")]
    Unreadable(plugin_format::config::ConfigError),
}

/// The configuration block for `config`: magic, length, postcard payload, CRC (not padded).
pub fn to_block(config: &BoardConfig) -> Result<Vec<u8>, ConfigError> {
    let block = encode_config(config);
    let max = CONFIG_HEADER_BYTES + MAX_CONFIG_PAYLOAD + CRC_LEN;
    if block.len() > max {
        return Err(ConfigError::TooLarge {
            len: block.len(),
            max,
        });
    }
    Ok(block)
}

/// Reads a configuration block from the start of `sector`.
pub fn from_block(sector: &[u8]) -> Result<BoardConfig, ConfigError> {
    decode_config(sector).map_err(ConfigError::Unreadable)
}

/// Erases the configuration sector of `image` and writes `config` into it.
pub fn write_to_image(config: &BoardConfig, image: &mut [u8]) -> Result<(), ConfigError> {
    let block = to_block(config)?;
    let sector = config_sector_mut(image)?;
    sector.fill(ERASED_BYTE);
    sector[..block.len()].copy_from_slice(&block);
    Ok(())
}

/// Reads the configuration from the configuration sector of `image`.
pub fn read_from_image(image: &[u8]) -> Result<BoardConfig, ConfigError> {
    let len = image.len();
    let sector = image
        .get(CONFIG_OFFSET..CONFIG_OFFSET + CONFIG_SECTOR_SIZE)
        .ok_or(ConfigError::ImageTooSmall {
            len,
            offset: CONFIG_OFFSET,
        })?;
    from_block(sector)
}

/// The configuration sector of `image`, mutably.
fn config_sector_mut(image: &mut [u8]) -> Result<&mut [u8], ConfigError> {
    let len = image.len();
    image
        .get_mut(CONFIG_OFFSET..CONFIG_OFFSET + CONFIG_SECTOR_SIZE)
        .ok_or(ConfigError::ImageTooSmall {
            len,
            offset: CONFIG_OFFSET,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flash::FLASH_SIZE;

    fn sample() -> BoardConfig {
        BoardConfig {
            board_name: "bench".into(),
            force_software_isolation: true,
            safe_boot: false,
        }
    }

    /// The block's bytes are exactly the documented layout.
    #[test]
    fn block_layout_is_magic_length_postcard_crc() {
        let block = to_block(&sample()).unwrap();
        let payload = [
            0x05, b'b', b'e', b'n', b'c', b'h', // String: varint length 5, then UTF-8
            0x01, // bool true: force software isolation
            0x00, // bool false: no safe boot
        ];
        let mut expected = b"KPCF".to_vec();
        expected.extend_from_slice(&[0x08, 0x00]); // u16 LE length 8
        expected.extend_from_slice(&payload);
        expected.extend_from_slice(&plugin_format::frame::crc32(&payload).to_le_bytes());
        assert_eq!(block, expected);
    }

    /// Writing into an image and reading back gives the same configuration, and only the
    /// configuration sector changes.
    #[test]
    fn round_trip_through_image_touches_only_its_sector() {
        let mut image = vec![0x11; FLASH_SIZE];
        write_to_image(&sample(), &mut image).unwrap();
        assert_eq!(read_from_image(&image).unwrap(), sample());
        assert!(image[..CONFIG_OFFSET].iter().all(|b| *b == 0x11));
        assert!(
            image[CONFIG_OFFSET + CONFIG_SECTOR_SIZE..]
                .iter()
                .all(|b| *b == 0x11)
        );
        let block_len = to_block(&sample()).unwrap().len();
        assert!(
            image[CONFIG_OFFSET + block_len..CONFIG_OFFSET + CONFIG_SECTOR_SIZE]
                .iter()
                .all(|b| *b == ERASED_BYTE)
        );
    }

    /// Erased sectors, foreign data, corruption and truncation each give their own error.
    #[test]
    fn bad_sectors_are_told_apart() {
        let erased = vec![ERASED_BYTE; CONFIG_SECTOR_SIZE];
        assert_eq!(
            from_block(&erased),
            Err(ConfigError::Unreadable(
                plugin_format::config::ConfigError::Erased
            ))
        );
        assert_eq!(
            from_block(b"ELF\x7f...."),
            Err(ConfigError::Unreadable(
                plugin_format::config::ConfigError::BadMagic
            ))
        );

        let block = to_block(&sample()).unwrap();
        let mut corrupt = block.clone();
        corrupt[CONFIG_HEADER_BYTES] ^= 0x01;
        assert_eq!(
            from_block(&corrupt),
            Err(ConfigError::Unreadable(
                plugin_format::config::ConfigError::Crc
            ))
        );
        assert_eq!(
            from_block(&block[..block.len() - 1]),
            Err(ConfigError::Unreadable(
                plugin_format::config::ConfigError::Truncated
            ))
        );
        assert!(matches!(
            read_from_image(&[0; 16]),
            Err(ConfigError::ImageTooSmall { .. })
        ));
    }

    /// The block is exactly what the firmware's decoder (`plugin_format::config`) accepts.
    #[test]
    fn firmware_decoder_reads_our_block() {
        let mut image = vec![ERASED_BYTE; FLASH_SIZE];
        write_to_image(&sample(), &mut image).unwrap();
        let sector = &image[CONFIG_OFFSET..CONFIG_OFFSET + CONFIG_SECTOR_SIZE];
        assert_eq!(plugin_format::config::decode_config(sector), Ok(sample()));
    }

    /// A name too long for the sector is refused instead of being cut.
    #[test]
    fn oversized_configuration_is_refused() {
        let config = BoardConfig {
            board_name: "x".repeat(CONFIG_SECTOR_SIZE),
            force_software_isolation: false,
            safe_boot: false,
        };
        assert!(matches!(
            to_block(&config),
            Err(ConfigError::TooLarge { .. })
        ));
    }
}
