//! `kplug keygen`: make an Ed25519 key pair for signed uploads.

use std::path::PathBuf;

use clap::Args;
use plugin_host_tool::signing;

/// Make an Ed25519 key pair for signing plugins.
#[derive(Debug, Args)]
#[command(
    long_about = "Make an Ed25519 key pair for signed uploads. The secret key goes to KEY (PEM, \
PKCS#8, mode 0600: only you can read it) and the public key to KEY.pub (PEM). OpenSSL reads both \
(`openssl pkey -in KEY -pubout`). kplug prints the key id, the first 8 bytes of the public key, \
which boards and `kplug store list` use to name it. Keep KEY secret: whoever holds it can load \
code on every board that trusts KEY.pub.",
    after_help = "\
Examples:
  kplug keygen release.key                   writes release.key and release.key.pub
  kplug provision --pubkey release.key.pub   the board now trusts it (and refuses unsigned plugins)
  kplug upload app.wasm --sign release.key --persist"
)]
pub struct Keygen {
    /// Where to write the secret key; the public key goes beside it with `.pub` added.
    #[arg(value_name = "KEY")]
    key: PathBuf,

    /// Replace existing key files (the old secret key is lost).
    #[arg(long)]
    force: bool,
}

impl Keygen {
    /// Makes and writes the key pair.
    pub fn run(self) -> anyhow::Result<()> {
        let public = signing::keygen(&self.key, self.force)?;
        println!(
            "key {}: secret {} (mode 600), public {}",
            public.id(),
            self.key.display(),
            signing::public_key_path(&self.key).display()
        );
        Ok(())
    }
}
