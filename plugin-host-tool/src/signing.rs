//! Ed25519 keys for signed uploads on the host: key pair files, and signatures over a plugin
//! description or a key change (what exactly is signed: `plugin_format::signature`).
//!
//! Key files are PEM, the PKCS#8 and SubjectPublicKeyInfo forms OpenSSL reads and writes
//! (`openssl pkey -in KEY -pubout`): `kplug keygen KEY` writes the secret key to `KEY` (mode 0600,
//! never over an existing file unless asked) and the public key to `KEY.pub`. Signatures are
//! deterministic (RFC 8032: no added noise), so signing the same description twice gives the same
//! bytes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_compact::{KeyPair, PublicKey as Ed25519PublicKey};
use plugin_format::PluginDescription;
use plugin_format::signature::{
    Ed25519Signature, KeyChange, KeyId, PublicKey, SignedBy, key_change_message,
    plugin_signed_message,
};

/// The public key file's suffix, after the secret key file's name.
pub const PUBLIC_KEY_SUFFIX: &str = ".pub";
/// Permissions of a secret key file: the owner reads and writes, nobody else.
pub const SECRET_KEY_MODE: u32 = 0o600;
/// Permissions of a public key file.
pub const PUBLIC_KEY_MODE: u32 = 0o644;

/// Why a key could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file exists and `--force` was not given.
    #[error("{} exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    /// Reading or writing a key file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not an Ed25519 key in PEM form.
    #[error("{} is not an Ed25519 {kind} key in PEM form (kplug keygen writes them)", path.display())]
    NotAKey {
        /// The file.
        path: PathBuf,
        /// "secret" or "public".
        kind: &'static str,
    },
    /// A secret key file others can read.
    #[error(
        "{} can be read by others (mode {mode:o}); make it private with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// The public key file for the secret key file `secret`: `secret` + [`PUBLIC_KEY_SUFFIX`].
pub fn public_key_path(secret: &Path) -> PathBuf {
    let mut name = secret.file_name().unwrap_or_default().to_os_string();
    name.push(PUBLIC_KEY_SUFFIX);
    secret.with_file_name(name)
}

/// Makes a new key pair and writes it to `secret` (mode 0600) and its `.pub` file; refuses to
/// replace either file unless `force`. Returns the public key.
pub fn keygen(secret: &Path, force: bool) -> Result<PublicKey, KeyError> {
    let public = public_key_path(secret);
    if !force {
        for path in [secret, public.as_path()] {
            if path.exists() {
                return Err(KeyError::Exists(path.to_owned()));
            }
        }
    }
    let pair = KeyPair::generate();
    write_file(secret, pair.sk.to_pem().as_bytes(), SECRET_KEY_MODE)?;
    write_file(&public, pair.pk.to_pem().as_bytes(), PUBLIC_KEY_MODE)?;
    Ok(PublicKey(*pair.pk))
}

/// Writes `bytes` to `path` with `mode`, through a temporary file created with that mode (the
/// secret is never readable by others, not even for a moment).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = path.with_file_name(format!(".{file_name}.kplug-tmp"));
    let _ = fs::remove_file(&temporary);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    result.map_err(|error| {
        let _ = fs::remove_file(&temporary);
        io(error)
    })
}

/// Reads a secret key file (and checks that only its owner can read it).
pub fn read_secret_key(path: &Path) -> Result<KeyPair, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(io)?;
    let not_a_key = || KeyError::NotAKey {
        path: path.to_owned(),
        kind: "secret",
    };
    let secret = ed25519_compact::SecretKey::from_pem(&text).map_err(|_| not_a_key())?;
    let pair = KeyPair {
        pk: secret.public_key(),
        sk: secret,
    };
    pair.validate().map_err(|_| not_a_key())?;
    Ok(pair)
}

/// Reads a public key file; a secret key file is accepted too (its public half is taken).
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    if let Ok(key) = Ed25519PublicKey::from_pem(&text) {
        return Ok(PublicKey(*key));
    }
    if let Ok(secret) = ed25519_compact::SecretKey::from_pem(&text) {
        return Ok(PublicKey(*secret.public_key()));
    }
    Err(KeyError::NotAKey {
        path: path.to_owned(),
        kind: "public",
    })
}

/// The public key of `pair`.
pub fn public_key(pair: &KeyPair) -> PublicKey {
    PublicKey(*pair.pk)
}

/// Signs `message` with `pair`, deterministically.
fn sign(pair: &KeyPair, message: &[u8]) -> SignedBy {
    SignedBy {
        key: public_key(pair).id(),
        signature: Ed25519Signature::from_bytes(&pair.sk.sign(message, None)),
    }
}

/// Signs a plugin: its description with the module, as the firmware checks it.
pub fn sign_plugin(pair: &KeyPair, description: &PluginDescription) -> SignedBy {
    sign(pair, &plugin_signed_message(description))
}

/// Signs a key change for the board's key epoch `epoch`.
pub fn sign_key_change(pair: &KeyPair, change: &KeyChange, epoch: u32) -> SignedBy {
    sign(pair, &key_change_message(change, epoch))
}

/// Parses a key id: 16 hex digits.
pub fn parse_key_id(text: &str) -> Option<KeyId> {
    if text.len() != 16 {
        return None;
    }
    let mut id = [0u8; 8];
    for (index, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(KeyId(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_format::Limits;

    fn description() -> PluginDescription {
        PluginDescription {
            name: "crc32".into(),
            version: "1".into(),
            limits: Limits::default(),
            imports: Vec::new(),
            module: b"\0asm\x01\0\0\0".to_vec(),
        }
    }

    /// Proves keygen: a secret file only its owner can read, a public file beside it, both PEM
    /// and read back to the same key; no file is replaced without `force`.
    #[test]
    fn keygen_writes_private_and_public_files() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("release");
        let public = keygen(&secret, false).unwrap();
        assert_eq!(public_key_path(&secret), dir.path().join("release.pub"));
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secret), 0o600);
        assert_eq!(mode(&public_key_path(&secret)), 0o644);
        assert!(
            fs::read_to_string(&secret)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert!(
            fs::read_to_string(public_key_path(&secret))
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert_eq!(public_key(&read_secret_key(&secret).unwrap()), public);
        assert_eq!(read_public_key(&public_key_path(&secret)).unwrap(), public);
        assert_eq!(read_public_key(&secret).unwrap(), public);
        assert!(matches!(keygen(&secret, false), Err(KeyError::Exists(_))));
        let replaced = keygen(&secret, true).unwrap();
        assert_ne!(replaced, public);
    }

    /// Proves that a secret key others can read is refused, and that a file that is no key gets
    /// its own error.
    #[test]
    fn exposed_and_bogus_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("key");
        keygen(&secret, false).unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_secret_key(&secret),
            Err(KeyError::Exposed { mode: 0o644, .. })
        ));
        let bogus = dir.path().join("bogus");
        fs::write(&bogus, "hello").unwrap();
        assert!(matches!(
            read_public_key(&bogus),
            Err(KeyError::NotAKey { kind: "public", .. })
        ));
    }

    /// Proves that the host's signature is the one the firmware's rules accept: deterministic,
    /// over the description with its module, and verifiable with the public key alone.
    #[test]
    fn plugin_signatures_verify_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("key");
        let public = keygen(&secret, false).unwrap();
        let pair = read_secret_key(&secret).unwrap();
        let signed = sign_plugin(&pair, &description());
        assert_eq!(signed, sign_plugin(&pair, &description()));
        assert_eq!(signed.key, public.id());
        let key = Ed25519PublicKey::new(public.0);
        let signature = ed25519_compact::Signature::new(signed.signature.to_bytes());
        key.verify(plugin_signed_message(&description()), &signature)
            .unwrap();
        let mut other = description();
        other.version = "2".into();
        assert!(
            key.verify(plugin_signed_message(&other), &signature)
                .is_err()
        );
    }

    /// Proves key id parsing: exactly 16 hex digits.
    #[test]
    fn key_ids_parse_from_hex() {
        assert_eq!(
            parse_key_id("0102030405060708"),
            Some(KeyId([1, 2, 3, 4, 5, 6, 7, 8]))
        );
        assert_eq!(parse_key_id("01020304050607"), None);
        assert_eq!(parse_key_id("01020304050607zz"), None);
        assert_eq!(parse_key_id("é102030405060708"), None);
    }
}
