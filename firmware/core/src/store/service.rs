//! The plugin store's requests and boot install, on any platform: what a board with (or without)
//! a store answers to `UploadFinish`, `StoreInfo`, `StoreList`, `StoreRemove`, `StoreErase` and
//! `ChangeKey`, and how it refuses an unsigned `UploadEnd` once a key is provisioned.
//!
//! The main loop hands every request for which [`serves`] is true to [`StoreService::handle`]
//! instead of the plugin service; the store service uses the plugin service for the upload and
//! the load. Store writes take up to seconds of emulated time; they run in the main loop like a
//! compilation does, while the tick serves the console and the link.
//!
//! A board without a store (Bochs, or an image without the second flash chip) answers every
//! store request, and a persisted upload, with `StoreRefusal::NoStore`; plain and signed
//! uploads work as before (with no key there is nothing to check a signature against).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use embedded_storage_async::nor_flash::MultiwriteNorFlash;
use plugin_format::attach::AttachSpec;
use plugin_format::error::{PluginError, PluginErrorKind, RequestError};
use plugin_format::message::{
    LoadReport, PluginRef, Reply, Request, StepTime, TrapPolicy, UploadReport,
};
use plugin_format::signature::{KeyChange, SignatureRefusal, SignedBy};
use plugin_format::store::StoreRefusal;

use super::format::{BoardKeys, StoredPlugin};
use super::{OpenFailure, OpenReport, Store, StoreError};
use crate::instance::Platform;
use crate::service::{Device, PluginService};

/// Whether `request` is one the store service answers (it takes `UploadEnd` too, to refuse it
/// unsigned on a board with a key).
pub fn serves(request: &Request) -> bool {
    matches!(
        request,
        Request::UploadFinish { .. }
            | Request::StoreInfo
            | Request::StoreList
            | Request::StoreRemove { .. }
            | Request::StoreErase
            | Request::ChangeKey { .. }
    )
}

/// Where the board's store stands.
pub enum StoreState<F: MultiwriteNorFlash> {
    /// The board has no store chip (the text says what was probed).
    Absent(&'static str),
    /// The chip is there but the store could not be opened (the text says why).
    Failed(String),
    /// The store is open.
    Open(Store<F>),
}

/// The outcome of installing one stored plugin at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    /// The stored plugin's name.
    pub name: String,
    /// Its load report, or why it was skipped.
    pub result: Result<LoadReport, String>,
    /// Reading it from flash.
    pub read: StepTime,
    /// Checking its signature (zero on a board without keys).
    pub verify: StepTime,
    /// Its stored attachments made again.
    pub attached: usize,
    /// Stored attachments that could not be made again, each with why (the plugin stays).
    pub not_attached: Vec<String>,
    /// Boot attachments run (a trap in one unloads the plugin: `result` says so).
    pub boot_runs: usize,
}

/// The board's plugin store as a service.
pub struct StoreService<F: MultiwriteNorFlash> {
    state: StoreState<F>,
    /// Loaded plugins that are stored, by id, with their stored name: a change of their
    /// attachments or fault policy is written to the store.
    stored_live: Vec<(u32, String)>,
}

fn error(kind: PluginErrorKind, message: impl Into<String>) -> RequestError {
    RequestError::Plugin(PluginError {
        kind,
        message: message.into(),
    })
}

fn refusal(refusal: StoreRefusal) -> RequestError {
    let message = format!("{refusal}");
    error(PluginErrorKind::Store(refusal), message)
}

fn store_error<E: core::fmt::Debug>(failure: StoreError<E>) -> RequestError {
    let message = format!("{failure}");
    error(PluginErrorKind::Store(failure.refusal()), message)
}

fn signature_error(failure: SignatureRefusal) -> RequestError {
    let message = format!("{failure}");
    error(PluginErrorKind::Signature(failure), message)
}

/// Runs `f` and returns its result with the cycles it took on `device`'s clock.
fn timed<D: Device, R>(device: &mut D, f: impl FnOnce(&mut D) -> R) -> (R, StepTime) {
    let start = device.cycles();
    let result = f(device);
    let cycles = device.cycles().wrapping_sub(start);
    let step = StepTime {
        cycles,
        micros: device.cycles_to_micros(cycles),
    };
    (result, step)
}

impl<F: MultiwriteNorFlash> StoreService<F> {
    /// A board without a store chip; `probed` says what was looked for.
    pub fn absent(probed: &'static str) -> Self {
        StoreService {
            state: StoreState::Absent(probed),
            stored_live: Vec::new(),
        }
    }

    /// Opens the store in `range` of `flash`; a failure is kept and reported by every request.
    pub fn open(flash: F, range: core::ops::Range<u32>) -> (Self, Result<OpenReport, String>) {
        match Store::open(flash, range) {
            Ok((store, report)) => (
                StoreService {
                    state: StoreState::Open(store),
                    stored_live: Vec::new(),
                },
                Ok(report),
            ),
            Err(OpenFailure { error, .. }) => {
                let why = format!("{error}");
                (
                    StoreService {
                        state: StoreState::Failed(why.clone()),
                        stored_live: Vec::new(),
                    },
                    Err(why),
                )
            }
        }
    }

    /// The store's flash, if the store is open (to open it again, as a reboot does).
    pub fn into_flash(self) -> Option<F> {
        match self.state {
            StoreState::Open(store) => Some(store.into_flash()),
            _ => None,
        }
    }

    /// How many plugins the store holds (none without a store).
    pub fn stored_count(&self) -> u32 {
        match &self.state {
            StoreState::Open(store) => store.names().len() as u32,
            _ => 0,
        }
    }

    /// Where the store stands.
    pub fn state(&self) -> &StoreState<F> {
        &self.state
    }

    /// The open store, or the refusal a request gets without one.
    fn store(&mut self) -> Result<&mut Store<F>, RequestError> {
        match &mut self.state {
            StoreState::Open(store) => Ok(store),
            StoreState::Absent(_) => Err(refusal(StoreRefusal::NoStore)),
            StoreState::Failed(_) => Err(refusal(StoreRefusal::Unreadable)),
        }
    }

    /// The provisioned keys (none without a store).
    fn keys(&self) -> BoardKeys {
        match &self.state {
            StoreState::Open(store) => store.keys().clone(),
            _ => BoardKeys::default(),
        }
    }

    /// Answers a store request ([`serves`]), or `UploadEnd`; other requests go to `plugins`.
    pub fn handle<P: Platform, D: Device>(
        &mut self,
        plugins: &mut PluginService<P, D>,
        request: Request,
    ) -> Result<Reply, RequestError> {
        match request {
            Request::UploadEnd { crc32 } if !self.keys().keys.is_empty() => {
                // The upload is over either way; a board with a key refuses it unsigned.
                plugins.take_upload(crc32)?;
                Err(signature_error(SignatureRefusal::Unsigned))
            }
            Request::UploadFinish {
                crc32,
                signature,
                persist,
            } => self
                .upload_finish(plugins, crc32, signature, persist)
                .map(Reply::UploadFinished),
            Request::StoreInfo => Ok(Reply::StoreInfo(self.store()?.info())),
            Request::StoreList => Ok(Reply::StoredPlugins(self.store()?.list())),
            Request::StoreRemove { name } => {
                self.store()?.remove(&name).map_err(store_error)?;
                self.stored_live.retain(|(_, stored)| *stored != name);
                Ok(Reply::StoreRemoved)
            }
            Request::StoreErase => {
                let removed = self.store()?.remove_all().map_err(store_error)?;
                self.stored_live.clear();
                Ok(Reply::StoreErased(removed))
            }
            Request::ChangeKey {
                change,
                epoch,
                signature,
            } => self.change_key(&change, epoch, signature.as_ref()),
            Request::Unload { plugin } => {
                let id = plugins.plugin_id(&plugin);
                let reply = plugins.handle(Request::Unload { plugin })?;
                self.stored_live.retain(|(live, _)| Some(*live) != id);
                Ok(reply)
            }
            request @ (Request::Attach { .. }
            | Request::Detach { .. }
            | Request::SetTrapPolicy { .. }) => {
                let id = match &request {
                    Request::Attach { plugin, .. } | Request::SetTrapPolicy { plugin, .. } => {
                        plugins.plugin_id(plugin)
                    }
                    Request::Detach { attachment } => plugins
                        .attachment_summaries()
                        .iter()
                        .find(|summary| summary.id == *attachment)
                        .map(|summary| summary.plugin),
                    _ => None,
                };
                let reply = plugins.handle(request)?;
                if let Some(id) = id {
                    self.keep_settings(plugins, id)?;
                }
                Ok(reply)
            }
            other => plugins.handle(other),
        }
    }

    /// Writes loaded plugin `id`'s attachments and fault policy to its stored record, if it is
    /// a stored plugin (a version switch like any other store write: power-safe, and as slow as
    /// writing the module again). On failure the change stays made on the board, and the error
    /// says it was not stored.
    fn keep_settings<P: Platform, D: Device>(
        &mut self,
        plugins: &mut PluginService<P, D>,
        id: u32,
    ) -> Result<(), RequestError> {
        let Some((_, name)) = self.stored_live.iter().find(|(live, _)| *live == id) else {
            return Ok(());
        };
        let name = name.clone();
        let not_stored = |failure: RequestError| match failure {
            RequestError::Plugin(mut failure) => {
                failure.message = format!("done on the board but not stored: {}", failure.message);
                RequestError::Plugin(failure)
            }
            other => other,
        };
        let store = self.store().map_err(not_stored)?;
        let mut stored = store
            .load(&name)
            .map_err(|failure| not_stored(store_error(failure)))?;
        stored.attachments = plugins.attachment_specs(id);
        stored.policy = plugins.policy(id).unwrap_or(stored.policy);
        store
            .put(&stored)
            .map_err(|failure| not_stored(store_error(failure)))?;
        Ok(())
    }

    fn upload_finish<P: Platform, D: Device>(
        &mut self,
        plugins: &mut PluginService<P, D>,
        crc32: u32,
        signature: Option<SignedBy>,
        persist: bool,
    ) -> Result<UploadReport, RequestError> {
        let (mut description, module) = plugins.take_upload(crc32)?;
        if persist {
            self.store()?;
        }
        let keys = self.keys();
        description.module = module;
        let (checked, verify) = timed(&mut plugins.device, |_| {
            crate::signing::check_plugin(&description, signature.as_ref(), &keys)
        });
        let signed_by = checked.map_err(signature_error)?;
        let verify = (!keys.keys.is_empty()).then_some(verify);
        let module = core::mem::take(&mut description.module);
        let kept = description.clone();
        let load = plugins.load_description(description, &module)?;
        let mut store_step = None;
        if persist {
            let mut stored = StoredPlugin {
                description: kept,
                policy: TrapPolicy::KeepLoaded,
                attachments: Vec::new(),
                signature,
            };
            stored.description.module = module;
            let store = self.store()?;
            let (put, step) = timed(&mut plugins.device, |_| store.put(&stored));
            if let Err(failure) = put {
                // Loaded but not kept: unload it, so that what runs is what the host was told.
                let _ = plugins.handle(Request::Unload {
                    plugin: PluginRef::Id(load.id),
                });
                return Err(store_error(failure));
            }
            store_step = Some(step);
            self.stored_live.retain(|(live, _)| *live != load.id);
            self.stored_live
                .push((load.id, stored.description.name.clone()));
        }
        Ok(UploadReport {
            load,
            verify,
            signed_by,
            store: store_step,
        })
    }

    fn change_key(
        &mut self,
        change: &KeyChange,
        epoch: u32,
        signature: Option<&SignedBy>,
    ) -> Result<Reply, RequestError> {
        let store = self.store()?;
        let keys = crate::signing::change_keys(store.keys(), change, epoch, signature)
            .map_err(signature_error)?;
        store.set_keys(keys).map_err(store_error)?;
        Ok(Reply::StoreInfo(store.info()))
    }

    /// Installs every stored plugin through `plugins`, one after another: each is read, its
    /// signature checked against the provisioned keys, and loaded; its fault policy is set, its
    /// attachments made again in the order they were made (one that cannot be made is reported
    /// and the plugin stays), and its `boot` attachments run once. A failure to read, verify or
    /// load, or a trap in a `boot` attachment, skips the plugin (a trapping one is unloaded
    /// again) and the next one is installed: no stored plugin can stop the boot. Calls `report`
    /// after each (the board prints it on the console and in its log). Returns how many stayed.
    pub fn install_all<P: Platform, D: Device>(
        &mut self,
        plugins: &mut PluginService<P, D>,
        mut report: impl FnMut(&InstallReport),
    ) -> usize {
        let StoreState::Open(store) = &mut self.state else {
            return 0;
        };
        let keys = store.keys().clone();
        let mut loaded = 0;
        for name in store.names() {
            let (read, read_step) = timed(&mut plugins.device, |_| store.load(&name));
            let mut verify_step = StepTime::default();
            let mut made = Made::default();
            let result = match read {
                Err(failure) => Err(format!("cannot be read: {failure}")),
                Ok(mut stored) => {
                    let (checked, step) = timed(&mut plugins.device, |_| {
                        crate::signing::check_plugin(
                            &stored.description,
                            stored.signature.as_ref(),
                            &keys,
                        )
                    });
                    verify_step = step;
                    match checked {
                        Err(refused) => Err(format!("{refused}")),
                        Ok(_) => {
                            let module = core::mem::take(&mut stored.description.module);
                            let attachments = core::mem::take(&mut stored.attachments);
                            plugins
                                .load_description(stored.description, &module)
                                .map_err(|failure| format!("{failure}"))
                                .and_then(|load| {
                                    made = attach_stored(
                                        plugins,
                                        load.id,
                                        stored.policy,
                                        attachments,
                                    )?;
                                    Ok(load)
                                })
                        }
                    }
                }
            };
            if let Ok(load) = &result {
                self.stored_live.push((load.id, name.clone()));
                loaded += 1;
            }
            report(&InstallReport {
                name,
                result,
                read: read_step,
                verify: verify_step,
                attached: made.attached,
                not_attached: made.not_attached,
                boot_runs: made.boot_runs,
            });
        }
        loaded
    }
}

/// What [`attach_stored`] made of a stored plugin's settings.
#[derive(Default)]
struct Made {
    attached: usize,
    not_attached: Vec<String>,
    boot_runs: usize,
}

/// Gives freshly loaded plugin `id` its stored fault policy and attachments, then runs its
/// `boot` attachments. A trap in one unloads the plugin and is the error.
fn attach_stored<P: Platform, D: Device>(
    plugins: &mut PluginService<P, D>,
    id: u32,
    policy: TrapPolicy,
    attachments: Vec<AttachSpec>,
) -> Result<Made, String> {
    let plugin = PluginRef::Id(id);
    let mut made = Made::default();
    if let Err(failure) = plugins.handle(Request::SetTrapPolicy {
        plugin: plugin.clone(),
        policy,
    }) {
        made.not_attached
            .push(format!("policy {policy:?}: {failure}"));
    }
    for spec in attachments {
        let shown = format!("{} -> {}", spec.export, spec.point);
        match plugins.handle(Request::Attach {
            plugin: plugin.clone(),
            spec,
        }) {
            Ok(_) => made.attached += 1,
            Err(failure) => made.not_attached.push(format!("{shown}: {failure}")),
        }
    }
    made.boot_runs = plugins.boot_attachments(id);
    let traps = plugins.run_boot(id);
    if let Some(trap) = traps.first() {
        let _ = plugins.handle(Request::Unload { plugin });
        return Err(format!(
            "its boot attachment trapped ({:?}); unloaded",
            trap.kind
        ));
    }
    Ok(made)
}
