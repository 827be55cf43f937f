//! Signed uploads on the board: a plugin's Ed25519 signature checked against the provisioned
//! keys, and the rules for changing those keys (what is signed: `plugin_format::signature`).
//!
//! - A board without a key accepts every plugin as it did before signing existed; a signature on
//!   such an upload is not checked (there is nothing to check it against).
//! - A board with a key refuses an unsigned plugin, one signed by a key it does not hold, and one
//!   whose signature does not verify, each with its own [`SignatureRefusal`].
//! - The first key is provisioned as it comes. Once a key is held, every key change (adding one,
//!   removing one) must be signed by a held key over the change and the current key epoch; each
//!   change increments the epoch, so a signed change cannot be replayed.
//!
//! Verification hashes the signed prefix and then the module where it lies (ed25519-compact's
//! incremental verification), so a 256 KiB module is never copied.

use alloc::vec::Vec;

use plugin_format::PluginDescription;
use plugin_format::signature::{
    KeyChange, KeyId, MAX_BOARD_KEYS, PublicKey, SignatureRefusal, SignedBy, key_change_message,
    plugin_signed_prefix,
};

use crate::store::format::BoardKeys;

/// Checks `signature` over the parts of a signed message against `key`.
fn verifies(key: &PublicKey, signature: &SignedBy, parts: &[&[u8]]) -> bool {
    let key = ed25519_compact::PublicKey::new(key.0);
    let signature = ed25519_compact::Signature::new(signature.signature.to_bytes());
    let Ok(mut state) = key.verify_incremental(&signature) else {
        return false;
    };
    for part in parts {
        state.absorb(part);
    }
    state.verify().is_ok()
}

/// Finds the held key `signature` names and checks the signature over `parts` with it.
fn check(
    keys: &BoardKeys,
    signature: Option<&SignedBy>,
    parts: &[&[u8]],
) -> Result<KeyId, SignatureRefusal> {
    let signature = signature.ok_or(SignatureRefusal::Unsigned)?;
    let key = keys
        .keys
        .iter()
        .find(|key| key.id() == signature.key)
        .ok_or(SignatureRefusal::UnknownKey(signature.key))?;
    if verifies(key, signature, parts) {
        Ok(signature.key)
    } else {
        Err(SignatureRefusal::BadSignature(signature.key))
    }
}

/// Decides whether a board holding `keys` accepts the plugin `description` (module included)
/// uploaded with `signature`: `Ok(Some(key))` when a held key's signature verified, `Ok(None)` when
/// the board holds no key, a refusal otherwise.
pub fn check_plugin(
    description: &PluginDescription,
    signature: Option<&SignedBy>,
    keys: &BoardKeys,
) -> Result<Option<KeyId>, SignatureRefusal> {
    if keys.keys.is_empty() {
        return Ok(None);
    }
    let prefix = plugin_signed_prefix(description);
    check(keys, signature, &[&prefix, &description.module]).map(Some)
}

/// The keys after `change`, made for key epoch `epoch` and signed with `signature`, or why the
/// board refuses it. The epoch of the result is one more than `keys.epoch`.
pub fn change_keys(
    keys: &BoardKeys,
    change: &KeyChange,
    epoch: u32,
    signature: Option<&SignedBy>,
) -> Result<BoardKeys, SignatureRefusal> {
    if epoch != keys.epoch {
        return Err(SignatureRefusal::StaleEpoch {
            current: keys.epoch,
        });
    }
    if !keys.keys.is_empty() {
        check(keys, signature, &[&key_change_message(change, epoch)])?;
    }
    let mut new_keys: Vec<PublicKey> = keys.keys.clone();
    match change {
        KeyChange::Add(key) => {
            if new_keys.iter().any(|held| held.id() == key.id()) {
                return Err(SignatureRefusal::KeyPresent(key.id()));
            }
            if new_keys.len() >= MAX_BOARD_KEYS {
                return Err(SignatureRefusal::TooManyKeys);
            }
            new_keys.push(*key);
        }
        KeyChange::Remove(id) => {
            let index = new_keys
                .iter()
                .position(|held| held.id() == *id)
                .ok_or(SignatureRefusal::UnknownKey(*id))?;
            new_keys.remove(index);
        }
    }
    Ok(BoardKeys {
        epoch: keys.epoch.wrapping_add(1),
        keys: new_keys,
    })
}

/// Keys made from one seed byte, and signatures by them, for host tests of signed uploads.
#[cfg(feature = "fake")]
pub mod fake {
    use plugin_format::signature::{Ed25519Signature, PublicKey, SignedBy};

    /// The key pair whose seed is 32 bytes of `seed`.
    pub fn key_pair(seed: u8) -> ed25519_compact::KeyPair {
        ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([seed; 32]))
    }

    /// The public half of `pair`, as a board holds it.
    pub fn public(pair: &ed25519_compact::KeyPair) -> PublicKey {
        PublicKey(*pair.pk)
    }

    /// `pair`'s signature over `message`, naming its key.
    pub fn sign(pair: &ed25519_compact::KeyPair, message: &[u8]) -> SignedBy {
        SignedBy {
            key: public(pair).id(),
            signature: Ed25519Signature::from_bytes(&pair.sk.sign(message, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{key_pair, public, sign};
    use super::*;
    use alloc::vec;
    use plugin_format::signature::plugin_signed_message;
    use plugin_format::{ImportRequest, Limits};

    fn description(module_bytes: usize) -> PluginDescription {
        PluginDescription {
            name: "crc32".into(),
            version: "1".into(),
            limits: Limits::default(),
            imports: vec![ImportRequest {
                module: "env".into(),
                name: "log".into(),
            }],
            module: (0..module_bytes).map(|index| index as u8).collect(),
        }
    }

    fn keys(pairs: &[&ed25519_compact::KeyPair]) -> BoardKeys {
        BoardKeys {
            epoch: 7,
            keys: pairs.iter().map(|pair| public(pair)).collect(),
        }
    }

    /// Proves the upload rules: no key, anything goes; with a key, a good signature names its key
    /// (also for a 256 KiB module, verified in place), and unsigned, unknown-key and bad signatures
    /// are refused with their own refusals, including a signature over another module or name.
    #[test]
    fn plugin_signatures() {
        let owner = key_pair(1);
        let stranger = key_pair(2);
        let plugin = description(300);
        let signed = sign(&owner, &plugin_signed_message(&plugin));
        assert_eq!(check_plugin(&plugin, None, &BoardKeys::default()), Ok(None));
        assert_eq!(
            check_plugin(&plugin, Some(&signed), &BoardKeys::default()),
            Ok(None)
        );
        let board = keys(&[&stranger, &owner]);
        assert_eq!(
            check_plugin(&plugin, Some(&signed), &board),
            Ok(Some(public(&owner).id()))
        );
        assert_eq!(
            check_plugin(&plugin, None, &board),
            Err(SignatureRefusal::Unsigned)
        );
        let by_stranger = sign(&stranger, &plugin_signed_message(&plugin));
        assert_eq!(
            check_plugin(&plugin, Some(&by_stranger), &keys(&[&owner])),
            Err(SignatureRefusal::UnknownKey(public(&stranger).id()))
        );
        let mut tampered = plugin.clone();
        tampered.module[299] ^= 0x80;
        assert_eq!(
            check_plugin(&tampered, Some(&signed), &board),
            Err(SignatureRefusal::BadSignature(public(&owner).id()))
        );
        let mut renamed = plugin.clone();
        renamed.name = "crc33".into();
        assert_eq!(
            check_plugin(&renamed, Some(&signed), &board),
            Err(SignatureRefusal::BadSignature(public(&owner).id()))
        );
        let mut lying = signed;
        lying.key = public(&stranger).id();
        assert_eq!(
            check_plugin(&plugin, Some(&lying), &board),
            Err(SignatureRefusal::BadSignature(public(&stranger).id()))
        );
        let largest = description(256 * 1024);
        let signed = sign(&owner, &plugin_signed_message(&largest));
        assert_eq!(
            check_plugin(&largest, Some(&signed), &board),
            Ok(Some(public(&owner).id()))
        );
    }

    /// Proves the key rules: the first key is taken as it comes; later changes need a held key's
    /// signature over the change at the current epoch; a replay at the next epoch is refused; the
    /// last key can be removed by its own signature; limits and duplicates are refused.
    #[test]
    fn key_changes() {
        let first = key_pair(1);
        let second = key_pair(2);
        let empty = BoardKeys {
            epoch: 0,
            keys: Vec::new(),
        };
        let add_first = KeyChange::Add(public(&first));
        let board = change_keys(&empty, &add_first, 0, None).unwrap();
        assert_eq!(board.epoch, 1);
        assert_eq!(board.keys, [public(&first)]);
        assert_eq!(
            change_keys(&empty, &add_first, 1, None),
            Err(SignatureRefusal::StaleEpoch { current: 0 })
        );

        let add_second = KeyChange::Add(public(&second));
        assert_eq!(
            change_keys(&board, &add_second, 1, None),
            Err(SignatureRefusal::Unsigned)
        );
        let self_signed = sign(&second, &key_change_message(&add_second, 1));
        assert_eq!(
            change_keys(&board, &add_second, 1, Some(&self_signed)),
            Err(SignatureRefusal::UnknownKey(public(&second).id()))
        );
        let approved = sign(&first, &key_change_message(&add_second, 1));
        let board = change_keys(&board, &add_second, 1, Some(&approved)).unwrap();
        assert_eq!(board.keys.len(), 2);
        assert_eq!(
            change_keys(&board, &add_second, 1, Some(&approved)),
            Err(SignatureRefusal::StaleEpoch { current: 2 })
        );
        let signed_for_old_epoch = sign(&first, &key_change_message(&add_second, 1));
        assert_eq!(
            change_keys(&board, &add_second, 2, Some(&signed_for_old_epoch)),
            Err(SignatureRefusal::BadSignature(public(&first).id()))
        );
        let again = sign(&first, &key_change_message(&add_second, 2));
        assert_eq!(
            change_keys(&board, &add_second, 2, Some(&again)),
            Err(SignatureRefusal::KeyPresent(public(&second).id()))
        );

        let remove_first = KeyChange::Remove(public(&first).id());
        let by_second = sign(&second, &key_change_message(&remove_first, 2));
        let board = change_keys(&board, &remove_first, 2, Some(&by_second)).unwrap();
        assert_eq!(board.keys, [public(&second)]);
        let remove_last = KeyChange::Remove(public(&second).id());
        let by_itself = sign(&second, &key_change_message(&remove_last, 3));
        let board = change_keys(&board, &remove_last, 3, Some(&by_itself)).unwrap();
        assert!(board.keys.is_empty());
        assert_eq!(board.epoch, 4);
        assert_eq!(
            change_keys(&board, &remove_last, 4, None),
            Err(SignatureRefusal::UnknownKey(public(&second).id()))
        );

        let mut full = BoardKeys {
            epoch: 0,
            keys: Vec::new(),
        };
        for seed in 10..10 + MAX_BOARD_KEYS as u8 {
            full.keys.push(public(&key_pair(seed)));
        }
        let add = KeyChange::Add(public(&first));
        let signed = sign(&key_pair(10), &key_change_message(&add, 0));
        assert_eq!(
            change_keys(&full, &add, 0, Some(&signed)),
            Err(SignatureRefusal::TooManyKeys)
        );
    }
}
