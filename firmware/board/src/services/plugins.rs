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

/// Creates the plugin service on `platform` and `device`, compiling for `isolation`, with the
/// attach points of every platform (`kplug_core::service::CHANNELS`: `frames`, buffers the host
/// sends; `samples`, the core's synthetic ADC) and the console's built-in words, which no
/// attachment may take.
pub fn new(platform: BoardPlatform, device: BoardDevice, isolation: Isolation) -> Plugins {
    let mut plugins = PluginService::new(platform, device, isolation, MAX_PLUGINS);
    let words: alloc::vec::Vec<&str> = crate::services::console::COMMANDS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    plugins.open_attach_points(&words);
    plugins
}
