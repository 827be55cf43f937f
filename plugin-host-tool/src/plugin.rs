//! The host side of the plugin lifecycle: reading a module (WAT or binary), checking its imports
//! against the firmware symbol table before anything is sent, the chunked upload, and the
//! list / invoke / unload requests.

use std::path::Path;

use plugin_format::message::{
    InvokeReport, LoadReport, MAX_CHUNK_BYTES, PluginRef, PluginSummary, Reply, Request,
    UnloadReport, Value,
};
use plugin_format::plugin::{ImportRequest, Limits, MAX_MODULE_BYTES, PluginDescription};
use plugin_format::symbols::{self, LinkError as SymbolLinkError, ValType};

use crate::link::{Link, LinkError};
use crate::transport::Transport;

/// Why a plugin could not be prepared for upload.
#[derive(Debug, thiserror::Error)]
pub enum PluginFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The WAT text does not parse.
    #[error("{0}")]
    Wat(String),
    /// The module is not valid WebAssembly.
    #[error("invalid module: {0}")]
    Invalid(String),
    /// The module is larger than the firmware accepts.
    #[error("the module has {0} bytes; the firmware accepts at most {MAX_MODULE_BYTES}")]
    TooLarge(usize),
    /// An import does not resolve against the firmware symbol table.
    #[error("{0}")]
    Link(SymbolLinkError),
}

/// Reads a plugin module: `.wat` text is assembled, anything else is taken as binary wasm.
pub fn read_module(path: &Path) -> Result<Vec<u8>, PluginFileError> {
    let bytes = std::fs::read(path).map_err(|source| PluginFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let module = if bytes.starts_with(b"\0asm") {
        bytes
    } else {
        wat::parse_bytes(&bytes)
            .map_err(|error| {
                let mut error = error;
                error.set_path(path);
                PluginFileError::Wat(error.to_string())
            })?
            .into_owned()
    };
    if module.len() > MAX_MODULE_BYTES {
        return Err(PluginFileError::TooLarge(module.len()));
    }
    Ok(module)
}

fn val_type(ty: wasmparser::ValType) -> ValType {
    match ty {
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        _ => ValType::I32,
    }
}

/// The module's imports, each resolved against the firmware symbol table: the same check the
/// firmware makes at link time, done here first for fast feedback.
pub fn check_imports(module: &[u8]) -> Result<Vec<ImportRequest>, PluginFileError> {
    let invalid =
        |error: wasmparser::BinaryReaderError| PluginFileError::Invalid(error.to_string());
    let mut types = Vec::new();
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        match payload.map_err(invalid)? {
            wasmparser::Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty.map_err(invalid)?);
                }
            }
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(invalid)?;
                    let wasmparser::TypeRef::Func(index) = import.ty else {
                        return Err(PluginFileError::Link(
                            SymbolLinkError::UnsupportedImportKind {
                                module: import.module.into(),
                                name: import.name.into(),
                            },
                        ));
                    };
                    let ty = types.get(index as usize).ok_or_else(|| {
                        PluginFileError::Invalid(format!(
                            "import `{}` has no type {index}",
                            import.name
                        ))
                    })?;
                    let params: Vec<ValType> = ty.params().iter().copied().map(val_type).collect();
                    let results: Vec<ValType> =
                        ty.results().iter().copied().map(val_type).collect();
                    symbols::resolve(import.module, import.name, &params, &results)
                        .map_err(PluginFileError::Link)?;
                    imports.push(ImportRequest {
                        module: import.module.into(),
                        name: import.name.into(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

/// Builds the description of `module` (imports checked) under `name` with `limits`.
pub fn describe(
    name: &str,
    module: Vec<u8>,
    limits: Limits,
) -> Result<PluginDescription, PluginFileError> {
    let imports = check_imports(&module)?;
    Ok(PluginDescription {
        name: name.into(),
        version: "0".into(),
        limits,
        imports,
        module,
    })
}

/// Uploads `description` in chunks; the firmware validates, compiles and links it.
/// `progress(sent, total)` is called after every chunk.
pub fn upload<T: Transport>(
    link: &mut Link<T>,
    mut description: PluginDescription,
    mut progress: impl FnMut(usize, usize),
) -> Result<LoadReport, LinkError> {
    let module = std::mem::take(&mut description.module);
    let crc32 = plugin_format::frame::crc32(&module);
    expect(
        link,
        Request::UploadBegin {
            description,
            module_bytes: module.len() as u32,
        },
        "upload",
        |reply| matches!(reply, Reply::UploadReady).then_some(()),
    )?;
    let mut sent = 0;
    for chunk in module.chunks(MAX_CHUNK_BYTES) {
        expect(
            link,
            Request::UploadChunk {
                offset: sent as u32,
                bytes: chunk.to_vec(),
            },
            "upload chunk",
            |reply| matches!(reply, Reply::ChunkAccepted(_)).then_some(()),
        )?;
        sent += chunk.len();
        progress(sent, module.len());
    }
    expect(
        link,
        Request::UploadEnd { crc32 },
        "upload end",
        |reply| match reply {
            Reply::Loaded(report) => Some(report),
            _ => None,
        },
    )
}

/// The loaded plugins.
pub fn list<T: Transport>(link: &mut Link<T>) -> Result<Vec<PluginSummary>, LinkError> {
    expect(link, Request::List, "list", |reply| match reply {
        Reply::Plugins(plugins) => Some(plugins),
        _ => None,
    })
}

/// Calls `export` of `plugin` with `args`.
pub fn invoke<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
    export: &str,
    args: Vec<Value>,
) -> Result<InvokeReport, LinkError> {
    expect(
        link,
        Request::Invoke {
            plugin,
            export: export.into(),
            args,
        },
        "invoke",
        |reply| match reply {
            Reply::Invoked(report) => Some(report),
            _ => None,
        },
    )
}

/// Unlinks `plugin` and frees what it held.
pub fn unload<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
) -> Result<UnloadReport, LinkError> {
    expect(
        link,
        Request::Unload { plugin },
        "unload",
        |reply| match reply {
            Reply::Unloaded(report) => Some(report),
            _ => None,
        },
    )
}

/// A plugin named by the user: a number is an id, anything else a name.
pub fn plugin_ref(text: &str) -> PluginRef {
    text.parse()
        .map(PluginRef::Id)
        .unwrap_or_else(|_| PluginRef::Name(text.into()))
}

fn expect<T: Transport, R>(
    link: &mut Link<T>,
    request: Request,
    name: &'static str,
    accept: impl FnOnce(Reply) -> Option<R>,
) -> Result<R, LinkError> {
    let reply = link.request(request)?;
    let shown = reply.clone();
    accept(reply).ok_or_else(|| LinkError::UnexpectedReply {
        request: name,
        reply: Box::new(shown),
    })
}
