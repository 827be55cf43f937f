//! The plugin store on real boards: plugins persisted with `UploadFinish` come back after a
//! reboot and answer; signed uploads and every refusal; store list, remove and erase; a Bochs
//! board (no store chip) says so; and power cuts (QEMU killed with SIGKILL at random moments
//! while plugins are stored, replaced and removed) never leave a plugin mixed or lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use plugin_format::PluginDescription;
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::message::{PluginRef, Value};
use plugin_format::signature::{KeyChange, SignatureRefusal, SignedBy};
use plugin_format::store::StoreRefusal;
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::store::Finish;
use plugin_host_tool::{plugin, signing, store};
use qemu_tests::TestBoard;

/// A plugin whose `version` export returns `version`, with `padding` bytes of data (so that
/// storing it takes many flash writes; the data is derived from the version, so a module mixed
/// from two versions would not validate as either).
fn versioned(name: &str, version: i32, padding: usize) -> PluginDescription {
    let data: String = (0..padding)
        .map(|index| format!("\\{:02x}", (index as i32 ^ version) as u8))
        .collect();
    let wat = format!(
        r#"(module (memory 2)
            (data (i32.const 0) "{data}")
            (func (export "version") (result i32) i32.const {version}))"#
    );
    let module = wat::parse_str(wat).expect("wat");
    let mut description =
        plugin::describe(name, module, qemu_tests::relaxed_limits()).expect("describe");
    description.version = version.to_string();
    description
}

fn persist(link: &mut Link, description: PluginDescription, signature: Option<SignedBy>) {
    let name = description.name.clone();
    store::upload(
        link,
        description,
        Finish {
            signature,
            persist: true,
        },
        |_, _| {},
    )
    .unwrap_or_else(|error| panic!("persist {name}: {error}"));
}

/// The `version` each loaded plugin answers, by name.
fn loaded_versions(link: &mut Link) -> BTreeMap<String, i32> {
    let mut versions = BTreeMap::new();
    for summary in plugin::list(link).expect("list") {
        let report = plugin::invoke(link, PluginRef::Id(summary.id), "version", Vec::new())
            .unwrap_or_else(|error| panic!("invoke {}: {error}", summary.name));
        match report.outcome {
            Ok(values) => match values.as_slice() {
                [Value::I32(version)] => {
                    versions.insert(summary.name, *version);
                }
                other => panic!("{} answered {other:?}", summary.name),
            },
            Err(trap) => panic!("{} trapped: {trap:?}", summary.name),
        }
    }
    versions
}

fn refusal(result: Result<impl std::fmt::Debug, LinkError>) -> PluginErrorKind {
    match result {
        Err(LinkError::Device(RequestError::Plugin(error))) => error.kind,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The firmware's defmt log since boot, decoded, for the lines about the store.
fn store_log_lines(link: &mut Link) -> Vec<String> {
    use plugin_host_tool::defmt_log::LogTable;
    use plugin_host_tool::workspace::Workspace;

    let elf = Workspace::locate().expect("workspace").firmware_elf();
    let table = LogTable::from_file(&elf).expect("the firmware ELF has a .defmt table");
    let mut stream = table.stream();
    stream.feed(&link.subscribe_logs().expect("subscribe"));
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(plugin_format::message::Event::Log(bytes))) =
            link.next_event(Duration::from_millis(200))
        {
            stream.feed(&bytes);
        }
    }
    let mut lines = Vec::new();
    while let Some(line) = stream.next_line() {
        let message = line.expect("a decodable frame").message;
        if message.contains("store:") {
            lines.push(message);
        }
    }
    lines
}

/// A persisted plugin is in the store list, comes back after a reboot (installed at boot),
/// answers; a safe boot installs nothing and keeps everything stored; a replacement is what comes back after the next one; remove and erase work.
#[test]
fn persisted_plugins_come_back_after_a_reboot() {
    let mut board = TestBoard::qemu();
    let mut link = board.link();
    let info = store::info(&mut link).expect("the QEMU board has a store");
    assert_eq!(info.capacity_bytes, 2 << 20);
    assert_eq!(info.plugins, 0);
    persist(&mut link, versioned("alpha", 1, 3000), None);
    persist(&mut link, versioned("beta", 7, 10), None);
    let stored = store::list(&mut link).expect("store list");
    let names: Vec<_> = stored.iter().map(|plugin| plugin.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_eq!(stored[0].version, "1");
    // A plain upload is not stored.
    qemu_tests::upload(
        &mut link,
        "gamma",
        wat::parse_str(r#"(module (func (export "version") (result i32) i32.const 3))"#).unwrap(),
        qemu_tests::relaxed_limits(),
    );
    drop(link);

    board.restart();
    let mut link = board.link();
    let versions = loaded_versions(&mut link);
    assert_eq!(
        versions,
        BTreeMap::from([("alpha".into(), 1), ("beta".into(), 7)]),
        "the stored plugins are installed at boot, the plain upload is not"
    );
    let log = store_log_lines(&mut link);
    assert!(
        log.iter().any(|line| line.contains("installed alpha")),
        "{log:?}"
    );

    // Safe boot: nothing installed, everything still stored; the next normal boot installs them.
    drop(link);
    board.set_safe_boot(true);
    board.restart();
    let mut link = board.link();
    assert!(
        loaded_versions(&mut link).is_empty(),
        "safe boot installs nothing"
    );
    assert_eq!(store::list(&mut link).expect("store list").len(), 2);
    assert!(
        store_log_lines(&mut link)
            .iter()
            .any(|line| line.contains("safe boot, 2 stored plugin(s) not installed"))
    );
    drop(link);
    board.set_safe_boot(false);
    board.restart();
    let mut link = board.link();
    assert_eq!(loaded_versions(&mut link).len(), 2);

    // Replace alpha (the loaded one must be unloaded first: names are unique), remove beta.
    plugin::unload(&mut link, PluginRef::Name("alpha".into())).expect("unload");
    persist(&mut link, versioned("alpha", 2, 5000), None);
    store::remove(&mut link, "beta").expect("remove");
    assert_eq!(
        refusal(store::remove(&mut link, "beta")),
        PluginErrorKind::Store(StoreRefusal::NotStored)
    );
    drop(link);
    board.restart();
    let mut link = board.link();
    assert_eq!(
        loaded_versions(&mut link),
        BTreeMap::from([("alpha".into(), 2)])
    );
    assert_eq!(store::erase(&mut link).expect("erase"), 1);
    drop(link);
    board.restart();
    let mut link = board.link();
    assert!(loaded_versions(&mut link).is_empty());
    assert_eq!(store::info(&mut link).expect("info").plugins, 0);
}

/// Signed uploads: once a key is provisioned, unsigned uploads (plain or finished), unknown keys
/// and bad signatures are refused with their typed errors; a signed upload reports its
/// verification time. After the key is replaced, a stored plugin signed by the old key is
/// skipped at boot (and reported), while the others are installed.
#[test]
fn signed_uploads_and_refusals() {
    let keys = tempfile::tempdir().expect("temp dir");
    let key_file = |name: &str| {
        let path = keys.path().join(name);
        signing::keygen(&path, false).expect("keygen");
        signing::read_secret_key(&path).expect("read key")
    };
    let first = key_file("first.key");
    let second = key_file("second.key");
    let stranger = key_file("stranger.key");

    let mut board = TestBoard::qemu();
    let mut link = board.link();
    // Before any key, a plain upload loads as always.
    persist(&mut link, versioned("early", 1, 10), None);
    let info = store::change_key(
        &mut link,
        KeyChange::Add(signing::public_key(&first)),
        0,
        None,
    )
    .expect("provision the first key");
    assert_eq!(info.keys, [signing::public_key(&first).id()]);

    let plain = versioned("plain", 1, 10);
    assert_eq!(
        refusal(plugin::upload(&mut link, plain.clone(), |_, _| {})),
        PluginErrorKind::Signature(SignatureRefusal::Unsigned)
    );
    let finish = |signature| Finish {
        signature,
        persist: false,
    };
    assert_eq!(
        refusal(store::upload(
            &mut link,
            plain.clone(),
            finish(None),
            |_, _| {}
        )),
        PluginErrorKind::Signature(SignatureRefusal::Unsigned)
    );
    let by_stranger = signing::sign_plugin(&stranger, &plain);
    assert_eq!(
        refusal(store::upload(
            &mut link,
            plain.clone(),
            finish(Some(by_stranger)),
            |_, _| {}
        )),
        PluginErrorKind::Signature(SignatureRefusal::UnknownKey(by_stranger.key))
    );
    // Signed over another plugin: the signature does not match this one.
    let forged = signing::sign_plugin(&first, &versioned("plain", 2, 10));
    assert_eq!(
        refusal(store::upload(
            &mut link,
            plain.clone(),
            finish(Some(forged)),
            |_, _| {}
        )),
        PluginErrorKind::Signature(SignatureRefusal::BadSignature(forged.key))
    );
    // An unsigned key change is refused once a key is held.
    assert_eq!(
        refusal(store::change_key(
            &mut link,
            KeyChange::Add(signing::public_key(&second)),
            1,
            None
        )),
        PluginErrorKind::Signature(SignatureRefusal::Unsigned)
    );

    let signed = versioned("signed-old", 4, 2000);
    let signature = signing::sign_plugin(&first, &signed);
    let report = store::upload(
        &mut link,
        signed,
        Finish {
            signature: Some(signature),
            persist: true,
        },
        |_, _| {},
    )
    .expect("a signed upload");
    assert_eq!(report.signed_by, Some(signing::public_key(&first).id()));
    assert!(report.verify.is_some_and(|verify| verify.cycles > 0));
    assert!(report.store.is_some());

    // Replace the key: add the second (signed by the first), remove the first (signed by the
    // second), then store a plugin signed by the second.
    let add = KeyChange::Add(signing::public_key(&second));
    let by_first = signing::sign_key_change(&first, &add, 1);
    store::change_key(&mut link, add, 1, Some(by_first)).expect("add the second key");
    let remove = KeyChange::Remove(signing::public_key(&first).id());
    let by_second = signing::sign_key_change(&second, &remove, 2);
    let info = store::change_key(&mut link, remove, 2, Some(by_second)).expect("remove first");
    assert_eq!(info.keys, [signing::public_key(&second).id()]);
    let fresh = versioned("signed-new", 5, 10);
    let signature = signing::sign_plugin(&second, &fresh);
    persist(&mut link, fresh, Some(signature));
    drop(link);

    board.restart();
    let mut link = board.link();
    assert_eq!(
        loaded_versions(&mut link),
        BTreeMap::from([("signed-new".into(), 5)]),
        "the plugins without a held key's signature are skipped at boot, the others installed"
    );
    let log = store_log_lines(&mut link);
    for skipped in ["early", "signed-old"] {
        assert!(
            log.iter()
                .any(|line| line.contains(&format!("skipped {skipped}"))),
            "{skipped} is reported: {log:?}"
        );
    }
    assert_eq!(store::info(&mut link).expect("info").key_epoch, 3);
}

/// A Bochs board has no store chip: store requests and persisted uploads are refused with
/// `NoStore`, and plain uploads still work.
#[test]
fn bochs_reports_no_store() {
    if !qemu_tests::bochs_available() {
        panic!("Bochs is not installed: this test needs it (apt-get install bochs bochsbios)");
    }
    let board = TestBoard::bochs(plugin_host_tool::board::Isolation::Auto);
    let mut link = board.link();
    assert_eq!(
        refusal(store::info(&mut link)),
        PluginErrorKind::Store(StoreRefusal::NoStore)
    );
    assert_eq!(
        refusal(store::list(&mut link)),
        PluginErrorKind::Store(StoreRefusal::NoStore)
    );
    assert_eq!(
        refusal(store::upload(
            &mut link,
            versioned("kept", 1, 10),
            Finish {
                signature: None,
                persist: true,
            },
            |_, _| {}
        )),
        PluginErrorKind::Store(StoreRefusal::NoStore)
    );
    let report = plugin::upload(&mut link, versioned("kept", 1, 10), |_, _| {}).expect("upload");
    assert!(report.id < u32::MAX);
}

/// One step of the power-cut run.
#[derive(Debug, Clone, Copy)]
enum Operation {
    /// Store (or replace) plugin `p{slot}` at `version`.
    Put { slot: usize, version: i32 },
    /// Remove `p{slot}` from the store.
    Remove { slot: usize },
}

/// Power cuts: QEMU is killed with SIGKILL at a random moment while a plugin is being stored,
/// replaced or removed; after each cut the board boots, installs its plugins, and every plugin
/// is its old or its new version (checked by what its `version` export answers), never gone
/// unless its removal was under way, never a plugin that was not stored. Deterministic from the
/// printed seed (`KPLUG_POWER_CUT_SEED`); `KPLUG_POWER_CUTS` cuts (10 by default; the long run
/// in the README is 100).
#[test]
fn power_cuts_keep_every_plugin_old_or_new() {
    let cuts: usize = std::env::var("KPLUG_POWER_CUTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("KPLUG_POWER_CUT_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or(1)
        });
    println!("power cuts: {cuts}, seed {seed} (KPLUG_POWER_CUT_SEED={seed} repeats this run)");
    let mut random = fastrand::Rng::with_seed(seed);
    const SLOTS: usize = 4;
    let mut board = TestBoard::qemu();
    // What the store holds, as far as the host knows: slot -> version.
    let mut model: BTreeMap<usize, i32> = BTreeMap::new();
    let mut next_version = 1;
    let (mut old_kept, mut new_taken, mut removed, mut kept_after_remove) = (0, 0, 0, 0);
    let mut finished_before_cut = 0;
    // Calibration (no cut): how long storing the largest plugin takes here (transfer, compile,
    // store writes and commit), and how much of it is the store's.
    let calibration = {
        let mut link = board.link();
        let started = Instant::now();
        let report = store::upload(
            &mut link,
            versioned("p0", 1, 60_000),
            Finish {
                signature: None,
                persist: true,
            },
            |_, _| {},
        )
        .expect("the calibration put");
        let store_us = report.store.map_or(0, |step| step.micros);
        println!(
            "power cuts: a 60 KB put takes {:?} here, {} ms of it writing the store",
            started.elapsed(),
            store_us / 1000
        );
        (started.elapsed(), Duration::from_micros(store_us))
    };
    let (calibration, store_time) = calibration;
    model.insert(0, 1);
    for cut in 0..cuts {
        let slot = random.usize(0..SLOTS);
        let operation = if model.contains_key(&slot) && random.u8(0..4) == 0 {
            Operation::Remove { slot }
        } else {
            next_version += 1;
            Operation::Put {
                slot,
                version: next_version,
            }
        };
        let padding = random.usize(1000..60_000);
        // Half the cuts anywhere in the request, half in its last part, where the store is written
        // (the calibration's store time before its end, and a little after).
        let delay = if random.bool() {
            calibration.mul_f64(random.f64() * 1.1)
        } else {
            calibration.saturating_sub(store_time.mul_f64(1.2))
                + store_time.mul_f64(random.f64() * 1.3)
        };
        let link = board.link();
        let worker = std::thread::spawn(move || {
            let mut link = link;
            match operation {
                Operation::Put { slot, version } => {
                    let name = format!("p{slot}");
                    // A loaded old version must go first (names are unique on the board).
                    let _ = plugin::unload(&mut link, PluginRef::Name(name.clone()));
                    store::upload(
                        &mut link,
                        versioned(&name, version, padding),
                        Finish {
                            signature: None,
                            persist: true,
                        },
                        |_, _| {},
                    )
                    .map(|_| ())
                }
                Operation::Remove { slot } => store::remove(&mut link, &format!("p{slot}")),
            }
        });
        std::thread::sleep(delay);
        board.kill();
        let result = worker.join().expect("the worker thread");
        if result.is_ok() {
            finished_before_cut += 1;
        }
        board.restart();
        let mut link = board.link();
        let versions = loaded_versions(&mut link);
        let stored = store::list(&mut link).expect("store list after the cut");
        assert_eq!(
            stored.len(),
            versions.len(),
            "cut {cut}: every stored plugin is installed: {stored:?} vs {versions:?}"
        );
        for (name, version) in &versions {
            let slot: usize = name[1..].parse().expect("a p<slot> name");
            let old = model.get(&slot).copied();
            let allowed_new = match operation {
                Operation::Put { slot: s, version } if s == slot => Some(version),
                _ => None,
            };
            assert!(
                Some(*version) == old || Some(*version) == allowed_new,
                "cut {cut} (seed {seed}), {operation:?}: {name} is version {version}, \
                 expected old {old:?} or new {allowed_new:?}"
            );
        }
        for (slot, old) in &model {
            let name = format!("p{slot}");
            let removing = matches!(operation, Operation::Remove { slot: s } if s == *slot);
            assert!(
                versions.contains_key(&name) || removing,
                "cut {cut} (seed {seed}), {operation:?}: {name} (version {old}) was lost"
            );
        }
        match operation {
            Operation::Put { slot, version } => {
                if versions.get(&format!("p{slot}")) == Some(&version) {
                    new_taken += 1;
                } else {
                    old_kept += 1;
                }
            }
            Operation::Remove { slot } => {
                if versions.contains_key(&format!("p{slot}")) {
                    kept_after_remove += 1;
                } else {
                    removed += 1;
                }
            }
        }
        model = versions
            .iter()
            .map(|(name, version)| (name[1..].parse().unwrap(), *version))
            .collect();
    }
    println!(
        "power cuts: {cuts} (seed {seed}): put -> old kept {old_kept}, new taken {new_taken}; \
         remove -> done {removed}, not yet {kept_after_remove}; {finished_before_cut} operations \
         answered before their cut; plugins at the end {}",
        model.len()
    );
}

/// A stored plugin's attachments and fault policy survive a reboot: a `boot` attachment runs
/// once when the store installs the plugin (not when it is attached), a `console:WORD`
/// attachment answers on COM1 after the reboot, the console reports what was attached, and a
/// detach is stored as well.
#[test]
fn attachments_come_back_after_a_reboot() {
    use plugin_format::attach::{AttachPoint, AttachSpec, FaultAction};
    use plugin_format::message::TrapPolicy;

    let mut board = TestBoard::qemu();
    let mut link = board.link();
    let module = wat::parse_str(
        r#"(module
            (import "env" "log" (func $log (param i32 i32)))
            (memory 1)
            (data (i32.const 0) "hello from a stored plugin")
            (global $boots (mut i32) (i32.const 0))
            (func (export "on_boot") (global.set $boots (i32.add (global.get $boots) (i32.const 1))))
            (func (export "hello") (call $log (i32.const 0) (i32.const 26)))
            (func (export "boots") (result i32) global.get $boots))"#,
    )
    .unwrap();
    let description =
        plugin::describe("greeter", module, qemu_tests::relaxed_limits()).expect("describe");
    persist(&mut link, description, None);
    let spec = |export: &str, point: AttachPoint| AttachSpec {
        export: export.into(),
        point,
        on_fault: FaultAction::Keep,
    };
    let greeter = || PluginRef::Name("greeter".into());
    plugin::attach(&mut link, greeter(), spec("on_boot", AttachPoint::Boot)).expect("attach boot");
    let word = plugin::attach(
        &mut link,
        greeter(),
        spec("hello", AttachPoint::Console { word: "hi".into() }),
    )
    .expect("attach console:hi");
    plugin::set_trap_policy(&mut link, greeter(), TrapPolicy::QuarantineAfter(5)).expect("policy");
    let boots = |link: &mut Link| {
        plugin::invoke(link, greeter(), "boots", Vec::new())
            .expect("invoke boots")
            .outcome
    };
    assert_eq!(
        boots(&mut link),
        Ok(vec![Value::I32(0)]),
        "attaching boot runs nothing"
    );
    drop(link);

    board.restart();
    let mut link = board.link();
    assert_eq!(
        boots(&mut link),
        Ok(vec![Value::I32(1)]),
        "boot ran once at install"
    );
    let attached: Vec<_> = plugin::attachments(&mut link)
        .expect("attachments")
        .into_iter()
        .map(|summary| (summary.plugin_name, summary.spec.point.to_string()))
        .collect();
    assert_eq!(
        attached,
        [
            ("greeter".to_string(), "boot".to_string()),
            ("greeter".to_string(), "console:hi".to_string())
        ]
    );
    let summary = plugin::list(&mut link).expect("list");
    assert_eq!(summary[0].policy, TrapPolicy::QuarantineAfter(5));
    let log = store_log_lines(&mut link);
    assert!(
        log.iter()
            .any(|line| line.contains("installed greeter") && line.contains("2 attachment(s)")),
        "{log:?}"
    );
    let mut console = board.console();
    let answer = console
        .command("hi", "kplug> ", Duration::from_secs(10))
        .expect("the console answers hi");
    assert!(answer.contains("hello from a stored plugin"), "{answer:?}");
    drop(console);

    // Detach the console word: after the next reboot only `boot` is attached.
    let word = plugin::attachments(&mut link)
        .expect("attachments")
        .into_iter()
        .find(|summary| summary.spec.point.to_string() == "console:hi")
        .map_or(word.id, |summary| summary.id);
    plugin::detach(&mut link, word).expect("detach");
    drop(link);
    board.restart();
    let mut link = board.link();
    let points: Vec<_> = plugin::attachments(&mut link)
        .expect("attachments")
        .into_iter()
        .map(|summary| summary.spec.point.to_string())
        .collect();
    assert_eq!(points, ["boot"]);
    assert_eq!(boots(&mut link), Ok(vec![Value::I32(1)]));
}

/// Store exhaustion on a QEMU board: plugins of about 240 KiB are persisted (and unloaded, so
/// that only the store fills) until the store refuses one with the typed `Full` error, which
/// leaves the board answering, the refused plugin neither stored nor loaded, and every plugin
/// stored before it intact.
#[test]
fn a_full_store_refuses_with_a_typed_error() {
    const DATA: usize = 240 << 10;
    let board = TestBoard::qemu();
    let mut link = board.link();
    let capacity = store::info(&mut link).expect("store info").capacity_bytes as usize;
    let mut stored = Vec::new();
    let full = loop {
        assert!(
            stored.len() <= capacity / DATA + 1,
            "{} plugins of {DATA} bytes stored in {capacity} bytes and no refusal",
            stored.len()
        );
        let name = format!("bulk{}", stored.len());
        let mut description = versioned(&name, stored.len() as i32, 0);
        let data: String = (0..DATA)
            .map(|index| format!("\\{:02x}", (index * 7 + stored.len() * 13) as u8))
            .collect();
        description.module = wat::parse_str(format!(
            r#"(module (memory 4)
                (data (i32.const 0) "{data}")
                (func (export "version") (result i32) i32.const {}))"#,
            stored.len()
        ))
        .expect("wat");
        let result = store::upload(
            &mut link,
            description,
            Finish {
                signature: None,
                persist: true,
            },
            |_, _| {},
        );
        match result {
            Ok(_) => {
                plugin::unload(&mut link, PluginRef::Name(name.clone())).expect("unload");
                stored.push(name);
            }
            Err(error) => break (name, refusal(Err::<(), _>(error))),
        }
    };
    let (refused, kind) = full;
    assert!(
        matches!(kind, PluginErrorKind::Store(StoreRefusal::Full { needed, available }) if needed > available),
        "{refused}: {kind:?}"
    );
    assert!(
        stored.len() >= 2,
        "only {} stored before the refusal",
        stored.len()
    );
    link.info().expect("the board answers after the refusal");
    let names: Vec<String> = store::list(&mut link)
        .expect("store list")
        .into_iter()
        .map(|plugin| plugin.name)
        .collect();
    assert_eq!(
        names, stored,
        "the refused plugin is not stored, the others are"
    );
    assert!(
        plugin::list(&mut link).expect("list").is_empty(),
        "the refused plugin was unloaded again"
    );
    eprintln!(
        "{} plugins of {DATA} bytes stored, then {refused} refused: {kind:?}",
        stored.len()
    );
}
