//! The plugin store on this board: the core's `StoreService` over the store chip the platform
//! found (or none), opened at boot, and the boot install of every stored plugin, each result on
//! the console and in the defmt log.
#![forbid(unsafe_code)]

use embedded_io::Write;
use kplug_core::store::service::{InstallReport, StoreService};

use crate::platform::flash::{self, NoStoreChip, StoreFlash};
use crate::services::plugins::Plugins;

/// The board's store service.
pub type BoardStore = StoreService<StoreFlash>;

/// Microseconds since boot (for the open time).
fn now_us() -> u64 {
    crate::platform::timer::now_us()
}

/// Finds the store chip and opens the store on all of it, reporting on `console` what it found.
pub fn open(console: &mut impl Write) -> BoardStore {
    let chip = match flash::probe() {
        Ok(chip) => chip,
        Err(NoStoreChip::NotFound) => {
            let _ = write!(
                console,
                "store: none (no flash chip below the firmware's; Bochs, or a board without one)\r\n"
            );
            defmt::info!("store: no flash chip");
            return StoreService::absent("no flash chip below the firmware's");
        }
        Err(NoStoreChip::Unusable(error)) => {
            let _ = write!(
                console,
                "store: none (the flash chip is unusable: {error:?})\r\n"
            );
            defmt::warn!("store: flash chip unusable");
            return StoreService::absent("the flash chip is unusable");
        }
    };
    let size = chip.geometry().size_bytes;
    let start = now_us();
    let (store, opened) = StoreService::open(chip, 0..size);
    let took_ms = now_us().saturating_sub(start) / 1000;
    match opened {
        Ok(report) => {
            let _ = write!(
                console,
                "store: {} KiB flash, {}{} chunks swept, opened in {} ms\r\n",
                size / 1024,
                if report.created { "new store, " } else { "" },
                report.swept_chunks,
                took_ms
            );
            for name in &report.damaged {
                let _ = write!(console, "store: plugin {name} is damaged (remove it)\r\n");
            }
            defmt::info!(
                "store: {=u32} KiB, {=u32} chunks swept, opened in {=u64} ms",
                size / 1024,
                report.swept_chunks,
                took_ms
            );
        }
        Err(why) => {
            let _ = write!(console, "store: cannot be opened: {why}\r\n");
            defmt::error!("store: cannot be opened");
        }
    }
    store
}

/// Safe boot: installs nothing, and says how many stored plugins stay uninstalled.
pub fn skip_all(store: &mut BoardStore, console: &mut impl Write) {
    let stored = store.stored_count();
    let _ = write!(
        console,
        "store: safe boot, {stored} stored plugin(s) not installed\r\n"
    );
    defmt::warn!(
        "store: safe boot, {=u32} stored plugin(s) not installed",
        stored
    );
}

/// Installs every stored plugin (each failure reported, the others still installed).
pub fn install_all(store: &mut BoardStore, plugins: &mut Plugins, console: &mut impl Write) {
    let loaded = store.install_all(plugins, |report: &InstallReport| match &report.result {
        Ok(load) => {
            let _ = write!(
                console,
                "store: installed {} (id {}): read {} us, verify {} us, compile {} us, link {} us, \
                 {} attachment(s), {} boot run(s)\r\n",
                report.name,
                load.id,
                report.read.micros,
                report.verify.micros,
                load.compile.micros,
                load.link.micros,
                report.attached,
                report.boot_runs
            );
            defmt::info!(
                "store: installed {=str}, read {=u64} us, verify {=u64} us, {=usize} attachment(s)",
                report.name.as_str(),
                report.read.micros,
                report.verify.micros,
                report.attached
            );
            for why in &report.not_attached {
                let _ = write!(console, "store: {}: not attached: {}\r\n", report.name, why);
                defmt::warn!(
                    "store: {=str}: not attached: {=str}",
                    report.name.as_str(),
                    why.as_str()
                );
            }
        }
        Err(why) => {
            let _ = write!(console, "store: skipped {}: {}\r\n", report.name, why);
            defmt::warn!(
                "store: skipped {=str}: {=str}",
                report.name.as_str(),
                why.as_str()
            );
        }
    });
    if loaded > 0 {
        let _ = write!(console, "store: {loaded} plugin(s) installed\r\n");
    }
}
