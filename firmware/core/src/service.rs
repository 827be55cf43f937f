//! The plugin service: the host-link requests about plugins (chunked upload, list, invoke,
//! unload, trap policy) served over any [`Platform`], with each lifecycle step (compile, install,
//! link, invoke, unlink) timed and trap policies applied. The board firmware and the silicon
//! harness both serve the same protocol through it, so `kplug` drives either the same way.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::{CompileError, InvokeError, LoadError};
use crate::imports::ImportHost;
use crate::instance::{Outcome, Platform, Plugin};
use crate::table::PluginTable;
use crate::{CompileOptions, Isolation};
use plugin_format::error::{PluginError, PluginErrorKind, RequestError};
use plugin_format::limits::{self, CheckedLimits, LimitError, MAX_CHUNK_BYTES};
use plugin_format::message::{
    Event, InvokeReport, LoadReport, PluginRef, PluginState, PluginSummary, Reply, Request,
    StepTime, TrapPolicy, UnloadReport, Value,
};
use plugin_format::plugin::PluginDescription;
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

/// What the service needs from its environment besides a [`Platform`]: the plugins' imports,
/// a cycle counter, the heap figure, and a queue of events for the host.
pub trait ServiceHost: ImportHost {
    /// The cycle counter (the TSC).
    fn cycles(&mut self) -> u64;
    /// Converts cycles to microseconds.
    fn cycles_to_micros(&self, cycles: u64) -> u64;
    /// Heap bytes in use (to report what an unload freed).
    fn heap_used(&self) -> u32;
    /// The plugin whose code runs next (for attributing its output).
    fn set_current_plugin(&mut self, id: u32);
    /// Queues an event for the host.
    fn push_event(&mut self, event: Event);
}

/// Every loaded plugin and the upload in progress.
pub struct PluginService<P: Platform, H: ServiceHost> {
    platform: P,
    table: PluginTable<P>,
    extra: Vec<Option<Extra>>,
    upload: Option<Upload>,
    module: Vec<u8>,
    isolation: Isolation,
    /// The imports, clock and event queue.
    pub host: H,
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
        LoadError::StackTooSmall { .. } => PluginErrorKind::TooLarge,
        LoadError::StartRefused(_) => PluginErrorKind::Internal,
        LoadError::DataSegmentOutOfBounds { .. } | LoadError::ElementSegmentOutOfBounds { .. } => {
            PluginErrorKind::Invalid
        }
    };
    error(kind, message)
}

impl<P: Platform, H: ServiceHost> PluginService<P, H> {
    /// An empty table of `slots` plugins on `platform`, compiling for `isolation`.
    pub fn new(platform: P, host: H, isolation: Isolation, slots: usize) -> Self {
        let mut extra = Vec::new();
        extra.resize_with(slots, || None);
        PluginService {
            platform,
            table: PluginTable::new(slots),
            extra,
            upload: None,
            module: Vec::new(),
            isolation,
            host,
        }
    }

    /// The isolation mode code is compiled for.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    fn step(&self, cycles: u64) -> StepTime {
        StepTime {
            cycles,
            micros: self.host.cycles_to_micros(cycles),
        }
    }

    fn timed<R>(host: &mut H, f: impl FnOnce(&mut H) -> R) -> (R, u64) {
        let start = host.cycles();
        let result = f(host);
        let end = host.cycles();
        (result, end.wrapping_sub(start))
    }

    /// Whether `request` is one this module serves.
    pub fn serves(request: &Request) -> bool {
        matches!(
            request,
            Request::UploadBegin { .. }
                | Request::UploadChunk { .. }
                | Request::UploadEnd { .. }
                | Request::List
                | Request::Invoke { .. }
                | Request::Unload { .. }
                | Request::SetTrapPolicy { .. }
        )
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
        if self.table.iter().any(|(_, entry)| entry.name == *name) {
            return Err(error(
                PluginErrorKind::NameInUse,
                format!("a plugin named `{name}` is already loaded; unload it first"),
            ));
        }
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
        self.load(upload.description, upload.limits, &module)
    }

    fn load(
        &mut self,
        description: PluginDescription,
        limits: CheckedLimits,
        module: &[u8],
    ) -> Result<LoadReport, RequestError> {
        let options = CompileOptions::new(self.isolation);
        let (compiled, compile_cycles) =
            Self::timed(&mut self.host, |_| crate::compile(module, &options));
        let compiled = compiled.map_err(compile_error)?;
        let exports = compiled
            .exports
            .iter()
            .filter_map(|export| {
                let ty = compiled.functions.get(export.function as usize)?.ty;
                let params = (0..ty.params).map(|_| "i32").collect::<Vec<_>>().join(", ");
                let results = (0..ty.results)
                    .map(|_| "i32")
                    .collect::<Vec<_>>()
                    .join(", ");
                Some(format!("{}({params}) -> ({results})", export.name))
            })
            .collect();
        let imports = compiled
            .imports
            .iter()
            .map(|import| format!("{}.{}", import.module, import.name))
            .collect();
        let code_bytes = compiled.code.len() as u32;
        let platform = &mut self.platform;
        let (installed, install_cycles) = Self::timed(&mut self.host, |_| {
            Plugin::install(platform, compiled, limits)
        });
        let mut plugin = installed.map_err(load_error)?;
        let (linked, link_cycles) = Self::timed(&mut self.host, |host| {
            plugin.link(platform)?;
            plugin.start(platform, host)
        });
        if let Err(failure) = linked {
            plugin.uninstall(&mut self.platform);
            return Err(load_error(failure));
        }
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
        self.host.set_current_plugin(id);
        let platform = &mut self.platform;
        let table = &mut self.table;
        let (outcome, cycles) = Self::timed(&mut self.host, |host| {
            table.invoke(platform, host, id, export, args)
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

    fn note_trap(&mut self, id: u32, record: &TrapRecord) {
        let traps = self
            .table
            .get(id)
            .map_or(0, |entry| entry.plugin.stats.traps);
        if let Some(extra) = self.extra[id as usize].as_mut() {
            if let TrapPolicy::QuarantineAfter(limit) = extra.policy {
                extra.quarantined = traps >= u64::from(limit);
            }
        }
        self.host.push_event(Event::Trap {
            plugin: id,
            record: record.clone(),
        });
    }

    fn unload(&mut self, plugin: &PluginRef) -> Result<UnloadReport, RequestError> {
        let id = self.find(plugin)?;
        let before = self.host.heap_used();
        let platform = &mut self.platform;
        let table = &mut self.table;
        let (_, cycles) = Self::timed(&mut self.host, |_| table.unload(platform, id));
        self.extra[id as usize] = None;
        let freed_bytes = before.saturating_sub(self.host.heap_used());
        Ok(UnloadReport {
            unlink: self.step(cycles),
            freed_bytes,
        })
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

fn describe(plugin: &PluginRef) -> String {
    match plugin {
        PluginRef::Id(id) => format!("with id {id}"),
        PluginRef::Name(name) => format!("named `{name}`"),
    }
}
