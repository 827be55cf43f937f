//! The store on a RAM flash: its operations, exhaustion, and thousands of power cuts.

extern crate std;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use std::println;

use plugin_format::message::TrapPolicy;
use plugin_format::signature::{Ed25519Signature, KeyId, PublicKey, SignedBy};
use plugin_format::store::{AttachPoint, AttachSpec};
use plugin_format::{ImportRequest, Limits, PluginDescription};

use super::fake_flash::PowerCutFlash;
use super::format::{BoardKeys, StoredPlugin};
use super::{OpenReport, Store, StoreError};

/// 4 KiB pages, as QEMU's pflash units have.
type Flash = PowerCutFlash<4096>;
/// 512 pages: the board's 2 MiB store chip.
const BOARD_PAGES: usize = 512;

/// A deterministic plugin: its module bytes follow from `name`, `version` and `len`.
fn plugin(name: &str, version: u32, len: usize) -> StoredPlugin {
    let mut seed = name
        .bytes()
        .fold(u64::from(version) * 0x9E37_79B9, |hash, byte| {
            hash.rotate_left(7) ^ u64::from(byte)
        });
    let module = (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    StoredPlugin {
        description: PluginDescription {
            name: name.into(),
            version: format!("{version}"),
            limits: Limits::default(),
            imports: vec![ImportRequest {
                module: "env".into(),
                name: "log".into(),
            }],
            module,
        },
        policy: if version.is_multiple_of(2) {
            TrapPolicy::KeepLoaded
        } else {
            TrapPolicy::QuarantineAfter(version)
        },
        attachments: vec![AttachSpec {
            export: "tick".into(),
            point: AttachPoint::Timer {
                period_us: 1000 * (version + 1),
            },
            on_fault: plugin_format::attach::FaultAction::Keep,
        }],
        signature: version.is_multiple_of(3).then_some(SignedBy {
            key: KeyId([version as u8; 8]),
            signature: Ed25519Signature {
                r: [1; 32],
                s: [2; 32],
            },
        }),
    }
}

fn open(flash: Flash) -> (Store<Flash>, OpenReport) {
    open_range(flash, 0..(BOARD_PAGES * 4096) as u32)
}

fn open_range<const PAGE: usize>(
    flash: PowerCutFlash<PAGE>,
    range: core::ops::Range<u32>,
) -> (Store<PowerCutFlash<PAGE>>, OpenReport) {
    match Store::open(flash, range) {
        Ok(opened) => opened,
        Err(failure) => panic!("open: {:?}", failure.error),
    }
}

/// Everything the store holds, read back (every plugin must load).
fn contents(store: &mut Store<Flash>) -> (BTreeMap<String, StoredPlugin>, BoardKeys) {
    let mut plugins = BTreeMap::new();
    for name in store.names() {
        let plugin = store
            .load(&name)
            .unwrap_or_else(|error| panic!("{name} does not load: {error:?}"));
        plugins.insert(name, plugin);
    }
    (plugins, store.keys().clone())
}

/// Proves the basic operations: a new store is created, plugins are stored, listed, read back
/// byte for byte, replaced and removed, keys are kept, and all of it survives a reopen.
#[test]
fn store_list_load_replace_remove_and_reopen() {
    let (mut store, report) = open(Flash::new(BOARD_PAGES, 1));
    assert!(report.created);
    let first = plugin("crc32", 1, 797);
    let put = store.put(&first).unwrap();
    assert_eq!(
        (put.slot, put.generation, put.replaced, put.chunks),
        (0, 0, false, 1)
    );
    let big = plugin("generated", 2, 170_614);
    let put = store.put(&big).unwrap();
    assert_eq!(put.slot, 1);
    assert_eq!(put.chunks as usize, 170_614usize.div_ceil(2032));
    assert_eq!(store.load("crc32").unwrap(), first);
    assert_eq!(store.load("generated").unwrap(), big);
    let second = plugin("crc32", 3, 5000);
    let put = store.put(&second).unwrap();
    assert_eq!((put.slot, put.generation, put.replaced), (0, 1, true));
    assert_eq!(put.left_for_sweep, 0);
    assert_eq!(store.load("crc32").unwrap(), second);
    let list = store.list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].name, "crc32");
    assert_eq!(list[0].version, "3");
    assert_eq!(list[0].module_bytes, 5000);
    assert_eq!(list[0].signed_by, Some(KeyId([3; 8])));
    assert_eq!(list[1].attachments, big.attachments);
    let keys = BoardKeys {
        epoch: 1,
        keys: vec![PublicKey([7; 32])],
    };
    store.set_keys(keys.clone()).unwrap();
    let (mut store, report) = open(store.into_flash());
    assert!(!report.created);
    assert_eq!(report.swept_chunks, 0);
    assert!(report.damaged.is_empty());
    assert_eq!(store.keys(), &keys);
    assert_eq!(store.load("crc32").unwrap(), second);
    assert_eq!(store.load("generated").unwrap(), big);
    store.remove("generated").unwrap();
    assert_eq!(store.load("generated"), Err(StoreError::NotStored));
    assert_eq!(store.remove("generated"), Err(StoreError::NotStored));
    let (mut store, _) = open(store.into_flash());
    assert_eq!(store.names(), ["crc32"]);
    assert_eq!(store.remove_all().unwrap(), 1);
    let (mut store, _) = open(store.into_flash());
    assert!(store.names().is_empty());
    assert_eq!(store.keys(), &keys);
    let usage = store.usage();
    assert_eq!(usage.capacity_bytes, 2 << 20);
    assert_eq!(usage.pages, 512);
    assert!(usage.used_bytes < 4096, "{usage:?}");
}

/// Proves the limits from outside: an empty module, one past `MAX_MODULE_BYTES`, a record too
/// large for a page, and more plugins than slots each get their typed error and change nothing.
#[test]
fn limits_are_checked_before_anything_is_written() {
    let (mut store, _) = open(Flash::new(BOARD_PAGES, 2));
    assert_eq!(
        store.put(&plugin("empty", 0, 0)),
        Err(StoreError::ModuleSize)
    );
    assert_eq!(
        store.put(&plugin("huge", 0, 256 * 1024 + 1)),
        Err(StoreError::ModuleSize)
    );
    let mut wordy = plugin("wordy", 0, 100);
    wordy.description.version = "v".repeat(5000);
    assert_eq!(store.put(&wordy), Err(StoreError::RecordTooLarge));
    for slot in 0..32 {
        store.put(&plugin(&format!("p{slot}"), 0, 64)).unwrap();
    }
    assert_eq!(
        store.put(&plugin("one-too-many", 0, 64)),
        Err(StoreError::TooManyPlugins)
    );
    assert_eq!(store.names().len(), 32);
}

/// Proves that a 256 KiB plugin fits and round-trips even on small erase pages (1 KiB: 529
/// chunks of 496 bytes), and can be replaced there.
#[test]
fn largest_plugin_fits_on_small_pages() {
    let flash = PowerCutFlash::<1024>::new(1024, 3);
    let (mut store, _) = open_range(flash, 0..1024 * 1024);
    assert_eq!(store.usage().chunk_bytes, 496);
    let largest = plugin("largest", 1, 256 * 1024);
    assert_eq!(store.put(&largest).unwrap().chunks, 529);
    assert_eq!(store.load("largest").unwrap(), largest);
    let replaced = plugin("largest", 2, 256 * 1024);
    store.put(&replaced).unwrap();
    let (mut store, report) = open_range(store.into_flash(), 0..1024 * 1024);
    assert_eq!(report.swept_chunks, 0);
    assert_eq!(store.load("largest").unwrap(), replaced);
}

/// Proves that exhaustion is a typed error that changes nothing (the old version stays), and
/// that space comes back: from removals, and from old versions after replacements.
#[test]
fn exhaustion_is_typed_and_harmless() {
    let range = 0..128 * 4096; // 512 KiB
    let (mut store, _) = open_range(Flash::new(128, 4), range.clone());
    let mut stored = Vec::new();
    let mut index = 0;
    let full = loop {
        let candidate = plugin(&format!("p{index}"), 0, 60_000);
        match store.put(&candidate) {
            Ok(_) => stored.push(candidate),
            Err(error) => break error,
        }
        index += 1;
    };
    assert!(
        matches!(full, StoreError::Full { needed, available } if needed > available),
        "{full:?}"
    );
    assert!(stored.len() >= 6, "{}", stored.len());
    // A replacement that does not fit leaves the old version.
    let bigger = plugin("p0", 1, 200_000);
    assert!(matches!(store.put(&bigger), Err(StoreError::Full { .. })));
    let (mut store, report) = open_range(store.into_flash(), range);
    assert_eq!(report.swept_chunks, 0);
    for plugin in &stored {
        assert_eq!(&store.load(&plugin.description.name).unwrap(), plugin);
    }
    // A version switch needs room for the new version beside the old one: with one plugin's worth
    // free, replacing every plugin many times reuses the space the old versions held.
    let last = stored.pop().unwrap();
    store.remove(&last.description.name).unwrap();
    for round in 1..6 {
        for (plugin_index, slot) in stored.iter_mut().enumerate() {
            let replacement = plugin(&format!("p{plugin_index}"), round, 60_000);
            store.put(&replacement).unwrap();
            *slot = replacement;
        }
    }
    for name in store.names() {
        store.remove(&name).unwrap();
    }
    store.put(&plugin("after", 0, 200_000)).unwrap();
}

/// One operation of the power-cut test.
#[derive(Debug, Clone)]
enum Operation {
    Put(StoredPlugin),
    Remove(String),
    RemoveAll,
    SetKeys(BoardKeys),
}

fn apply(
    store: &mut Store<Flash>,
    operation: &Operation,
) -> Result<(), StoreError<super::fake_flash::FakeFlashError>> {
    match operation {
        Operation::Put(plugin) => store.put(plugin).map(drop),
        Operation::Remove(name) => store.remove(name),
        Operation::RemoveAll => store.remove_all().map(drop),
        Operation::SetKeys(keys) => store.set_keys(keys.clone()),
    }
}

/// What the store may hold for `name` after `operation` was cut: the old state, or the new one.
fn allowed(
    operation: &Operation,
    name: &str,
    before: Option<&StoredPlugin>,
) -> Vec<Option<StoredPlugin>> {
    let old = before.cloned();
    match operation {
        Operation::Put(plugin) if plugin.description.name == name => {
            vec![old, Some(plugin.clone())]
        }
        Operation::Remove(removed) if removed == name => vec![old, None],
        Operation::RemoveAll => vec![old, None],
        _ => vec![old],
    }
}

/// Checks the power-safety invariant after a cut during `operation`: every plugin is its old or
/// its new state (byte for byte, description, policy, attachments and signature), never a
/// mixture, and gone only if the operation removed it; the keys are old or new.
fn check_invariant(
    store: &mut Store<Flash>,
    operation: &Operation,
    before: &(BTreeMap<String, StoredPlugin>, BoardKeys),
) -> (BTreeMap<String, StoredPlugin>, BoardKeys) {
    let after = contents(store);
    let mut names: Vec<&String> = before.0.keys().chain(after.0.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let now = after.0.get(name).cloned();
        let choices = allowed(operation, name, before.0.get(name));
        assert!(
            choices.contains(&now),
            "after a cut during {:?}, {name} is {:?} (allowed: {:?})",
            summary(operation),
            now.as_ref().map(|plugin| &plugin.description.version),
            choices
                .iter()
                .map(|choice| choice.as_ref().map(|plugin| &plugin.description.version))
                .collect::<Vec<_>>()
        );
    }
    let keys_allowed = match operation {
        Operation::SetKeys(keys) => after.1 == before.1 || after.1 == *keys,
        _ => after.1 == before.1,
    };
    assert!(keys_allowed, "keys after a cut: {:?}", after.1);
    after
}

fn summary(operation: &Operation) -> String {
    match operation {
        Operation::Put(plugin) => format!(
            "put {} v{} ({} bytes)",
            plugin.description.name,
            plugin.description.version,
            plugin.description.module.len()
        ),
        Operation::Remove(name) => format!("remove {name}"),
        Operation::RemoveAll => "remove all".into(),
        Operation::SetKeys(keys) => format!("set keys epoch {}", keys.epoch),
    }
}

/// How the cuts of a run turned out.
#[derive(Debug, Default)]
struct CutTally {
    cuts: u32,
    recovery_cuts: u32,
    old_kept: u32,
    new_taken: u32,
    swept_chunks: u32,
    full_refusals: u32,
    skipped: u32,
    operations_per_cut_max: u64,
}

/// Runs `iterations` random operations, each cut at a uniformly random write or erase of the
/// operation (counted by a dry run on a copy of the flash), sometimes cut again while the store
/// reopens and repairs itself; after each cut the store is reopened and the invariant checked,
/// then the operation is run again to completion.
fn power_cut_run(seed: u64, iterations: u32, page_count: usize, max_module: usize) -> CutTally {
    let mut random = fastrand::Rng::with_seed(seed);
    let names = ["crc32", "gray", "blink", "filter", "spin", "kernels"];
    let mut version = 0u32;
    let mut tally = CutTally::default();
    let range = 0..(page_count * 4096) as u32;
    let (mut store, _) = open_range(Flash::new(page_count, seed), range.clone());
    let mut state = contents(&mut store);
    let mut flash = store.into_flash();
    for iteration in 0..iterations {
        version += 1;
        let operation = match random.u8(0..20) {
            0..=12 => {
                let len = match random.u8(0..20) {
                    0 => random.usize(max_module / 2..=max_module),
                    1..=5 => random.usize(4096..32 * 1024),
                    _ => random.usize(1..4096),
                };
                Operation::Put(plugin(names[random.usize(0..names.len())], version, len))
            }
            13..=16 if !state.0.is_empty() => {
                let stored: Vec<&String> = state.0.keys().collect();
                Operation::Remove(stored[random.usize(0..stored.len())].clone())
            }
            17 => Operation::RemoveAll,
            _ => Operation::SetKeys(BoardKeys {
                epoch: version,
                keys: (0..random.usize(0..=4))
                    .map(|key| PublicKey([key as u8 ^ version as u8; 32]))
                    .collect(),
            }),
        };

        if std::env::var_os("KPLUG_STORE_TRACE").is_some() {
            println!("iteration {iteration}: {}", summary(&operation));
        }
        // Dry run on a copy: how many writes and erases does opening and the operation take?
        let mut dry = flash.clone();
        let before_operations = dry.stats().operations;
        let (mut dry_store, _) = open_range(dry, range.clone());
        let dry_result = apply(&mut dry_store, &operation);
        if matches!(dry_result, Err(StoreError::Full { .. })) {
            tally.full_refusals += 1;
        } else if let Err(error) = dry_result {
            panic!(
                "iteration {iteration}: {} failed: {error:?}",
                summary(&operation)
            );
        }
        dry = dry_store.into_flash();
        let total = dry.stats().operations - before_operations;
        tally.operations_per_cut_max = tally.operations_per_cut_max.max(total);
        if total == 0 {
            tally.skipped += 1;
            continue;
        }

        // The real run, cut at a random one of those steps. A cut may land in `open` (its sweep)
        // or in the operation; an operation may also report success when the cut hit the
        // tombstoning after its commit record.
        flash.reseed(seed ^ u64::from(iteration));
        flash.cut_after(random.u64(0..total));
        flash = match Store::open(flash, range.clone()) {
            Ok((mut store, _)) => {
                let _ = apply(&mut store, &operation);
                store.into_flash()
            }
            Err(failure) => failure.flash,
        };
        assert!(flash.is_cut(), "no cut in {} steps", total);
        tally.cuts += 1;
        flash.power_on();

        // Sometimes the power fails again while the store reopens and sweeps.
        if random.u8(0..4) == 0 {
            let mut probe = flash.clone();
            let start = probe.stats().operations;
            probe = match Store::open(probe, range.clone()) {
                Ok((store, _)) => store.into_flash(),
                Err(failure) => panic!("reopen: {:?}", failure.error),
            };
            let recovery_steps = probe.stats().operations - start;
            if recovery_steps > 0 {
                flash.cut_after(random.u64(0..recovery_steps));
                flash = match Store::open(flash, range.clone()) {
                    Ok((store, _)) => store.into_flash(),
                    Err(failure) => failure.flash,
                };
                assert!(flash.is_cut());
                tally.recovery_cuts += 1;
                flash.power_on();
            }
        }

        let (mut store, report) = open_range(flash, range.clone());
        assert!(report.damaged.is_empty(), "damaged: {:?}", report.damaged);
        tally.swept_chunks += report.swept_chunks;
        let after = check_invariant(&mut store, &operation, &state);
        if after == state {
            tally.old_kept += 1;
        } else {
            tally.new_taken += 1;
        }

        // The store is not wedged: the operation now completes.
        match apply(&mut store, &operation) {
            Ok(()) | Err(StoreError::Full { .. }) | Err(StoreError::NotStored) => {}
            Err(error) => panic!("{} after recovery: {error:?}", summary(&operation)),
        }
        state = contents(&mut store);
        flash = store.into_flash();
    }
    tally
}

/// Proves the power-safety invariant over a thousand cuts on 1 MiB of 4 KiB pages: random puts
/// (1 B to 256 KiB), replacements, removals, erase-alls and key changes, each cut at a random
/// write or erase, a quarter of them cut again during the recovery. `KPLUG_STORE_CUTS` sets the
/// count and `KPLUG_STORE_PAGES` the pages (512 is the board's 2 MiB chip), for long runs.
#[test]
fn power_cuts_never_mix_or_lose_plugins() {
    let setting = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let iterations = setting("KPLUG_STORE_CUTS", 1000);
    let pages = setting("KPLUG_STORE_PAGES", 256) as usize;
    let tally = power_cut_run(0x006b_706c_7567, iterations, pages, 256 * 1024);
    println!("power cuts: {tally:?}");
    assert_eq!(tally.cuts, iterations - tally.skipped);
    assert!(tally.old_kept > 0 && tally.new_taken > 0, "{tally:?}");
    assert!(tally.recovery_cuts > 0, "{tally:?}");
}

/// Proves the invariant on a crowded store (96 KiB for up to six plugins of up to 64 KiB), where
/// puts are refused for want of room, pages are reclaimed all the time and removals may have to
/// erase records in place.
#[test]
fn power_cuts_on_a_crowded_store() {
    let tally = power_cut_run(0x5eed, 600, 24, 64 * 1024);
    println!("power cuts, crowded: {tally:?}");
    assert!(tally.full_refusals > 0, "{tally:?}");
}

/// Proves the invariant on 512 KiB with plugins of up to 96 KiB, where every few writes migrate a
/// page. This run found sequential-storage's page-pointer cache losing a write (at iteration 346:
/// see `StoreCache`); it fails if that cache is turned back on.
#[test]
fn power_cuts_while_pages_migrate() {
    let tally = power_cut_run(0x5eed, 400, 128, 96 * 1024);
    println!("power cuts, migrating: {tally:?}");
    assert!(tally.new_taken > 0 && tally.old_kept > 0, "{tally:?}");
}

/// A delay that returns at once (the fake chip is never busy unless told).
struct NoDelay;

impl embedded_hal::delay::DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// Proves the whole stack the board will run: the store over the CFI driver over the
/// rule-checking fake of QEMU's pflash unit (which panics on any broken chip rule), with a busy
/// chip: plugins stored, replaced and read back, across a reopen, with the chip's buffered writes
/// and block erases.
#[test]
fn store_on_the_cfi_driver() {
    use board_support::cfi_flash::CfiFlash;
    use board_support::fake::FakeCfiFlash;
    let chip = FakeCfiFlash::qemu(256 * 1024);
    chip.set_busy_polls(2);
    let flash = CfiFlash::<_, _, 4096>::new(chip.clone(), NoDelay).unwrap();
    let (mut store, report) = match Store::open(flash, 0..256 * 1024) {
        Ok(opened) => opened,
        Err(failure) => panic!("{:?}", failure.error),
    };
    assert!(report.created);
    let mut last = Vec::new();
    for version in 0..30 {
        let stored = plugin("gray", version, 9000 + version as usize * 700);
        store.put(&stored).unwrap();
        last.push(stored);
    }
    store.put(&plugin("crc32", 1, 797)).unwrap();
    let flash = store.into_flash();
    assert!(flash.stats().block_erases > 0, "{:?}", flash.stats());
    let (mut store, report) = match Store::open(flash, 0..256 * 1024) {
        Ok(opened) => opened,
        Err(failure) => panic!("{:?}", failure.error),
    };
    assert_eq!(report.swept_chunks, 0);
    assert_eq!(store.load("gray").unwrap(), *last.last().unwrap());
    assert_eq!(store.load("crc32").unwrap(), plugin("crc32", 1, 797));
    assert!(chip.program_operations() > 0);
    assert!(chip.in_read_array_mode());
}
