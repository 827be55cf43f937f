//! The plugin service on this board: the core's `PluginService` over the board's platform and
//! device. Plugin output and its quota are the core's (`kplug_core::output`).
#![forbid(unsafe_code)]

use kplug_core::Isolation;
use kplug_core::service::PluginService;
use plugin_format::limits::MAX_PLUGINS;

use crate::platform::device::BoardDevice;
use crate::platform::isolation::BoardPlatform;

/// The board's plugin service.
pub type Plugins = PluginService<BoardPlatform, BoardDevice>;

/// The board's channels. `frames`: buffers the host sends (`kplug feed frames FILE`) flow
/// through its chain and the last stage's output is the answer (the synthetic camera is not
/// built yet). `samples`: the core's synthetic ADC, a block every 10 ms, while a stage is
/// attached or the host streams it.
pub const CHANNELS: &[&str] = &["frames", kplug_core::service::SAMPLES];

/// The synthetic ADC's seed on this board.
pub const ADC_SEED: u32 = 1;

/// Creates the plugin service on `platform` and `device`, compiling for `isolation`, with the
/// board's attach points (its channels, and the console's built-in words, which no attachment
/// may take).
pub fn new(platform: BoardPlatform, device: BoardDevice, isolation: Isolation) -> Plugins {
    let mut plugins = PluginService::new(platform, device, isolation, MAX_PLUGINS);
    let words: alloc::vec::Vec<&str> = crate::services::console::COMMANDS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    plugins.set_attach_points(CHANNELS, &words);
    plugins.start_adc(ADC_SEED);
    plugins
}
