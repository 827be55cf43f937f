//! `kplug provision`: give a board a public key to check signed uploads with, or take one away.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::plugin_format::signature::KeyChange;
use plugin_host_tool::{signing, store};

use super::TargetArgs;

/// Provision (or remove) a public key on a board.
#[derive(Debug, Args)]
#[command(
    long_about = "Store a public key on the board (in its plugin store, so it survives reboots). \
From then on the board refuses unsigned plugins, plugins signed with a key it does not hold, and \
plugins whose signature does not verify, each with its own error. The first key is accepted as it \
comes. Once the board holds a key, adding another or removing one must be signed with a key it \
already holds (--sign); the signature covers the change and the board's key epoch, so it cannot \
be replayed. The other way to remove keys is to reflash the store (for a QEMU board: delete \
BOARD.flash.store while the board is down).",
    after_help = "\
Examples:
  kplug provision --pubkey release.key.pub
  kplug provision --pubkey ci.key.pub --sign release.key       a second key, approved by the first
  kplug provision --remove 0123456789abcdef --sign release.key  remove a key by its id"
)]
pub struct Provision {
    /// The public key file to provision (`kplug keygen` writes KEY.pub).
    #[arg(long, value_name = "FILE", required_unless_present = "remove")]
    pubkey: Option<PathBuf>,

    /// Remove the key with this id (16 hex digits, as `kplug store info` shows) instead.
    #[arg(long, value_name = "KEY_ID", conflicts_with = "pubkey")]
    remove: Option<String>,

    /// Sign the change with this secret key (needed once the board holds a key).
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Provision {
    /// Reads the board's key epoch, signs the change if asked, and sends it.
    pub fn run(self) -> anyhow::Result<()> {
        let change = match (&self.pubkey, &self.remove) {
            (Some(path), _) => KeyChange::Add(signing::read_public_key(path)?),
            (None, Some(id)) => KeyChange::Remove(
                signing::parse_key_id(id)
                    .with_context(|| format!("{id:?} is not a key id (16 hex digits)"))?,
            ),
            (None, None) => bail!("give --pubkey FILE or --remove KEY_ID"),
        };
        let pair = self
            .sign
            .as_deref()
            .map(signing::read_secret_key)
            .transpose()?;
        let mut link = self.target.connect()?;
        let info = store::info(&mut link).map_err(no_store)?;
        if !info.keys.is_empty() && pair.is_none() {
            bail!(
                "the board holds {} key(s) ({}); sign the change with one of them (--sign KEY)",
                info.keys.len(),
                info.keys
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let signature = pair
            .as_ref()
            .map(|pair| signing::sign_key_change(pair, &change, info.key_epoch));
        let after = store::change_key(&mut link, change, info.key_epoch, signature)
            .map_err(no_store)
            .context("the board refused the key change")?;
        match change {
            KeyChange::Add(key) => println!("key {} provisioned", key.id()),
            KeyChange::Remove(id) => println!("key {id} removed"),
        }
        println!(
            "the board holds {} key(s), key epoch {}",
            after.keys.len(),
            after.key_epoch
        );
        Ok(())
    }
}

/// Explains an `UnknownRequest` as a firmware without a store.
pub fn no_store(error: plugin_host_tool::link::LinkError) -> anyhow::Error {
    if store::unsupported(&error) {
        anyhow::anyhow!(
            "the firmware on this board has no plugin store (it does not know the request)"
        )
    } else {
        error.into()
    }
}
