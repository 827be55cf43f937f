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

use crc::{CRC_32_ISO_HDLC, Crc};
pub use plugin_format::config::{BoardConfig, CONFIG_MAGIC};
use plugin_format::config::{CONFIG_FLASH_OFFSET, CONFIG_SECTOR_BYTES, encode_config};

use crate::flash::ERASED_BYTE;

/// Offset of the configuration sector in the flash image.
pub const CONFIG_OFFSET: usize = CONFIG_FLASH_OFFSET as usize;
/// Size of the configuration sector (one CFI erase block).
pub const CONFIG_SECTOR_SIZE: usize = CONFIG_SECTOR_BYTES as usize;
/// Bytes before the postcard payload: magic and length.
const HEADER_LEN: usize = CONFIG_MAGIC.len() + 2;
/// Bytes after the postcard payload: the CRC.
const CRC_LEN: usize = 4;
/// Largest postcard payload that fits in the sector.
pub const MAX_CONFIG_PAYLOAD: usize = CONFIG_SECTOR_SIZE - HEADER_LEN - CRC_LEN;

/// CRC-32/ISO-HDLC, the same CRC the host link uses.
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

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
        /// Encoded payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The sector holds no configuration (it is erased).
    #[error("the configuration sector is erased")]
    Erased,
    /// The sector does not start with [`CONFIG_MAGIC`].
    #[error("the configuration sector does not start with \"KPCF\"")]
    BadMagic,
    /// The length field points past the end of the sector.
    #[error("the configuration block is truncated")]
    Truncated,
    /// The CRC does not match the payload.
    #[error("the configuration block's CRC does not match")]
    Crc,
    /// postcard could not decode the payload.
    #[error("the configuration block could not be decoded")]
    Decode,
    /// postcard could not encode the configuration.
    #[error("the configuration could not be encoded")]
    Encode,
}

/// The configuration block for `config`: magic, length, postcard payload, CRC (not padded).
pub fn to_block(config: &BoardConfig) -> Result<Vec<u8>, ConfigError> {
    let payload_len = postcard::to_allocvec(config)
        .map_err(|_| ConfigError::Encode)?
        .len();
    if payload_len > MAX_CONFIG_PAYLOAD {
        return Err(ConfigError::TooLarge {
            len: payload_len,
            max: MAX_CONFIG_PAYLOAD,
        });
    }
    let block = encode_config(config);
    if block.len() != HEADER_LEN + payload_len + CRC_LEN {
        return Err(ConfigError::Encode);
    }
    Ok(block)
}

/// Reads a configuration block from the start of `sector`.
pub fn from_block(sector: &[u8]) -> Result<BoardConfig, ConfigError> {
    let magic = sector
        .get(..CONFIG_MAGIC.len())
        .ok_or(ConfigError::Truncated)?;
    if magic != CONFIG_MAGIC {
        return Err(if magic.iter().all(|byte| *byte == ERASED_BYTE) {
            ConfigError::Erased
        } else {
            ConfigError::BadMagic
        });
    }
    let length_bytes = sector
        .get(CONFIG_MAGIC.len()..HEADER_LEN)
        .ok_or(ConfigError::Truncated)?;
    let len = usize::from(u16::from_le_bytes([length_bytes[0], length_bytes[1]]));
    let payload = sector
        .get(HEADER_LEN..HEADER_LEN + len)
        .ok_or(ConfigError::Truncated)?;
    let crc_bytes = sector
        .get(HEADER_LEN + len..HEADER_LEN + len + CRC_LEN)
        .ok_or(ConfigError::Truncated)?;
    let crc = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    if CRC32.checksum(payload) != crc {
        return Err(ConfigError::Crc);
    }
    match postcard::take_from_bytes(payload) {
        Ok((config, [])) => Ok(config),
        _ => Err(ConfigError::Decode),
    }
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
        }
    }

    /// The block's bytes are exactly the documented layout.
    #[test]
    fn block_layout_is_magic_length_postcard_crc() {
        let block = to_block(&sample()).unwrap();
        let payload = [
            0x05, b'b', b'e', b'n', b'c', b'h', // String: varint length 5, then UTF-8
            0x01, // bool true
        ];
        let mut expected = b"KPCF".to_vec();
        expected.extend_from_slice(&[0x07, 0x00]); // u16 LE length 7
        expected.extend_from_slice(&payload);
        expected.extend_from_slice(&CRC32.checksum(&payload).to_le_bytes());
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
        assert_eq!(from_block(&erased), Err(ConfigError::Erased));
        assert_eq!(from_block(b"ELF\x7f...."), Err(ConfigError::BadMagic));

        let block = to_block(&sample()).unwrap();
        let mut corrupt = block.clone();
        corrupt[HEADER_LEN] ^= 0x01;
        assert_eq!(from_block(&corrupt), Err(ConfigError::Crc));
        assert_eq!(
            from_block(&block[..block.len() - 1]),
            Err(ConfigError::Truncated)
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
        assert_eq!(plugin_format::config::decode_config(sector), Some(sample()));
    }

    /// A name too long for the sector is refused instead of being cut.
    #[test]
    fn oversized_configuration_is_refused() {
        let config = BoardConfig {
            board_name: "x".repeat(CONFIG_SECTOR_SIZE),
            force_software_isolation: false,
        };
        assert!(matches!(
            to_block(&config),
            Err(ConfigError::TooLarge { .. })
        ));
    }
}
