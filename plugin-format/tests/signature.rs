//! The bytes a signature covers, byte by byte, and the key id.

use plugin_format::signature::{
    Ed25519Signature, KEY_CHANGE_DOMAIN, KeyChange, KeyId, PLUGIN_SIGNATURE_DOMAIN, PublicKey,
    SignatureRefusal, key_change_message, plugin_signed_message, plugin_signed_prefix,
};
use plugin_format::{ImportRequest, Limits, PluginDescription};

/// A public key whose bytes are 1, 2, ..., 32.
fn key() -> PublicKey {
    let mut bytes = [0; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = index as u8 + 1;
    }
    PublicKey(bytes)
}

/// Proves that a key's id is its first 8 bytes, printed as 16 hex digits.
#[test]
fn key_id_is_the_first_eight_bytes() {
    assert_eq!(key().id(), KeyId([1, 2, 3, 4, 5, 6, 7, 8]));
    assert_eq!(key().id().to_string(), "0102030405060708");
}

/// Proves exactly what a plugin signature covers: the domain, then the postcard description with
/// its module, each field in order.
#[test]
fn plugin_signed_message_is_domain_then_postcard_description() {
    let description = PluginDescription {
        name: "ab".into(),
        version: "1".into(),
        limits: Limits {
            max_memory_pages: 2,
            stack_bytes: 300,
            budget_us: 5,
        },
        imports: vec![ImportRequest {
            module: "env".into(),
            name: "log".into(),
        }],
        module: vec![0x00, 0x61, 0x73, 0x6D],
    };
    let message = plugin_signed_message(&description);
    let (domain, body) = message.split_at(PLUGIN_SIGNATURE_DOMAIN.len());
    assert_eq!(domain, b"kplug plugin signature v1\0");
    #[rustfmt::skip]
    let expected: &[u8] = &[
        2, b'a', b'b',              // name: length, bytes
        1, b'1',                    // version
        2,                          // limits.max_memory_pages
        0xAC, 0x02,                 // limits.stack_bytes = 300 (varint)
        5,                          // limits.budget_us
        1,                          // one import
        3, b'e', b'n', b'v',        //   module
        3, b'l', b'o', b'g',        //   name
        4, 0x00, 0x61, 0x73, 0x6D,  // module: length, bytes
    ];
    assert_eq!(body, expected);
    assert_eq!(
        message,
        [
            PLUGIN_SIGNATURE_DOMAIN,
            &postcard::to_allocvec(&description).unwrap()
        ]
        .concat()
    );
    let prefix = plugin_signed_prefix(&description);
    assert_eq!(message, [prefix.as_slice(), &description.module].concat());
    let mut changed = description.clone();
    changed.module[3] ^= 1;
    assert_ne!(plugin_signed_message(&changed), message);
}

/// Proves what a key change's signature covers: the domain, the change and the epoch, so the same
/// change at another epoch is a different message.
#[test]
fn key_change_message_binds_the_epoch() {
    let message = key_change_message(&KeyChange::Remove(key().id()), 300);
    let (domain, body) = message.split_at(KEY_CHANGE_DOMAIN.len());
    assert_eq!(domain, b"kplug key change v1\0");
    #[rustfmt::skip]
    let expected: &[u8] = &[
        1,                          // KeyChange::Remove
        1, 2, 3, 4, 5, 6, 7, 8,     // the key id
        0xAC, 0x02,                 // epoch 300 (varint)
    ];
    assert_eq!(body, expected);
    assert_ne!(
        key_change_message(&KeyChange::Remove(key().id()), 301),
        message
    );
    let add = key_change_message(&KeyChange::Add(key()), 0);
    assert_eq!(add[KEY_CHANGE_DOMAIN.len()..][..2], [0, 1]);
    assert_eq!(add.len(), KEY_CHANGE_DOMAIN.len() + 1 + 32 + 1);
}

/// Proves that a signature's halves round-trip through the RFC 8032 byte order (`R || S`).
#[test]
fn signature_bytes_round_trip() {
    let mut bytes = [0u8; 64];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = index as u8;
    }
    let signature = Ed25519Signature::from_bytes(&bytes);
    assert_eq!(signature.r[0], 0);
    assert_eq!(signature.s[0], 32);
    assert_eq!(signature.to_bytes(), bytes);
}

/// Proves that every refusal explains itself, naming the key where there is one.
#[test]
fn refusals_name_the_key() {
    let id = key().id();
    assert!(
        SignatureRefusal::UnknownKey(id)
            .to_string()
            .contains("0102030405060708")
    );
    assert!(
        SignatureRefusal::BadSignature(id)
            .to_string()
            .contains("0102030405060708")
    );
    assert!(SignatureRefusal::Unsigned.to_string().contains("--sign"));
}
