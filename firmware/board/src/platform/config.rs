//! The board configuration, read from its flash sector at boot (see `plugin_format::config`).

use plugin_format::config::{BoardConfig, CONFIG_SECTOR_BYTES, decode_config};

unsafe extern "C" {
    /// Start of the configuration sector in flash (linker script).
    static kplug_config_sector: [u8; CONFIG_SECTOR_BYTES as usize];
}

/// The configuration written by `kplug board up`, or defaults if the sector holds none.
pub fn load() -> BoardConfig {
    // SAFETY: the linker script places `kplug_config_sector` at a 64 KiB flash sector that the
    // firmware never writes; flash reads as ordinary memory in read-array mode.
    let sector = unsafe { &kplug_config_sector };
    decode_config(sector).unwrap_or_default()
}
