//! The plugin service: the host-link requests about plugins (chunked upload, list, invoke,
//! unload, trap policy) served over any [`Platform`] and [`Device`], with each lifecycle step
//! (compile, install, link, invoke, unlink) timed and trap policies applied. The board firmware
//! and the silicon harness both serve the same protocol through it (and the
//! [`LinkServer`](crate::link::LinkServer)), so `kplug` drives either the same way.
//!
//! The walk of an upload: `UploadBegin` (the description checked against
//! `plugin_format::limits`, the module's buffer reserved fallibly) -> `UploadChunk`s -> `UploadEnd`
//! (CRC) -> validate and compile -> install -> link -> start. Plugin output goes to an
//! [`OutputQueue`] under its quota; [`PluginService::serve`] returns a request's result with the
//! events it produced, in order.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::attach::{Attachments, RunRecord};
use crate::error::{CompileError, GlobalWriteError, InvokeError, LoadError};
use crate::imports::ImportHost;
use crate::instance::{Outcome, Platform, Plugin};
use crate::output::OutputQueue;
use crate::table::PluginTable;
use crate::{CompileOptions, Isolation};
use plugin_format::attach::{
    AttachError, AttachFault, AttachPoint, AttachSpec, AttachmentSummary, FaultAction,
    MAX_STAGE_BUFFER_BYTES,
};
use plugin_format::error::{PluginError, PluginErrorKind, RequestError};
use plugin_format::limits::{self, CheckedLimits, LimitError, MAX_CHUNK_BYTES};
use plugin_format::message::{
    Event, InvokeReport, LoadReport, MAX_PEEK_BYTES, PluginRef, PluginState, PluginSummary, Reply,
    Request, StepTime, TrapPolicy, UnloadReport, Value,
};
use plugin_format::plugin::PluginDescription;
use plugin_format::symbols::ValType;
use plugin_format::trap::TrapRecord;

/// An upload in progress.
struct Upload {
    description: PluginDescription,
    limits: CheckedLimits,
    expected: u32,
}

/// What the board keeps per loaded plugin besides the core's record.
#[derive(Clone)]
struct Extra {
    policy: TrapPolicy,
    quarantined: bool,
}

/// Converts `cycles` of a counter running at `hz` to microseconds (0 while the rate is unknown).
/// The board and the harness both convert with it. Split into whole seconds and a remainder, so
/// no product overflows however long the counter ran (for any rate below 18 THz).
pub fn cycles_to_micros(cycles: u64, hz: u64) -> u64 {
    const MICROS_PER_SECOND: u64 = 1_000_000;
    match hz {
        0 => 0,
        hz => (cycles / hz) * MICROS_PER_SECOND + (cycles % hz) * MICROS_PER_SECOND / hz,
    }
}

/// What the service needs from the board besides isolation ([`Platform`]): the clock, the
/// peripherals plugins reach through imports, and the heap figure.
pub trait Device {
    /// The cycle counter (the TSC).
    fn cycles(&mut self) -> u64;
    /// Converts cycles to microseconds.
    fn cycles_to_micros(&self, cycles: u64) -> u64;
    /// `env.now_us`: microseconds since boot, low 32 bits.
    fn now_us(&mut self) -> u32;
    /// `env.ticks_ms`: milliseconds since boot, low 32 bits.
    fn ticks_ms(&mut self) -> u32;
    /// `env.gpio_write`: drive `pin` (checked: 0..=7) to `high`.
    fn gpio_write(&mut self, pin: u32, high: bool);
    /// `env.gpio_read`: the level of `pin` (checked: 0..=7).
    fn gpio_read(&mut self, pin: u32) -> bool;
    /// Heap bytes in use (to report what an unload freed).
    fn heap_used(&self) -> u32;
    /// Heap bytes free (to check the compiler's headroom before compiling).
    fn heap_free(&self) -> u32;
}

mod channels;

pub use channels::{ADC_SEED, CHANNELS, FRAMES, SAMPLES};

/// Heap bytes the compiler may need for a module of `module_bytes` bytes: what the service checks
/// is free before compiling an upload. The compiler allocates infallibly, so this bound (measured
/// against the shapes that make it allocate most, `tests/compile_memory.rs`, with a margin) keeps
/// an upload from exhausting the heap.
pub const fn compile_headroom(module_bytes: usize) -> usize {
    COMPILE_HEADROOM_PER_BYTE * module_bytes + COMPILE_HEADROOM_BASE
}

/// Heap bytes per module byte in [`compile_headroom`].
pub const COMPILE_HEADROOM_PER_BYTE: usize = 40;
/// Fixed heap bytes in [`compile_headroom`].
pub const COMPILE_HEADROOM_BASE: usize = 256 * 1024;

/// The imports as the service's plugins see them: output to the [`OutputQueue`], the rest to
/// the [`Device`].
pub struct ServiceImports<'a, D: Device> {
    /// The board.
    pub device: &'a mut D,
    /// The events for the host.
    pub output: &'a mut OutputQueue,
}

impl<D: Device> ImportHost for ServiceImports<'_, D> {
    fn log(&mut self, text: &[u8]) {
        self.output.log(text);
    }
    fn emit(&mut self, bytes: &[u8]) {
        self.output.emit(bytes);
    }
    fn now_us(&mut self) -> u32 {
        self.device.now_us()
    }
    fn ticks_ms(&mut self) -> u32 {
        self.device.ticks_ms()
    }
    fn gpio_write(&mut self, pin: u32, high: bool) {
        self.device.gpio_write(pin, high);
    }
    fn gpio_read(&mut self, pin: u32) -> bool {
        self.device.gpio_read(pin)
    }
}

/// Whether `request` is one the plugin service serves (the others are the link's own, and the
/// store's). Exhaustive on purpose: a new request must be routed here before it compiles.
pub fn serves(request: &Request) -> bool {
    match request {
        Request::Hello { .. }
        | Request::Info
        | Request::Ping
        | Request::Stats
        | Request::SubscribeLogs => false,
        Request::UploadFinish { .. }
        | Request::StoreInfo
        | Request::StoreList
        | Request::StoreRemove { .. }
        | Request::StoreErase
        | Request::ChangeKey { .. } => crate::store::service::serves(request),
        Request::UploadBegin { .. }
        | Request::UploadChunk { .. }
        | Request::UploadEnd { .. }
        | Request::List
        | Request::Invoke { .. }
        | Request::Unload { .. }
        | Request::SetTrapPolicy { .. }
        | Request::GetGlobal { .. }
        | Request::Attach { .. }
        | Request::Detach { .. }
        | Request::ListAttachments
        | Request::SetGlobal { .. }
        | Request::Peek { .. }
        | Request::Poke { .. }
        | Request::Feed { .. }
        | Request::Stream { .. }
        | Request::Camera(_)
        | Request::SetSink { .. }
        | Request::Burst { .. } => true,
    }
}

/// The service's figures that `Stats` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceFigures {
    /// Plugin descriptor slots in use (the platform's).
    pub descriptor_slots: u32,
    /// Plugin output bytes dropped over the quota since boot.
    pub output_dropped: u32,
}

/// Bytes of export and import descriptions a load report carries at most (the rest is
/// summarised), so that it fits in one frame whatever the module declares.
pub const MAX_REPORT_LIST_BYTES: usize = 1280;

/// Every loaded plugin and the upload in progress.
pub struct PluginService<P: Platform, D: Device> {
    platform: P,
    table: PluginTable<P>,
    extra: Vec<Option<Extra>>,
    upload: Option<Upload>,
    module: Vec<u8>,
    isolation: Isolation,
    output: OutputQueue,
    attachments: Attachments,
    /// The channels' sources, sinks and listeners.
    channels: channels::ChannelState,
    /// The board's clock and peripherals.
    pub device: D,
}

/// What a console command served by an attachment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleRun {
    /// The attachment.
    pub attachment: u32,
    /// What the export printed (`log` lines, `emit` bytes as text), and its result.
    pub text: String,
    /// The trap that ended it, if one did.
    pub trap: Option<TrapRecord>,
}

fn error(kind: PluginErrorKind, message: impl Into<String>) -> RequestError {
    RequestError::Plugin(PluginError {
        kind,
        message: message.into(),
    })
}

fn limit_error(failure: LimitError) -> RequestError {
    let message = failure.to_string();
    error(PluginErrorKind::Limit(failure), message)
}

fn compile_error(failure: CompileError) -> RequestError {
    let message = failure.to_string();
    let kind = match failure {
        CompileError::Invalid { .. } => PluginErrorKind::Invalid,
        CompileError::Unsupported {
            operator,
            function,
            offset,
            ..
        } => PluginErrorKind::Unsupported {
            operator,
            function: Some(function),
            offset,
        },
        CompileError::UnsupportedFeature { feature, offset } => PluginErrorKind::Unsupported {
            operator: feature,
            function: None,
            offset,
        },
        CompileError::TooLarge { .. } => PluginErrorKind::TooLarge,
        CompileError::OutOfMemory => PluginErrorKind::OutOfMemory,
        CompileError::Internal(_) => PluginErrorKind::Internal,
    };
    error(kind, message)
}

fn load_error(failure: LoadError) -> RequestError {
    let message = failure.to_string();
    let kind = match failure {
        LoadError::Link(link) => PluginErrorKind::Link(link),
        LoadError::TableFull => PluginErrorKind::TooManyPlugins,
        LoadError::StartTrapped(record) => PluginErrorKind::StartTrapped(record),
        LoadError::MemoryLimit { .. } | LoadError::Platform(_) => PluginErrorKind::OutOfMemory,
        LoadError::StackTooSmall { .. } | LoadError::TooManyImports { .. } => {
            PluginErrorKind::TooLarge
        }
        LoadError::StartRefused(_) => PluginErrorKind::Internal,
        LoadError::DataSegmentOutOfBounds { .. } | LoadError::ElementSegmentOutOfBounds { .. } => {
            PluginErrorKind::Invalid
        }
    };
    error(kind, message)
}

impl<P: Platform, D: Device> PluginService<P, D> {
    /// An empty table of `slots` plugins on `platform`, compiling for `isolation`.
    pub fn new(platform: P, device: D, isolation: Isolation, slots: usize) -> Self {
        let mut extra = Vec::new();
        extra.resize_with(slots, || None);
        PluginService {
            platform,
            table: PluginTable::new(slots),
            extra,
            upload: None,
            module: Vec::new(),
            isolation,
            output: OutputQueue::new(),
            attachments: Attachments::new(&[], &[]),
            channels: channels::ChannelState::default(),
            device,
        }
    }

    /// The attachment table.
    pub fn attachments(&self) -> &Attachments {
        &self.attachments
    }

    /// The platform (for its figures).
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The platform, mutably (for platform-specific controls and tests).
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// The figures `Stats` reports.
    pub fn figures(&self) -> ServiceFigures {
        ServiceFigures {
            descriptor_slots: self.platform.descriptor_slots_in_use(),
            output_dropped: self.output.dropped_total(),
        }
    }

    /// Takes the events queued for the host, in order.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.output.take()
    }

    /// Serves a plugin request: its result, and the events it produced (in order, to be sent
    /// before the response).
    pub fn serve(&mut self, request: Request) -> (Result<Reply, RequestError>, Vec<Event>) {
        let result = self.handle(request);
        (result, self.take_events())
    }

    /// The isolation mode code is compiled for.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    fn step(&self, cycles: u64) -> StepTime {
        StepTime {
            cycles,
            micros: self.device.cycles_to_micros(cycles),
        }
    }

    /// Runs `f` with the imports, and returns its result and the cycles it took.
    fn timed<R>(
        device: &mut D,
        output: &mut OutputQueue,
        f: impl FnOnce(&mut ServiceImports<'_, D>) -> R,
    ) -> (R, u64) {
        let start = device.cycles();
        let mut imports = ServiceImports { device, output };
        let result = f(&mut imports);
        let end = imports.device.cycles();
        (result, end.wrapping_sub(start))
    }

    /// Serves a plugin request (others are `UnknownRequest`).
    pub fn handle(&mut self, request: Request) -> Result<Reply, RequestError> {
        match request {
            Request::UploadBegin {
                description,
                module_bytes,
            } => self.upload_begin(description, module_bytes),
            Request::UploadChunk { offset, bytes } => self.upload_chunk(offset, &bytes),
            Request::UploadEnd { crc32 } => self.upload_end(crc32).map(Reply::Loaded),
            Request::List => Ok(Reply::Plugins(self.summaries())),
            Request::Invoke {
                plugin,
                export,
                args,
            } => self.invoke(&plugin, &export, &args).map(Reply::Invoked),
            Request::Unload { plugin } => self.unload(&plugin).map(Reply::Unloaded),
            Request::SetTrapPolicy { plugin, policy } => {
                let id = self.find(&plugin)?;
                if let Some(extra) = self.extra[id as usize].as_mut() {
                    extra.policy = policy;
                    extra.quarantined = false;
                }
                Ok(Reply::Pong)
            }
            Request::GetGlobal { plugin, name } => self.global(&plugin, &name).map(Reply::Global),
            Request::Attach { plugin, spec } => self.attach(&plugin, spec).map(Reply::Attached),
            Request::Detach { attachment } => {
                self.attachments.remove(attachment).map_err(attach_error)?;
                Ok(Reply::Attachments(self.attachment_summaries()))
            }
            Request::ListAttachments => Ok(Reply::Attachments(self.attachment_summaries())),
            request @ (Request::Feed { .. }
            | Request::Stream { .. }
            | Request::Camera(_)
            | Request::SetSink { .. }
            | Request::Burst { .. }) => self.handle_channel(request),
            Request::SetGlobal {
                plugin,
                name,
                value,
            } => self.set_global(&plugin, &name, &value).map(Reply::Global),
            Request::Peek {
                plugin,
                offset,
                length,
            } => self.peek(&plugin, offset, length).map(Reply::Memory),
            Request::Poke {
                plugin,
                offset,
                bytes,
            } => self.poke(&plugin, offset, &bytes).map(|()| Reply::Pong),
            _ => Err(RequestError::UnknownRequest),
        }
    }

    fn upload_begin(
        &mut self,
        description: PluginDescription,
        size: u32,
    ) -> Result<Reply, RequestError> {
        self.upload = None;
        self.module = Vec::new();
        let limits = description.check(size).map_err(limit_error)?;
        let name = &description.name;
        self.check_name_free(name)?;
        if self.table.iter().count() >= self.table.capacity() {
            return Err(error(
                PluginErrorKind::TooManyPlugins,
                format!("all {} plugin slots are in use", self.table.capacity()),
            ));
        }
        let mut module = Vec::new();
        if module.try_reserve_exact(size as usize).is_err() {
            return Err(error(
                PluginErrorKind::OutOfMemory,
                "no heap left for the module",
            ));
        }
        self.module = module;
        self.upload = Some(Upload {
            description,
            limits,
            expected: size,
        });
        Ok(Reply::UploadReady)
    }

    fn upload_chunk(&mut self, offset: u32, bytes: &[u8]) -> Result<Reply, RequestError> {
        let Some(upload) = self.upload.as_ref() else {
            return Err(error(PluginErrorKind::Upload, "no upload in progress"));
        };
        if bytes.len() > MAX_CHUNK_BYTES {
            self.upload = None;
            return Err(error(
                PluginErrorKind::Upload,
                format!("a chunk carries at most {MAX_CHUNK_BYTES} bytes; upload cancelled"),
            ));
        }
        let received = self.module.len() as u32;
        if offset != received {
            return Err(error(
                PluginErrorKind::Upload,
                format!("chunk at offset {offset}, expected {received}"),
            ));
        }
        if received as usize + bytes.len() > upload.expected as usize {
            self.upload = None;
            return Err(error(
                PluginErrorKind::Upload,
                "more bytes than announced; upload cancelled",
            ));
        }
        self.module.extend_from_slice(bytes);
        Ok(Reply::ChunkAccepted(self.module.len() as u32))
    }

    fn upload_end(&mut self, crc32: u32) -> Result<LoadReport, RequestError> {
        let (upload, module) = self.finish_upload(crc32)?;
        self.load(upload.description, upload.limits, &module)
    }

    /// Ends the upload in progress as `UploadEnd` does, up to the load: checks its byte count
    /// and CRC, and returns its description (with an empty `module`) and the module, for a caller
    /// that checks more before loading them with [`PluginService::load_description`] (the plugin
    /// store: signatures, persistence).
    pub fn take_upload(
        &mut self,
        crc32: u32,
    ) -> Result<(PluginDescription, Vec<u8>), RequestError> {
        self.finish_upload(crc32)
            .map(|(upload, module)| (upload.description, module))
    }

    fn finish_upload(&mut self, crc32: u32) -> Result<(Upload, Vec<u8>), RequestError> {
        let upload = self
            .upload
            .take()
            .ok_or_else(|| error(PluginErrorKind::Upload, "no upload in progress"))?;
        let module = core::mem::take(&mut self.module);
        if module.len() as u32 != upload.expected {
            return Err(error(
                PluginErrorKind::Upload,
                format!("received {} of {} bytes", module.len(), upload.expected),
            ));
        }
        if plugin_format::frame::crc32(&module) != crc32 {
            return Err(error(
                PluginErrorKind::Upload,
                "CRC mismatch: the module was corrupted in transit",
            ));
        }
        Ok((upload, module))
    }

    /// Loads a plugin that did not come over the link (a plugin store at boot): `description`
    /// (its `module` field empty) is checked against the limits as an upload's is, then `module`
    /// takes the upload's path from validation on.
    pub fn load_description(
        &mut self,
        description: PluginDescription,
        module: &[u8],
    ) -> Result<LoadReport, RequestError> {
        let size = u32::try_from(module.len()).unwrap_or(u32::MAX);
        let limits = description.check(size).map_err(limit_error)?;
        self.check_name_free(&description.name)?;
        self.load(description, limits, module)
    }

    /// Refuses a name another loaded plugin has.
    fn check_name_free(&self, name: &str) -> Result<(), RequestError> {
        if self.table.iter().any(|(_, entry)| entry.name == name) {
            return Err(error(
                PluginErrorKind::NameInUse,
                format!("a plugin named `{name}` is already loaded; unload it first"),
            ));
        }
        Ok(())
    }

    fn load(
        &mut self,
        description: PluginDescription,
        limits: CheckedLimits,
        module: &[u8],
    ) -> Result<LoadReport, RequestError> {
        let headroom = compile_headroom(module.len());
        let free = self.device.heap_free() as usize;
        if free < headroom {
            return Err(error(
                PluginErrorKind::OutOfMemory,
                format!(
                    "compiling a {}-byte module needs {headroom} bytes of heap; {free} are free",
                    module.len()
                ),
            ));
        }
        let options = CompileOptions::new(self.isolation);
        let (compiled, compile_cycles) = Self::timed(&mut self.device, &mut self.output, |_| {
            crate::compile(module, &options)
        });
        let compiled = compiled.map_err(compile_error)?;
        let exports = bounded_list(compiled.exports.iter().filter_map(|export| {
            let ty = &compiled.functions.get(export.function as usize)?.ty;
            let params = crate::marshal::parameter_types(ty)
                .map(|ty| ty.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let results = crate::marshal::result_types(ty)
                .map(|ty| ty.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            Some(format!("{}({params}) -> ({results})", export.name))
        }));
        let imports = bounded_list(
            compiled
                .imports
                .iter()
                .map(|import| format!("{}.{}", import.module, import.name)),
        );
        let code_bytes = compiled.code.len() as u32;
        let platform = &mut self.platform;
        let (installed, install_cycles) = Self::timed(&mut self.device, &mut self.output, |_| {
            Plugin::install(platform, compiled, limits)
        });
        let plugin = installed.map_err(load_error)?;
        let (live, link_cycles) = Self::timed(&mut self.device, &mut self.output, |imports| {
            plugin.go_live(platform, imports)
        });
        let plugin = live.map_err(load_error)?;
        let memory_bytes = plugin.memory_bytes();
        let id = match self.table.insert(&description.name, plugin) {
            Ok(id) => id,
            Err(plugin) => {
                plugin.uninstall(&mut self.platform);
                return Err(load_error(LoadError::TableFull));
            }
        };
        self.extra[id as usize] = Some(Extra {
            policy: TrapPolicy::KeepLoaded,
            quarantined: false,
        });
        Ok(LoadReport {
            id,
            name: description.name,
            compile: self.step(compile_cycles),
            install: self.step(install_cycles),
            link: self.step(link_cycles),
            wasm_bytes: module.len() as u32,
            code_bytes,
            memory_bytes,
            imports,
            exports,
            isolation: self.isolation,
        })
    }

    /// The id of the loaded plugin `plugin` names, if one is loaded.
    pub fn plugin_id(&self, plugin: &PluginRef) -> Option<u32> {
        self.find(plugin).ok()
    }

    /// Plugin `id`'s fault policy (`None`: no such plugin).
    pub fn policy(&self, id: u32) -> Option<TrapPolicy> {
        self.table.get(id)?;
        Some(
            self.extra
                .get(id as usize)
                .and_then(Option::as_ref)
                .map_or(TrapPolicy::KeepLoaded, |extra| extra.policy),
        )
    }

    /// Plugin `id`'s attachments' specs, in the order they were made.
    pub fn attachment_specs(&self, id: u32) -> Vec<AttachSpec> {
        self.attachments
            .iter()
            .filter(|attachment| attachment.plugin == id)
            .map(|attachment| attachment.spec.clone())
            .collect()
    }

    fn find(&self, plugin: &PluginRef) -> Result<u32, RequestError> {
        let found = match plugin {
            PluginRef::Id(id) => self.table.get(*id).map(|_| *id),
            PluginRef::Name(name) => self
                .table
                .iter()
                .find(|(_, entry)| entry.name == *name)
                .map(|(id, _)| id),
        };
        found.ok_or_else(|| {
            error(
                PluginErrorKind::NoSuchPlugin,
                format!("no plugin {}", describe(plugin)),
            )
        })
    }

    fn invoke(
        &mut self,
        plugin: &PluginRef,
        export: &str,
        args: &[Value],
    ) -> Result<InvokeReport, RequestError> {
        limits::check_invocation(export, args.len()).map_err(limit_error)?;
        let id = self.find(plugin)?;
        if self.extra[id as usize]
            .as_ref()
            .is_some_and(|extra| extra.quarantined)
        {
            return Err(error(
                PluginErrorKind::Quarantined,
                "the plugin is quarantined after too many traps; set its trap policy to release it",
            ));
        }
        self.output.set_plugin(id);
        let platform = &mut self.platform;
        let table = &mut self.table;
        let (outcome, cycles) = Self::timed(&mut self.device, &mut self.output, |imports| {
            table.invoke(platform, imports, id, export, args)
        });
        let outcome = outcome.map_err(|failure| {
            let kind = match failure {
                InvokeError::NoSuchPlugin(_) => PluginErrorKind::NoSuchPlugin,
                InvokeError::MissingExport(_) => PluginErrorKind::NoSuchExport,
                _ => PluginErrorKind::BadArguments,
            };
            error(kind, failure.to_string())
        })?;
        let outcome = match outcome {
            Outcome::Returned(results) => Ok(results),
            Outcome::Trapped(record) => {
                self.note_trap(id, &record);
                Err(record)
            }
        };
        Ok(InvokeReport {
            outcome,
            time: self.step(cycles),
        })
    }

    /// The current value of the global `plugin` exports as `name`.
    fn global(&self, plugin: &PluginRef, name: &str) -> Result<Value, RequestError> {
        let id = self.find(plugin)?;
        let plugin = &self
            .table
            .get(id)
            .ok_or_else(|| error(PluginErrorKind::NoSuchPlugin, "no such plugin"))?
            .plugin;
        plugin
            .module()
            .global_export(name)
            .and_then(|index| plugin.global_value(index))
            .ok_or_else(|| no_global(name))
    }

    /// Writes `value` into the mutable global `plugin` exports as `name`; returns the value now
    /// held.
    fn set_global(
        &mut self,
        plugin: &PluginRef,
        name: &str,
        value: &Value,
    ) -> Result<Value, RequestError> {
        let id = self.find(plugin)?;
        let plugin = &mut self
            .table
            .get_mut(id)
            .ok_or_else(|| error(PluginErrorKind::NoSuchPlugin, "no such plugin"))?
            .plugin;
        let index = plugin
            .module()
            .global_export(name)
            .ok_or_else(|| no_global(name))?;
        plugin
            .set_global_value(index, value)
            .map_err(|failure| match failure {
                GlobalWriteError::NoSuchGlobal => no_global(name),
                GlobalWriteError::Immutable => error(
                    PluginErrorKind::NoSuchExport,
                    format!("the exported global `{name}` is immutable"),
                ),
                GlobalWriteError::WrongType { .. } | GlobalWriteError::BadReference => error(
                    PluginErrorKind::BadArguments,
                    format!("`{name}`: {failure}"),
                ),
            })?;
        plugin.global_value(index).ok_or_else(|| no_global(name))
    }

    fn note_trap(&mut self, id: u32, record: &TrapRecord) {
        let traps = self
            .table
            .get(id)
            .map_or(0, |entry| entry.plugin.stats.traps);
        if let Some(extra) = self.extra[id as usize].as_mut()
            && let TrapPolicy::QuarantineAfter(limit) = extra.policy
        {
            extra.quarantined = traps >= u64::from(limit);
        }
        self.output.push(Event::Trap {
            plugin: id,
            record: record.clone(),
        });
    }

    fn unload(&mut self, plugin: &PluginRef) -> Result<UnloadReport, RequestError> {
        let id = self.find(plugin)?;
        // Detach first: no attached invocation can be chosen once its code is going.
        self.attachments.remove_plugin(id);
        let before = self.device.heap_used();
        let platform = &mut self.platform;
        let table = &mut self.table;
        let (_, cycles) = Self::timed(&mut self.device, &mut self.output, |_| {
            table.unload(platform, id)
        });
        self.extra[id as usize] = None;
        let freed_bytes = before.saturating_sub(self.device.heap_used());
        Ok(UnloadReport {
            unlink: self.step(cycles),
            freed_bytes,
        })
    }

    /// Attaches `spec` for `plugin`: the spec's numbers and names are checked, the export must
    /// exist with a signature that fits the point.
    fn attach(
        &mut self,
        plugin: &PluginRef,
        spec: AttachSpec,
    ) -> Result<AttachmentSummary, RequestError> {
        spec.check().map_err(attach_error)?;
        let id = self.find(plugin)?;
        let entry = self
            .table
            .get(id)
            .ok_or_else(|| error(PluginErrorKind::NoSuchPlugin, "no such plugin"))?;
        let module = entry.plugin.module();
        let ty = module
            .exports
            .iter()
            .find(|export| export.name == spec.export)
            .and_then(|export| module.functions.get(export.function as usize))
            .map(|function| function.ty.clone())
            .ok_or_else(|| {
                error(
                    PluginErrorKind::NoSuchExport,
                    format!("no exported function `{}`", spec.export),
                )
            })?;
        let params: Vec<ValType> = crate::marshal::parameter_types(&ty).collect();
        let results: Vec<ValType> = crate::marshal::result_types(&ty).collect();
        let fits = if spec.point.is_stage() {
            params == [ValType::I32] && results == [ValType::I32]
        } else {
            params.is_empty() && (results.is_empty() || results == [ValType::I32])
        };
        if !fits {
            return Err(attach_error(AttachError::Signature));
        }
        let area = if let AttachPoint::Channel { name, position } = &spec.point {
            // The chain's checks first: the plugin is asked for its area only for a stage that
            // can be attached.
            self.attachments
                .chain_slot(name, *position)
                .map_err(attach_error)?;
            Some(self.stage_area(id).map_err(attach_error)?)
        } else {
            None
        };
        let now = self.now_us();
        let attachment = self.attachments.add(id, spec, now).map_err(attach_error)?;
        if let Some(area) = area {
            self.attachments.set_stage_area(attachment, area);
        }
        self.attachment_summaries()
            .into_iter()
            .find(|summary| summary.id == attachment)
            .ok_or_else(|| error(PluginErrorKind::Internal, "the attachment vanished"))
    }

    /// Every attachment with its counters.
    pub fn attachment_summaries(&self) -> Vec<AttachmentSummary> {
        self.attachments
            .iter()
            .map(|attachment| AttachmentSummary {
                id: attachment.id,
                plugin: attachment.plugin,
                plugin_name: self
                    .table
                    .get(attachment.plugin)
                    .map(|entry| entry.name.clone())
                    .unwrap_or_default(),
                spec: attachment.spec.clone(),
                counters: attachment.counters,
            })
            .collect()
    }

    /// The board's clock in microseconds (the device's cycle counter at its calibrated rate).
    fn now_us(&mut self) -> u64 {
        let cycles = self.device.cycles();
        self.device.cycles_to_micros(cycles)
    }

    fn quarantined(&self, id: u32) -> bool {
        self.extra
            .get(id as usize)
            .and_then(Option::as_ref)
            .is_some_and(|extra| extra.quarantined)
    }

    /// Runs the timer attachment due earliest, if one is due (at most one per call: the caller
    /// serves the console and the link between calls). Returns whether one ran. Its events
    /// (output, traps, faults) wait in the queue for [`Self::take_events`].
    pub fn run_due_timer(&mut self) -> bool {
        let now = self.now_us();
        let due = self
            .attachments
            .due_timer(now, |plugin| !self.quarantined(plugin));
        match due {
            Some(attachment) => {
                self.run_attached(attachment, None);
                true
            }
            None => false,
        }
    }

    /// Runs the export attached to console word `word`, if there is one. What it prints is
    /// returned (and sent to the host as an `Event::ConsoleOutput`); a trap is reported as for
    /// any attached run.
    pub fn run_console(&mut self, word: &str) -> Option<ConsoleRun> {
        let attachment = self.attachments.console(word)?;
        let (id, plugin) = (attachment.id, attachment.plugin);
        if self.quarantined(plugin) {
            return Some(ConsoleRun {
                attachment: id,
                text: "the plugin is quarantined".into(),
                trap: None,
            });
        }
        let mut printed = OutputQueue::new();
        let (results, trap) = self.run_attached(id, Some(&mut printed));
        let mut text = String::new();
        for event in printed.take() {
            match event {
                Event::PluginLog { text: line, .. } => {
                    text.push_str(&line);
                    text.push('\n');
                }
                Event::PluginOutput { bytes, .. } => {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
                other => self.output.push(other),
            }
        }
        if let Some(values) = results {
            for value in values {
                text.push_str(&format!("{value}\n"));
            }
        }
        self.output.push(Event::ConsoleOutput {
            attachment: id,
            text: text.clone(),
        });
        Some(ConsoleRun {
            attachment: id,
            text,
            trap,
        })
    }

    /// How many `boot` attachments plugin `id` has.
    pub fn boot_attachments(&self, id: u32) -> usize {
        self.attachments.boot(id).len()
    }

    /// Runs `plugin`'s boot attachments once each, in the order they were made (the plugin
    /// store calls this after installing a stored plugin at boot). Returns the traps.
    pub fn run_boot(&mut self, plugin: u32) -> Vec<TrapRecord> {
        let mut traps = Vec::new();
        for attachment in self.attachments.boot(plugin) {
            if self.quarantined(plugin) {
                break;
            }
            let (_, trap) = self.run_attached(attachment, None);
            traps.extend(trap);
        }
        traps
    }

    /// Runs attachment `attachment` once under its plugin's budget, books it, reports a fault
    /// and applies its fault action. Output goes to `capture` if given, else to the service's
    /// queue with the traps and faults. Returns the results, or the trap.
    fn run_attached(
        &mut self,
        attachment: u32,
        capture: Option<&mut OutputQueue>,
    ) -> (Option<Vec<Value>>, Option<TrapRecord>) {
        self.run_attached_with(attachment, capture, &[])
    }

    /// [`Self::run_attached`] with arguments (a channel stage's input length).
    fn run_attached_with(
        &mut self,
        attachment: u32,
        capture: Option<&mut OutputQueue>,
        args: &[Value],
    ) -> (Option<Vec<Value>>, Option<TrapRecord>) {
        let Some(found) = self.attachments.get(attachment) else {
            return (None, None);
        };
        let plugin = found.plugin;
        let export = found.spec.export.clone();
        let output = match capture {
            Some(queue) => queue,
            None => &mut self.output,
        };
        output.set_plugin(plugin);
        let platform = &mut self.platform;
        let table = &mut self.table;
        let (outcome, cycles) = Self::timed(&mut self.device, output, |imports| {
            table.invoke(platform, imports, plugin, &export, args)
        });
        let end_us = self.now_us();
        let (results, trap) = match outcome {
            Ok(Outcome::Returned(values)) => (Some(values), None),
            Ok(Outcome::Trapped(record)) => (None, Some(record)),
            // The export and its signature were checked at attach; a refusal here is a plugin
            // that vanished, which the unload path prevents.
            Err(_) => return (None, None),
        };
        let fault = self.attachments.record(
            attachment,
            RunRecord {
                end_us,
                cycles,
                micros: self.device.cycles_to_micros(cycles),
                trap: trap.as_ref().map(|record| record.kind),
            },
        );
        if let Some(record) = &trap {
            self.note_trap(plugin, record);
        }
        if let Some(fault) = fault {
            self.apply_fault(attachment, fault);
        }
        (results, trap)
    }

    /// Reports `fault` of `attachment` as an event and applies its fault action.
    fn apply_fault(&mut self, attachment: u32, fault: AttachFault) {
        let Some(found) = self.attachments.get(attachment) else {
            return;
        };
        let (plugin, action) = (found.plugin, found.spec.on_fault);
        self.output.push(Event::AttachmentFault {
            attachment,
            plugin,
            fault,
            action,
        });
        match action {
            FaultAction::Keep => {}
            FaultAction::Detach => {
                let _ = self.attachments.remove(attachment);
            }
            FaultAction::Quarantine => {
                if let Some(extra) = self.extra[plugin as usize].as_mut() {
                    extra.quarantined = true;
                }
            }
        }
    }

    /// Asks `plugin` for its stage input area (`input_ptr()`, `input_capacity()`) and checks it
    /// lies inside its memory and within [`MAX_STAGE_BUFFER_BYTES`].
    fn stage_area(&mut self, plugin: u32) -> Result<(u32, u32), AttachError> {
        let mut ask = |export: &str| -> u32 {
            let platform = &mut self.platform;
            let table = &mut self.table;
            let (outcome, _) = Self::timed(&mut self.device, &mut self.output, |imports| {
                table.invoke(platform, imports, plugin, export, &[])
            });
            match outcome {
                Ok(Outcome::Returned(values)) => match values.as_slice() {
                    [Value::I32(value)] => *value as u32,
                    _ => u32::MAX,
                },
                _ => u32::MAX,
            }
        };
        let pointer = ask("input_ptr");
        let capacity = ask("input_capacity");
        let memory_bytes = self
            .table
            .get(plugin)
            .map_or(0, |entry| entry.plugin.memory_bytes());
        let inside = pointer
            .checked_add(capacity)
            .is_some_and(|end| end <= memory_bytes);
        if inside && (1..=MAX_STAGE_BUFFER_BYTES).contains(&capacity) {
            Ok((pointer, capacity))
        } else {
            Err(AttachError::StageArea { pointer, capacity })
        }
    }

    /// `length` bytes of `plugin`'s linear memory at `offset`.
    fn peek(&self, plugin: &PluginRef, offset: u32, length: u32) -> Result<Vec<u8>, RequestError> {
        let id = self.find(plugin)?;
        let plugin = &self
            .table
            .get(id)
            .ok_or_else(|| error(PluginErrorKind::NoSuchPlugin, "no such plugin"))?
            .plugin;
        check_memory_range(offset, length, plugin.memory_bytes())?;
        plugin
            .read_memory(offset, length)
            .ok_or_else(|| limit_error(memory_range(offset, length, plugin.memory_bytes())))
    }

    /// Writes `bytes` into `plugin`'s linear memory at `offset`.
    fn poke(&mut self, plugin: &PluginRef, offset: u32, bytes: &[u8]) -> Result<(), RequestError> {
        let id = self.find(plugin)?;
        let plugin = &mut self
            .table
            .get_mut(id)
            .ok_or_else(|| error(PluginErrorKind::NoSuchPlugin, "no such plugin"))?
            .plugin;
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        check_memory_range(offset, length, plugin.memory_bytes())?;
        if plugin.write_memory(offset, bytes) {
            Ok(())
        } else {
            Err(limit_error(memory_range(
                offset,
                length,
                plugin.memory_bytes(),
            )))
        }
    }

    /// One summary per loaded plugin.
    pub fn summaries(&self) -> Vec<PluginSummary> {
        self.table
            .iter()
            .map(|(id, entry)| {
                let extra = self.extra[id as usize].clone().unwrap_or(Extra {
                    policy: TrapPolicy::KeepLoaded,
                    quarantined: false,
                });
                let stats = &entry.plugin.stats;
                PluginSummary {
                    id,
                    name: entry.name.clone(),
                    state: if extra.quarantined {
                        PluginState::Quarantined
                    } else {
                        PluginState::Ready
                    },
                    code_bytes: entry.plugin.module().code.len() as u32,
                    memory_bytes: entry.plugin.memory_bytes(),
                    invocations: stats.invocations as u32,
                    traps: stats.traps as u32,
                    last_result: entry.plugin.last_results(),
                    last_trap: stats.last_trap.clone(),
                    policy: extra.policy,
                }
            })
            .collect()
    }
}

/// The items of `items` that fit in [`MAX_REPORT_LIST_BYTES`], then `... and N more`.
fn bounded_list(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut list = Vec::new();
    let mut bytes = 0usize;
    let mut left_out = 0usize;
    for item in items {
        if left_out == 0 && bytes + item.len() <= MAX_REPORT_LIST_BYTES {
            bytes += item.len();
            list.push(item);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        list.push(format!("... and {left_out} more"));
    }
    list
}

fn no_global(name: &str) -> RequestError {
    error(
        PluginErrorKind::NoSuchExport,
        format!("no exported global `{name}`"),
    )
}

fn attach_error(failure: AttachError) -> RequestError {
    let message = failure.to_string();
    error(PluginErrorKind::Attach(failure), message)
}

fn memory_range(offset: u32, length: u32, memory_bytes: u32) -> LimitError {
    LimitError::MemoryRange {
        offset,
        length,
        memory_bytes,
    }
}

/// Refuses a peek or poke longer than [`MAX_PEEK_BYTES`] or reaching past the memory's end
/// (checked arithmetic: `offset + length` may not wrap).
fn check_memory_range(offset: u32, length: u32, memory_bytes: u32) -> Result<(), RequestError> {
    if length > MAX_PEEK_BYTES {
        return Err(limit_error(LimitError::PeekLength { length }));
    }
    match offset.checked_add(length) {
        Some(end) if end <= memory_bytes => Ok(()),
        _ => Err(limit_error(memory_range(offset, length, memory_bytes))),
    }
}

fn describe(plugin: &PluginRef) -> String {
    match plugin {
        PluginRef::Id(id) => format!("with id {id}"),
        PluginRef::Name(name) => format!("named `{name}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::cycles_to_micros;

    #[test]
    fn cycles_convert_without_overflow() {
        assert_eq!(cycles_to_micros(1_234, 0), 0, "no rate yet");
        assert_eq!(cycles_to_micros(3_000_000_000, 3_000_000_000), 1_000_000);
        assert_eq!(cycles_to_micros(4_499, 3_000_000_000), 1, "truncates");
        // Nearly 200 years at 3 GHz: `cycles * 1_000_000` would overflow long before.
        let cycles = 3_000_000_000 * 6_000_000_000_u64 + 1_500_000_000;
        assert_eq!(
            cycles_to_micros(cycles, 3_000_000_000),
            6_000_000_000 * 1_000_000 + 500_000
        );
    }
}
