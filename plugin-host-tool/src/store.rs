//! The plugin store and the board's keys over the host link: finishing an upload signed and/or
//! persisted, store info, list, remove and erase, and key changes.

use plugin_format::message::{Reply, Request, UploadReport};
use plugin_format::signature::{KeyChange, SignedBy};
use plugin_format::store::{StoreInfo, StoredPluginSummary};
use plugin_format::{PluginDescription, RequestError};

use crate::link::{Link, LinkError};
use crate::plugin::{expect, send_module};
use crate::transport::Transport;

/// What the host asks for at the end of an upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Finish {
    /// The signature over the description (see `signing::sign_plugin`).
    pub signature: Option<SignedBy>,
    /// Keep the plugin in the store once it has loaded.
    pub persist: bool,
}

/// Uploads `description` and ends the upload with `UploadFinish`: the firmware checks the
/// signature, validates, compiles and links, and stores the plugin if asked.
pub fn upload<T: Transport>(
    link: &mut Link<T>,
    description: PluginDescription,
    finish: Finish,
    progress: impl FnMut(usize, usize),
) -> Result<UploadReport, LinkError> {
    let crc32 = send_module(link, description, progress)?;
    expect(
        link,
        Request::UploadFinish {
            crc32,
            signature: finish.signature,
            persist: finish.persist,
        },
        "upload finish",
        |reply| match reply {
            Reply::UploadFinished(report) => Some(report),
            _ => None,
        },
    )
}

/// The store's size, use, erase count and keys.
pub fn info<T: Transport>(link: &mut Link<T>) -> Result<StoreInfo, LinkError> {
    expect(
        link,
        Request::StoreInfo,
        "store info",
        |reply| match reply {
            Reply::StoreInfo(info) => Some(info),
            _ => None,
        },
    )
}

/// The stored plugins.
pub fn list<T: Transport>(link: &mut Link<T>) -> Result<Vec<StoredPluginSummary>, LinkError> {
    expect(
        link,
        Request::StoreList,
        "store list",
        |reply| match reply {
            Reply::StoredPlugins(plugins) => Some(plugins),
            _ => None,
        },
    )
}

/// Removes the stored plugin `name`.
pub fn remove<T: Transport>(link: &mut Link<T>, name: &str) -> Result<(), LinkError> {
    expect(
        link,
        Request::StoreRemove { name: name.into() },
        "store remove",
        |reply| matches!(reply, Reply::StoreRemoved).then_some(()),
    )
}

/// Removes every stored plugin (keys stay); returns how many there were.
pub fn erase<T: Transport>(link: &mut Link<T>) -> Result<u32, LinkError> {
    expect(
        link,
        Request::StoreErase,
        "store erase",
        |reply| match reply {
            Reply::StoreErased(count) => Some(count),
            _ => None,
        },
    )
}

/// Applies a key change made for key epoch `epoch`; returns the store info after it.
pub fn change_key<T: Transport>(
    link: &mut Link<T>,
    change: KeyChange,
    epoch: u32,
    signature: Option<SignedBy>,
) -> Result<StoreInfo, LinkError> {
    expect(
        link,
        Request::ChangeKey {
            change,
            epoch,
            signature,
        },
        "key change",
        |reply| match reply {
            Reply::StoreInfo(info) => Some(info),
            _ => None,
        },
    )
}

/// Whether `error` says the firmware does not know store requests (a firmware from before the
/// store, or one without store support).
pub fn unsupported(error: &LinkError) -> bool {
    matches!(error, LinkError::Device(RequestError::UnknownRequest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::tests::{ScriptedBoard, wire};
    use plugin_format::Limits;
    use plugin_format::message::IsolationMode;
    use plugin_format::message::{DeviceFrame, HostFrame, LoadReport, StepTime};
    use plugin_format::signature::{Ed25519Signature, KeyId};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn signed() -> SignedBy {
        SignedBy {
            key: KeyId([1; 8]),
            signature: Ed25519Signature {
                r: [2; 32],
                s: [3; 32],
            },
        }
    }

    fn load_report() -> LoadReport {
        LoadReport {
            id: 1,
            name: "crc32".into(),
            compile: StepTime::default(),
            install: StepTime::default(),
            link: StepTime::default(),
            wasm_bytes: 5000,
            code_bytes: 100,
            memory_bytes: 0,
            imports: Vec::new(),
            exports: Vec::new(),
            isolation: IsolationMode::Software,
        }
    }

    /// Proves that `upload` sends the description, the module in chunks, then `UploadFinish`
    /// with the signature, the persist flag and the module's CRC, and returns the report.
    #[test]
    fn signed_persisted_upload_ends_with_upload_finish() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let board = ScriptedBoard::new(
            64,
            Box::new(move |frame: &HostFrame| {
                recorded.lock().unwrap().push(frame.request.clone());
                let reply = match &frame.request {
                    Request::UploadBegin { .. } => Reply::UploadReady,
                    Request::UploadChunk { offset, bytes } => {
                        Reply::ChunkAccepted(offset + bytes.len() as u32)
                    }
                    Request::UploadFinish { .. } => Reply::UploadFinished(UploadReport {
                        load: load_report(),
                        verify: Some(StepTime {
                            cycles: 10,
                            micros: 1,
                        }),
                        signed_by: Some(KeyId([1; 8])),
                        store: Some(StepTime::default()),
                    }),
                    other => panic!("unexpected {other:?}"),
                };
                vec![wire(&DeviceFrame::Response {
                    seq: frame.seq,
                    result: Ok(reply),
                })]
            }),
        );
        let mut link = Link::new(board);
        link.set_timeout(Duration::from_secs(2));
        let module = vec![7u8; 5000];
        let description = PluginDescription {
            name: "crc32".into(),
            version: "1".into(),
            limits: Limits::default(),
            imports: Vec::new(),
            module: module.clone(),
        };
        let finish = Finish {
            signature: Some(signed()),
            persist: true,
        };
        let report = upload(&mut link, description, finish, |_, _| {}).unwrap();
        assert_eq!(report.signed_by, Some(KeyId([1; 8])));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1 + 3 + 1);
        assert_eq!(
            seen.last(),
            Some(&Request::UploadFinish {
                crc32: plugin_format::frame::crc32(&module),
                signature: Some(signed()),
                persist: true,
            })
        );
    }

    /// Proves that a firmware without store support is recognised (it answers `UnknownRequest`).
    #[test]
    fn unknown_request_means_no_store_support() {
        let board = ScriptedBoard::new(
            64,
            Box::new(|frame: &HostFrame| {
                vec![wire(&DeviceFrame::Response {
                    seq: frame.seq,
                    result: Err(RequestError::UnknownRequest),
                })]
            }),
        );
        let mut link = Link::new(board);
        link.set_timeout(Duration::from_secs(2));
        let error = list(&mut link).unwrap_err();
        assert!(unsupported(&error), "{error}");
        assert!(!unsupported(&LinkError::Closed));
    }
}
