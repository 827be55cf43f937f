//! `kplug store`: the board's plugin store: info, list, remove, erase.

use anyhow::Context;
use clap::{Args, Subcommand};
use plugin_host_tool::plugin_format::store::{StoreInfo, StoredPluginSummary};
use plugin_host_tool::store;

use super::provision::no_store;
use super::{TargetArgs, human_bytes};

/// The plugin store: what the board keeps across reboots.
#[derive(Debug, Args)]
#[command(
    long_about = "The board's plugin store: plugins uploaded with `kplug upload --persist` (their \
description, module, limits, trap policy, attachments and signature) and the provisioned public \
keys, kept in flash (a QEMU board's second flash chip, BOARD.flash.store beside its image) so that \
they survive power cuts and reboots. Every stored plugin is either its old or its new version \
after a power cut, never a mixture.",
    after_help = "\
Examples:
  kplug store info           size, use, erase count, keys
  kplug store list           the stored plugins
  kplug store remove crc32   the plugin stays loaded until unloaded, but is not installed at boot
  kplug store erase          remove every stored plugin (the keys stay)"
)]
pub struct Store {
    /// What to do.
    #[command(subcommand)]
    action: Action,

    /// Print the firmware's answer as JSON.
    #[arg(long, global = true)]
    json: bool,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

/// The store subcommands.
#[derive(Debug, Subcommand)]
enum Action {
    /// The store's size, use, page erases since boot, and the provisioned keys.
    Info,
    /// The stored plugins.
    List,
    /// Remove a stored plugin.
    Remove {
        /// The stored plugin's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Remove every stored plugin; the provisioned keys stay.
    Erase,
}

impl Store {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        match self.action {
            Action::Info => {
                let info = store::info(&mut link).map_err(no_store)?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&info)?);
                } else {
                    print!("{}", info_text(&info));
                }
            }
            Action::List => {
                let plugins = store::list(&mut link).map_err(no_store)?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&plugins)?);
                } else {
                    print!("{}", list_text(&plugins));
                }
            }
            Action::Remove { name } => {
                store::remove(&mut link, &name)
                    .map_err(no_store)
                    .with_context(|| format!("cannot remove {name} from the store"))?;
                println!("removed {name} from the store");
            }
            Action::Erase => {
                let count = store::erase(&mut link).map_err(no_store)?;
                println!("removed {count} plugin(s) from the store; the keys stay");
            }
        }
        Ok(())
    }
}

/// `kplug store info` as text.
pub fn info_text(info: &StoreInfo) -> String {
    let percent = if info.capacity_bytes == 0 {
        0.0
    } else {
        100.0 * f64::from(info.used_bytes) / f64::from(info.capacity_bytes)
    };
    let mut text = format!(
        "store     {} in {} pages, {} used ({percent:.1}%), {} plugin(s)\n",
        human_bytes(u64::from(info.capacity_bytes)),
        info.pages,
        human_bytes(u64::from(info.used_bytes)),
        info.plugins
    );
    text.push_str(&format!(
        "erases    {} page erase(s) since boot\n",
        info.erases_since_boot
    ));
    if info.keys.is_empty() {
        text.push_str("keys      none: unsigned plugins are accepted\n");
    } else {
        let keys: Vec<String> = info.keys.iter().map(ToString::to_string).collect();
        text.push_str(&format!(
            "keys      {} (epoch {}): only plugins signed by one of them are accepted\n",
            keys.join(", "),
            info.key_epoch
        ));
    }
    text
}

/// `kplug store list` as a table.
pub fn list_text(plugins: &[StoredPluginSummary]) -> String {
    if plugins.is_empty() {
        return "no plugin is stored\n".into();
    }
    let mut text = format!(
        "{:<24} {:<12} {:>10} {:<18} {:>4}  attachments\n",
        "name", "version", "module", "signed by", "gen"
    );
    for plugin in plugins {
        let attachments: Vec<String> = plugin
            .attachments
            .iter()
            .map(|spec| format!("{}@{}", spec.export, spec.point))
            .collect();
        text.push_str(&format!(
            "{:<24} {:<12} {:>10} {:<18} {:>4}  {}\n",
            plugin.name,
            plugin.version,
            human_bytes(u64::from(plugin.module_bytes)),
            plugin
                .signed_by
                .map_or_else(|| "unsigned".to_owned(), |key| key.to_string()),
            plugin.generation,
            if attachments.is_empty() {
                "-".to_owned()
            } else {
                attachments.join(" ")
            }
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_host_tool::plugin_format::attach::FaultAction;
    use plugin_host_tool::plugin_format::signature::KeyId;
    use plugin_host_tool::plugin_format::store::{AttachPoint, AttachSpec};

    /// The info text gives size, use, erases and the key rule; the list gives one line per plugin
    /// with its signer and attachments spelt as `kplug attach --to` takes them.
    #[test]
    fn info_and_list_text() {
        let info = StoreInfo {
            capacity_bytes: 2 << 20,
            used_bytes: 1 << 20,
            pages: 512,
            erases_since_boot: 7,
            plugins: 2,
            keys: vec![KeyId([0x12; 8])],
            key_epoch: 1,
        };
        let text = info_text(&info);
        assert!(
            text.contains("2.0 MiB in 512 pages, 1.0 MiB used (50.0%), 2 plugin(s)"),
            "{text}"
        );
        assert!(text.contains("7 page erase(s) since boot"));
        assert!(text.contains("1212121212121212 (epoch 1)"));
        let open = info_text(&StoreInfo {
            keys: Vec::new(),
            ..info
        });
        assert!(open.contains("unsigned plugins are accepted"));
        let list = list_text(&[StoredPluginSummary {
            name: "gray".into(),
            version: "1.2".into(),
            module_bytes: 719,
            attachments: vec![
                AttachSpec {
                    export: "transcode".into(),
                    point: AttachPoint::Channel {
                        name: "frames".into(),
                        position: Some(1),
                    },
                    on_fault: FaultAction::Keep,
                },
                AttachSpec {
                    export: "tick".into(),
                    point: AttachPoint::Timer { period_us: 10_000 },
                    on_fault: FaultAction::Keep,
                },
                AttachSpec {
                    export: "init".into(),
                    point: AttachPoint::Boot,
                    on_fault: FaultAction::Keep,
                },
            ],
            signed_by: None,
            generation: 3,
        }]);
        assert!(list.contains("unsigned"), "{list}");
        assert!(
            list.contains("transcode@channel:frames@1 tick@timer:10ms init@boot"),
            "{list}"
        );
        assert_eq!(list_text(&[]), "no plugin is stored\n");
    }
}
