//! The store service on the fake platform (any host), over the RAM flash: persisted uploads come
//! back through `install_all` after a "reboot" (the store reopened from the same flash, a new
//! plugin service), the signature rules on uploads and at boot, store list/remove/erase, and a
//! board without a store chip refusing with `NoStore`.

use kplug_core::Isolation;
use kplug_core::fake::{FakeDevice, FakePlatform};
use kplug_core::service::PluginService;
use kplug_core::signing::fake::{key_pair, public, sign};
use kplug_core::store::fake_flash::PowerCutFlash;
use kplug_core::store::service::StoreService;
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::frame::crc32;
use plugin_format::limits;
use plugin_format::message::{PluginRef, Reply, Request};
use plugin_format::plugin::{Limits, PluginDescription};
use plugin_format::signature::{
    KeyChange, SignatureRefusal, SignedBy, key_change_message, plugin_signed_message,
};
use plugin_format::store::StoreRefusal;

type Flash = PowerCutFlash<4096>;
type Plugins = PluginService<FakePlatform, FakeDevice>;

fn plugins() -> Plugins {
    PluginService::new(
        FakePlatform::new(limits::MAX_PLUGINS),
        FakeDevice::default(),
        Isolation::Software,
        limits::MAX_PLUGINS,
    )
}

fn description(name: &str, answer: i32) -> PluginDescription {
    let module = wat::parse_str(format!(
        r#"(module (func (export "answer") (result i32) i32.const {answer}))"#
    ))
    .unwrap();
    PluginDescription {
        name: name.into(),
        version: answer.to_string(),
        module,
        limits: Limits::default(),
        imports: Vec::new(),
    }
}

/// Sends `description` in one chunk and ends it with `end` (given the module's CRC).
fn upload(
    store: &mut StoreService<Flash>,
    plugins: &mut Plugins,
    mut description: PluginDescription,
    end: impl FnOnce(u32) -> Request,
) -> Result<Reply, RequestError> {
    let module = std::mem::take(&mut description.module);
    let size = module.len() as u32;
    let crc = crc32(&module);
    store.handle(
        plugins,
        Request::UploadBegin {
            description,
            module_bytes: size,
        },
    )?;
    store.handle(
        plugins,
        Request::UploadChunk {
            offset: 0,
            bytes: module,
        },
    )?;
    store.handle(plugins, end(crc))
}

fn finish(signature: Option<SignedBy>, persist: bool) -> impl FnOnce(u32) -> Request {
    move |crc32| Request::UploadFinish {
        crc32,
        signature,
        persist,
    }
}

fn refusal(result: Result<Reply, RequestError>) -> PluginErrorKind {
    match result {
        Err(RequestError::Plugin(error)) => error.kind,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A reboot: the store reopened on the same flash, a fresh plugin service, every stored plugin
/// installed. Returns the names installed and the names skipped.
fn reboot(store: StoreService<Flash>) -> (StoreService<Flash>, Plugins, Vec<String>, Vec<String>) {
    let flash = store.into_flash().expect("the store was open");
    let (mut store, opened) = StoreService::open(flash, 0..64 * 4096);
    opened.expect("the store opens again");
    let mut plugins = plugins();
    let (mut installed, mut skipped) = (Vec::new(), Vec::new());
    store.install_all(&mut plugins, |report| match &report.result {
        Ok(_) => installed.push(report.name.clone()),
        Err(_) => skipped.push(report.name.clone()),
    });
    (store, plugins, installed, skipped)
}

fn fresh_store() -> StoreService<Flash> {
    let (store, opened) = StoreService::open(Flash::new(64, 1), 0..64 * 4096);
    assert!(opened.expect("a new store").created);
    store
}

/// Persisted uploads are listed and installed again after a reboot; plain uploads are not; a
/// replacement comes back as the new version; remove and erase take effect.
#[test]
fn persisted_uploads_are_installed_after_a_reboot() {
    let mut store = fresh_store();
    let mut plugins = plugins();
    let report = match upload(
        &mut store,
        &mut plugins,
        description("alpha", 1),
        finish(None, true),
    ) {
        Ok(Reply::UploadFinished(report)) => report,
        other => panic!("{other:?}"),
    };
    assert!(report.store.is_some() && report.verify.is_none() && report.signed_by.is_none());
    upload(
        &mut store,
        &mut plugins,
        description("beta", 2),
        finish(None, true),
    )
    .unwrap();
    upload(&mut store, &mut plugins, description("plain", 3), |crc32| {
        Request::UploadEnd { crc32 }
    })
    .unwrap();
    let Ok(Reply::StoredPlugins(stored)) = store.handle(&mut plugins, Request::StoreList) else {
        panic!("store list");
    };
    assert_eq!(stored.len(), 2);

    let (mut store, mut plugins, installed, skipped) = reboot(store);
    assert_eq!(installed, ["alpha", "beta"]);
    assert!(skipped.is_empty());
    // Replace alpha (unloaded first: names are unique among loaded plugins), remove beta.
    store
        .handle(
            &mut plugins,
            Request::Unload {
                plugin: PluginRef::Name("alpha".into()),
            },
        )
        .unwrap();
    upload(
        &mut store,
        &mut plugins,
        description("alpha", 11),
        finish(None, true),
    )
    .unwrap();
    store
        .handle(
            &mut plugins,
            Request::StoreRemove {
                name: "beta".into(),
            },
        )
        .unwrap();
    assert_eq!(
        refusal(store.handle(
            &mut plugins,
            Request::StoreRemove {
                name: "beta".into()
            }
        )),
        PluginErrorKind::Store(StoreRefusal::NotStored)
    );
    let (mut store, mut plugins, installed, _) = reboot(store);
    assert_eq!(installed, ["alpha"]);
    let Ok(Reply::StoredPlugins(stored)) = store.handle(&mut plugins, Request::StoreList) else {
        panic!("store list");
    };
    assert_eq!(stored[0].version, "11");
    assert_eq!(
        store.handle(&mut plugins, Request::StoreErase),
        Ok(Reply::StoreErased(1))
    );
    let (_, _, installed, _) = reboot(store);
    assert!(installed.is_empty());
}

/// With a key provisioned: unsigned (plain or finished), unknown-key and bad signatures are
/// refused, a signed upload verifies (timed); after the key is replaced, plugins signed by the
/// old key are skipped at boot and the others installed.
#[test]
fn signatures_on_upload_and_at_boot() {
    let (first, second, stranger) = (key_pair(1), key_pair(2), key_pair(3));
    let mut store = fresh_store();
    let mut plugins = plugins();
    upload(
        &mut store,
        &mut plugins,
        description("early", 1),
        finish(None, true),
    )
    .unwrap();
    store
        .handle(
            &mut plugins,
            Request::ChangeKey {
                change: KeyChange::Add(public(&first)),
                epoch: 0,
                signature: None,
            },
        )
        .expect("the first key needs no signature");
    let plain = description("plain", 2);
    assert_eq!(
        refusal(upload(&mut store, &mut plugins, plain.clone(), |crc32| {
            Request::UploadEnd { crc32 }
        })),
        PluginErrorKind::Signature(SignatureRefusal::Unsigned)
    );
    assert_eq!(
        refusal(upload(
            &mut store,
            &mut plugins,
            plain.clone(),
            finish(None, false)
        )),
        PluginErrorKind::Signature(SignatureRefusal::Unsigned)
    );
    let by_stranger = sign(&stranger, &plugin_signed_message(&plain));
    assert_eq!(
        refusal(upload(
            &mut store,
            &mut plugins,
            plain.clone(),
            finish(Some(by_stranger), false)
        )),
        PluginErrorKind::Signature(SignatureRefusal::UnknownKey(by_stranger.key))
    );
    let forged = sign(&first, &plugin_signed_message(&description("plain", 9)));
    assert_eq!(
        refusal(upload(
            &mut store,
            &mut plugins,
            plain.clone(),
            finish(Some(forged), false)
        )),
        PluginErrorKind::Signature(SignatureRefusal::BadSignature(forged.key))
    );
    let old = description("old", 4);
    let signature = sign(&first, &plugin_signed_message(&old));
    let Ok(Reply::UploadFinished(report)) =
        upload(&mut store, &mut plugins, old, finish(Some(signature), true))
    else {
        panic!("a signed upload loads");
    };
    assert_eq!(report.signed_by, Some(public(&first).id()));
    assert!(report.verify.is_some_and(|verify| verify.cycles > 0));

    let add = KeyChange::Add(public(&second));
    let by_first = sign(&first, &key_change_message(&add, 1));
    store
        .handle(
            &mut plugins,
            Request::ChangeKey {
                change: add,
                epoch: 1,
                signature: Some(by_first),
            },
        )
        .expect("add the second key");
    let remove = KeyChange::Remove(public(&first).id());
    let by_second = sign(&second, &key_change_message(&remove, 2));
    store
        .handle(
            &mut plugins,
            Request::ChangeKey {
                change: remove,
                epoch: 2,
                signature: Some(by_second),
            },
        )
        .expect("remove the first key");
    let new = description("new", 5);
    let signature = sign(&second, &plugin_signed_message(&new));
    upload(&mut store, &mut plugins, new, finish(Some(signature), true)).unwrap();

    let (_, _, installed, skipped) = reboot(store);
    assert_eq!(installed, ["new"]);
    assert_eq!(skipped, ["early", "old"]);
}

/// Without a store chip every store request, and a persisted upload, is refused `NoStore`; plain
/// and unpersisted uploads work as before.
#[test]
fn a_board_without_a_store_says_so() {
    let mut store = StoreService::<Flash>::absent("no chip in this test");
    let mut plugins = plugins();
    for request in [
        Request::StoreInfo,
        Request::StoreList,
        Request::StoreErase,
        Request::StoreRemove { name: "x".into() },
    ] {
        assert_eq!(
            refusal(store.handle(&mut plugins, request)),
            PluginErrorKind::Store(StoreRefusal::NoStore)
        );
    }
    assert_eq!(
        refusal(upload(
            &mut store,
            &mut plugins,
            description("kept", 1),
            finish(None, true)
        )),
        PluginErrorKind::Store(StoreRefusal::NoStore)
    );
    upload(
        &mut store,
        &mut plugins,
        description("kept", 1),
        finish(None, false),
    )
    .expect("an unpersisted upload loads");
    assert_eq!(store.install_all(&mut plugins, |_| {}), 0);
}

/// A stored plugin's attachments and fault policy are stored as they change, and come back at
/// boot: attached again in the order they were made, `boot` attachments run once at install. A
/// plugin whose `boot` attachment traps is unloaded and reported, and the others install.
#[test]
fn attachments_and_policy_are_stored_and_made_again_at_boot() {
    use kplug_core::fake::Script;
    use plugin_format::attach::{AttachPoint, AttachSpec, FaultAction};
    use plugin_format::message::TrapPolicy;

    let module =
        wat::parse_str(r#"(module (func (export "on_boot")) (func (export "tick")))"#).unwrap();
    let mut store = fresh_store();
    let mut plugins = plugins();
    for name in ["counter", "trapping"] {
        let description = PluginDescription {
            name: name.into(),
            version: "1".into(),
            module: module.clone(),
            limits: Limits::default(),
            imports: Vec::new(),
        };
        upload(&mut store, &mut plugins, description, finish(None, true)).unwrap();
    }
    let spec = |export: &str, point: AttachPoint| AttachSpec {
        export: export.into(),
        point,
        on_fault: FaultAction::Keep,
    };
    let boot = spec("on_boot", AttachPoint::Boot);
    let timer = spec("tick", AttachPoint::Timer { period_us: 10_000 });
    let attach =
        |store: &mut StoreService<Flash>, plugins: &mut Plugins, name: &str, spec| match store
            .handle(
                plugins,
                Request::Attach {
                    plugin: PluginRef::Name(name.into()),
                    spec,
                },
            ) {
            Ok(Reply::Attached(_)) => {}
            other => panic!("attach: {other:?}"),
        };
    attach(&mut store, &mut plugins, "counter", boot.clone());
    attach(&mut store, &mut plugins, "counter", timer.clone());
    attach(&mut store, &mut plugins, "trapping", boot.clone());
    store
        .handle(
            &mut plugins,
            Request::SetTrapPolicy {
                plugin: PluginRef::Name("counter".into()),
                policy: TrapPolicy::QuarantineAfter(3),
            },
        )
        .unwrap();
    let boot_runs = |plugins: &Plugins, name: &str| {
        plugins
            .attachment_summaries()
            .iter()
            .filter(|summary| summary.plugin_name == name && summary.spec == boot)
            .map(|summary| summary.counters.runs)
            .sum::<u64>()
    };
    assert_eq!(
        boot_runs(&plugins, "counter"),
        0,
        "attaching `boot` runs nothing"
    );

    // The reboot: counter's boot attachment returns, trapping's is cut short by its budget.
    let flash = store.into_flash().expect("the store was open");
    let (mut store, opened) = StoreService::open(flash, 0..64 * 4096);
    opened.expect("the store opens again");
    let mut plugins = self::plugins();
    plugins.platform_mut().script(Script::Return(0));
    plugins.platform_mut().script(Script::Budget { eip: 0 });
    let mut reports = Vec::new();
    store.install_all(&mut plugins, |report| reports.push(report.clone()));
    let names: Vec<&str> = reports.iter().map(|report| report.name.as_str()).collect();
    assert_eq!(
        names,
        ["counter", "trapping"],
        "installed in the order stored"
    );
    let (counter, trapping) = (&reports[0], &reports[1]);
    assert!(counter.result.is_ok(), "{counter:?}");
    assert_eq!((counter.attached, counter.boot_runs), (2, 1), "{counter:?}");
    assert!(counter.not_attached.is_empty(), "{counter:?}");
    let why = trapping.result.as_ref().unwrap_err();
    assert!(why.contains("boot attachment trapped"), "{why}");
    let id = plugins
        .plugin_id(&PluginRef::Name("counter".into()))
        .unwrap();
    assert_eq!(plugins.attachment_specs(id), [boot.clone(), timer.clone()]);
    assert_eq!(plugins.policy(id), Some(TrapPolicy::QuarantineAfter(3)));
    assert_eq!(boot_runs(&plugins, "counter"), 1, "boot ran once");
    assert!(
        plugins
            .plugin_id(&PluginRef::Name("trapping".into()))
            .is_none(),
        "a plugin whose boot trapped is unloaded"
    );

    // Detaching is stored too.
    let timer_now = plugins
        .attachment_summaries()
        .into_iter()
        .find(|summary| summary.spec == timer)
        .unwrap()
        .id;
    store
        .handle(
            &mut plugins,
            Request::Detach {
                attachment: timer_now,
            },
        )
        .unwrap();
    let (_, plugins, installed, _) = reboot(store);
    assert_eq!(installed, ["counter", "trapping"]);
    let id = plugins
        .plugin_id(&PluginRef::Name("counter".into()))
        .unwrap();
    assert_eq!(plugins.attachment_specs(id), [boot]);
}
