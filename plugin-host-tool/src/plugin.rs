//! The host side of the plugin lifecycle: reading a module (WAT or binary), checking its imports
//! against the firmware symbol table before anything is sent, the chunked upload, and the
//! list / invoke / unload / trap-policy requests; plus the parsing of `i32` arguments as users
//! type them.

use std::path::Path;
use std::time::{Duration, Instant};

use plugin_format::attach::{AttachSpec, AttachmentSummary};
use plugin_format::limits::LimitError;
use plugin_format::message::{
    Event, InvokeReport, LoadReport, MAX_CHUNK_BYTES, PluginRef, PluginSummary, Reply, Request,
    TrapPolicy, UnloadReport, Value,
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
    /// A limit or the name is outside what the firmware accepts.
    #[error("{0}")]
    Limit(LimitError),
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

/// Builds the description of `module` (imports, name and limits checked as the firmware will
/// check them) under `name` with `limits`.
pub fn describe(
    name: &str,
    module: Vec<u8>,
    limits: Limits,
) -> Result<PluginDescription, PluginFileError> {
    let imports = check_imports(&module)?;
    let mut description = PluginDescription {
        name: name.into(),
        version: "0".into(),
        limits,
        imports,
        module: Vec::new(),
    };
    let module_bytes = u32::try_from(module.len()).unwrap_or(u32::MAX);
    description
        .check(module_bytes)
        .map_err(PluginFileError::Limit)?;
    description.module = module;
    Ok(description)
}

/// Builds the description of `module` under `name` with `limits` without checking anything: the
/// imports listed are the module's function imports as far as they can be read. For tests of the
/// firmware's own checks (the `.wast` runner uploads invalid, malformed and unlinkable modules on
/// purpose).
pub fn describe_unchecked(name: &str, module: Vec<u8>, limits: Limits) -> PluginDescription {
    let mut imports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&module) {
        match payload {
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                for import in reader.into_imports().flatten() {
                    if let wasmparser::TypeRef::Func(_) = import.ty {
                        imports.push(ImportRequest {
                            module: import.module.into(),
                            name: import.name.into(),
                        });
                    }
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    PluginDescription {
        name: name.into(),
        version: "0".into(),
        limits,
        imports,
        module,
    }
}

/// Uploads `description` in chunks; the firmware validates, compiles and links it.
/// `progress(sent, total)` is called after every chunk.
pub fn upload<T: Transport>(
    link: &mut Link<T>,
    description: PluginDescription,
    progress: impl FnMut(usize, usize),
) -> Result<LoadReport, LinkError> {
    let crc32 = send_module(link, description, progress)?;
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

/// Sends `description` (`UploadBegin`) and its module in chunks, calling `progress(sent, total)`
/// after each, and returns the module's CRC-32 for the request that ends the upload.
pub fn send_module<T: Transport>(
    link: &mut Link<T>,
    mut description: PluginDescription,
    mut progress: impl FnMut(usize, usize),
) -> Result<u32, LinkError> {
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
    Ok(crc32)
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

/// The current value of the global `name` that `plugin` exports.
pub fn get_global<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
    name: &str,
) -> Result<Value, LinkError> {
    expect(
        link,
        Request::GetGlobal {
            plugin,
            name: name.into(),
        },
        "get global",
        |reply| match reply {
            Reply::Global(value) => Some(value),
            _ => None,
        },
    )
}

/// How often [`invoke_with_events`] hands over the events that arrived while the call runs.
pub const EVENT_POLL: Duration = Duration::from_millis(50);
/// Calls `export` of `plugin` with `args` like [`invoke`], handing every event that arrives
/// meanwhile (plugin log lines, emitted bytes) to `on_event` as it arrives. The board and the
/// harness send a call's events before its response, so all of them have arrived with it.
pub fn invoke_with_events<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
    export: &str,
    args: Vec<Value>,
    mut on_event: impl FnMut(Event),
) -> Result<InvokeReport, LinkError> {
    let request = Request::Invoke {
        plugin,
        export: export.into(),
        args,
    };
    let seq = link.send_request(&request)?;
    let timeout = link.timeout();
    let deadline = Instant::now() + timeout;
    let result = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(LinkError::Timeout(timeout));
        }
        match link.wait_response(seq, remaining.min(EVENT_POLL)) {
            Ok(result) => break result,
            // A wait that timed out has fed every byte it read to the decoder, so this only
            // pops what was queued and cannot swallow the response.
            Err(LinkError::Timeout(_)) => drain_queued_events(link, &mut on_event)?,
            Err(error) => return Err(error),
        }
    };
    drain_queued_events(link, &mut on_event)?;
    match result {
        Ok(Reply::Invoked(report)) => Ok(report),
        Ok(reply) => Err(LinkError::UnexpectedReply {
            request: "invoke",
            reply: Box::new(reply),
        }),
        Err(error) => Err(LinkError::Device(error)),
    }
}

/// Hands the events the link holds to `on_event` without waiting: the queued ones, and any in
/// bytes already read. A zero timeout never reads the transport, so when no request is
/// outstanding (or a wait for its answer just timed out) no response can be lost here.
pub fn drain_queued_events<T: Transport>(
    link: &mut Link<T>,
    on_event: &mut impl FnMut(Event),
) -> Result<(), LinkError> {
    while let Some(event) = link.next_event(Duration::ZERO)? {
        on_event(event);
    }
    Ok(())
}

/// Sets what the firmware does with `plugin` when it traps (this also lifts a quarantine).
pub fn set_trap_policy<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
    policy: TrapPolicy,
) -> Result<(), LinkError> {
    expect(
        link,
        Request::SetTrapPolicy { plugin, policy },
        "trap policy",
        |reply| matches!(reply, Reply::Pong).then_some(()),
    )
}

/// Attaches an export of `plugin` (see `plugin_format::attach`).
pub fn attach<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
    spec: AttachSpec,
) -> Result<AttachmentSummary, LinkError> {
    expect(
        link,
        Request::Attach { plugin, spec },
        "attach",
        |reply| match reply {
            Reply::Attached(summary) => Some(summary),
            _ => None,
        },
    )
}

/// Detaches attachment `attachment`; returns the attachments left.
pub fn detach<T: Transport>(
    link: &mut Link<T>,
    attachment: u32,
) -> Result<Vec<AttachmentSummary>, LinkError> {
    expect(
        link,
        Request::Detach { attachment },
        "detach",
        |reply| match reply {
            Reply::Attachments(list) => Some(list),
            _ => None,
        },
    )
}

/// Every attachment with its counters.
pub fn attachments<T: Transport>(link: &mut Link<T>) -> Result<Vec<AttachmentSummary>, LinkError> {
    expect(
        link,
        Request::ListAttachments,
        "list attachments",
        |reply| match reply {
            Reply::Attachments(list) => Some(list),
            _ => None,
        },
    )
}

/// `length` bytes of `plugin`'s linear memory at `offset`.
pub fn peek<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
    offset: u32,
    length: u32,
) -> Result<Vec<u8>, LinkError> {
    expect(
        link,
        Request::Peek {
            plugin,
            offset,
            length,
        },
        "peek",
        |reply| match reply {
            Reply::Memory(bytes) => Some(bytes),
            _ => None,
        },
    )
}

/// Writes `bytes` into `plugin`'s linear memory at `offset`.
pub fn poke<T: Transport>(
    link: &mut Link<T>,
    plugin: PluginRef,
    offset: u32,
    bytes: Vec<u8>,
) -> Result<(), LinkError> {
    expect(
        link,
        Request::Poke {
            plugin,
            offset,
            bytes,
        },
        "poke",
        |reply| matches!(reply, Reply::Pong).then_some(()),
    )
}

/// What an `i32` argument may be, for error messages.
const I32_FORMS: &str = "an i32: use decimal (-2147483648 to 4294967295; values above \
     2147483647 wrap) or 0x hex (up to 0xffffffff); other types are written i64:N, f32:X, f64:X";
/// What an `i64` argument may be.
const I64_FORMS: &str = "an i64: write i64:N with N in decimal (-9223372036854775808 to \
     18446744073709551615; values above 9223372036854775807 wrap) or 0x hex (up to 16 digits)";
/// What a float argument may be.
const FLOAT_FORMS: &str = "a float: write f32:X or f64:X with X a decimal float (1.5, -0, 2e-3, \
     inf, nan) or 0x hex for the raw bits (f32:0x7fc00000)";

/// Why a command-line argument is not a value of the type it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not {expected}")]
pub struct ParseValueError {
    /// What was typed.
    pub text: String,
    /// What it may be.
    pub expected: &'static str,
}

/// An integer as users type it: decimal (`42`, `-5`) or hex with `0x` (also `-0x10`), as its
/// sign and magnitude (`None`: not an integer, or above 64 bits).
fn parse_integer(text: &str) -> Option<(bool, u64)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits_only =
        |text: &str, radix: u32| !text.is_empty() && text.chars().all(|c| c.is_digit(radix));
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if digits_only(hex, 16) => u64::from_str_radix(hex, 16).ok()?,
        None if digits_only(digits, 10) => digits.parse().ok()?,
        _ => return None,
    };
    Some((negative, magnitude))
}

/// An integer of `bits` (32 or 64) bits: a negative one down to `-2^(bits-1)`, a non-negative one
/// up to `2^bits - 1` (wrapping to negative above the signed maximum).
fn parse_bits(text: &str, bits: u32) -> Option<u64> {
    let (negative, magnitude) = parse_integer(text)?;
    let all = u64::MAX >> (64 - bits);
    if negative {
        (magnitude <= 1 << (bits - 1)).then(|| magnitude.wrapping_neg() & all)
    } else {
        (magnitude <= all).then_some(magnitude)
    }
}

/// Parses an `i32` argument as users type it: decimal (`42`, `-5`), an unsigned decimal that
/// wraps (`4294967295` is -1), or hex with `0x` (`0xCBF43926`, also `-0x10`).
pub fn parse_i32(text: &str) -> Result<i32, ParseValueError> {
    parse_bits(text, 32)
        .map(|bits| bits as u32 as i32)
        .ok_or_else(|| ParseValueError {
            text: text.to_owned(),
            expected: I32_FORMS,
        })
}

/// Parses an argument of any value type: an `i32` as [`parse_i32`] reads it, or a typed value
/// `i32:N`, `i64:N` (as an `i32`, in 64 bits), `f32:X` or `f64:X` (a decimal float as Rust
/// reads it, or `0x` hex for the raw bits, so any NaN can be written).
pub fn parse_value(text: &str) -> Result<Value, ParseValueError> {
    let error = |expected| ParseValueError {
        text: text.to_owned(),
        expected,
    };
    let float_bits = |value: &str, bits: u32| {
        value
            .starts_with("0x")
            .then(|| parse_bits(value, bits))
            .flatten()
    };
    match text.split_once(':') {
        None => parse_i32(text).map(Value::I32),
        Some(("i32", value)) => parse_i32(value)
            .map(Value::I32)
            .map_err(|_| error(I32_FORMS)),
        Some(("i64", value)) => parse_bits(value, 64)
            .map(|bits| Value::I64(bits as i64))
            .ok_or_else(|| error(I64_FORMS)),
        Some(("f32", value)) => float_bits(value, 32)
            .map(|bits| bits as u32)
            .or_else(|| value.parse::<f32>().ok().map(f32::to_bits))
            .map(Value::F32)
            .ok_or_else(|| error(FLOAT_FORMS)),
        Some(("f64", value)) => float_bits(value, 64)
            .or_else(|| value.parse::<f64>().ok().map(f64::to_bits))
            .map(Value::F64)
            .ok_or_else(|| error(FLOAT_FORMS)),
        Some(_) => Err(error(I32_FORMS)),
    }
}

/// A plugin named by the user: a number is an id, anything else a name.
pub fn plugin_ref(text: &str) -> PluginRef {
    text.parse()
        .map(PluginRef::Id)
        .unwrap_or_else(|_| PluginRef::Name(text.into()))
}

pub(crate) fn expect<T: Transport, R>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::tests::{ScriptedBoard, wire};
    use plugin_format::message::{DeviceFrame, HostFrame, StepTime};

    /// Every documented argument form parses to the intended bits; out-of-range and garbage
    /// values are refused instead of being truncated.
    #[test]
    fn i32_arguments_parse_as_documented() {
        let cases: &[(&str, i32)] = &[
            ("0", 0),
            ("42", 42),
            ("-5", -5),
            ("2147483647", i32::MAX),
            ("-2147483648", i32::MIN),
            ("2147483648", i32::MIN),
            ("4294967295", -1),
            ("0xCBF43926", 0xCBF4_3926_u32 as i32),
            ("0xcbf43926", -873_187_034),
            ("0X10", 16),
            ("0xffffffff", -1),
            ("-0x10", -16),
            ("-0x80000000", i32::MIN),
        ];
        for &(text, expected) in cases {
            assert_eq!(parse_i32(text), Ok(expected), "{text}");
        }
        for bad in [
            "",
            "-",
            "0x",
            "-0x",
            "4294967296",
            "-2147483649",
            "0x100000000",
            "-0x80000001",
            "1.5",
            "abc",
            "0xg",
            "--1",
            "+1",
            "0x-1",
            " 1",
        ] {
            assert!(parse_i32(bad).is_err(), "{bad} parsed");
        }
    }

    /// Typed arguments: `i64:`, `f32:`, `f64:` (and `i32:`) parse to the intended bits, floats
    /// also from raw hex bits; a wrong type or value says what the type may be.
    #[test]
    fn typed_arguments_parse_as_documented() {
        let cases: &[(&str, Value)] = &[
            ("7", Value::I32(7)),
            ("i32:-5", Value::I32(-5)),
            ("i64:-1", Value::I64(-1)),
            ("i64:9223372036854775807", Value::I64(i64::MAX)),
            ("i64:-9223372036854775808", Value::I64(i64::MIN)),
            ("i64:18446744073709551615", Value::I64(-1)),
            ("i64:0x8000000000000000", Value::I64(i64::MIN)),
            ("i64:-0x10", Value::I64(-16)),
            ("f32:1.5", Value::F32(1.5f32.to_bits())),
            ("f32:-0", Value::F32(0x8000_0000)),
            ("f32:inf", Value::F32(f32::INFINITY.to_bits())),
            ("f32:0x7fa00001", Value::F32(0x7fa0_0001)),
            ("f64:2e-3", Value::F64(2e-3f64.to_bits())),
            ("f64:0xfff8000000000000", Value::F64(0xfff8_0000_0000_0000)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_value(text).as_ref(), Ok(expected), "{text}");
        }
        assert!(parse_value("f32:nan").is_ok_and(|value| matches!(
            value,
            Value::F32(bits) if f32::from_bits(bits).is_nan()
        )));
        for bad in [
            "i64:18446744073709551616",
            "i64:-9223372036854775809",
            "i64:",
            "i64:1.5",
            "f32:",
            "f32:one",
            "f32:0x100000000",
            "f32:-0x1",
            "f64:0x10000000000000000",
            "u8:1",
            "1.5",
        ] {
            assert!(parse_value(bad).is_err(), "{bad} parsed");
        }
        let error = parse_value("i64:x").unwrap_err().to_string();
        assert!(error.starts_with("`i64:x` is not an i64"), "{error}");
        let error = parse_value("f32:x").unwrap_err().to_string();
        assert!(error.contains("f32:0x7fc00000"), "{error}");
    }

    /// A description built without checks lists the function imports and keeps bytes that do
    /// not even parse, so the firmware can be shown them.
    #[test]
    fn unchecked_descriptions_keep_anything() {
        let module = wat::parse_str(
            r#"(module (import "env" "nope" (func)) (import "env" "memory" (memory 1))
                       (import "env" "log" (func (param i32 i32))))"#,
        )
        .unwrap();
        let description = describe_unchecked("x", module.clone(), Limits::default());
        let names: Vec<_> = description
            .imports
            .iter()
            .map(|import| format!("{}.{}", import.module, import.name))
            .collect();
        assert_eq!(names, ["env.nope", "env.log"]);
        assert_eq!(description.module, module);
        assert!(describe("x", module, Limits::default()).is_err());
        let garbage =
            describe_unchecked("g", b"\0asm\x01\0\0\0\x01\xff".to_vec(), Limits::default());
        assert!(garbage.imports.is_empty());
    }

    fn log_event(text: &str) -> Vec<u8> {
        wire(&DeviceFrame::Event(Event::PluginLog {
            plugin: 7,
            text: text.into(),
        }))
    }

    /// Events sent before the answer (as the board and the harness do) reach the callback in
    /// order, and the report is the answer's.
    #[test]
    fn invoke_hands_over_events_around_the_answer() {
        let board = ScriptedBoard::new(
            5,
            Box::new(|frame: &HostFrame| {
                let Request::Invoke { ref export, .. } = frame.request else {
                    panic!("unexpected {frame:?}");
                };
                assert_eq!(export, "go");
                let report = InvokeReport {
                    outcome: Ok(vec![Value::I32(9)]),
                    time: StepTime {
                        cycles: 100,
                        micros: 1,
                    },
                };
                vec![
                    log_event("before"),
                    log_event("after"),
                    wire(&DeviceFrame::Event(Event::PluginOutput {
                        plugin: 7,
                        bytes: b"hi".to_vec(),
                    })),
                    wire(&DeviceFrame::Response {
                        seq: frame.seq,
                        result: Ok(Reply::Invoked(report)),
                    }),
                ]
            }),
        );
        let mut link = Link::new(board);
        link.set_timeout(Duration::from_secs(2));
        let mut events = Vec::new();
        let report = invoke_with_events(&mut link, PluginRef::Id(7), "go", Vec::new(), |event| {
            events.push(event)
        })
        .unwrap();
        assert_eq!(report.outcome, Ok(vec![Value::I32(9)]));
        assert_eq!(
            events,
            [
                Event::PluginLog {
                    plugin: 7,
                    text: "before".into()
                },
                Event::PluginLog {
                    plugin: 7,
                    text: "after".into()
                },
                Event::PluginOutput {
                    plugin: 7,
                    bytes: b"hi".to_vec()
                },
            ]
        );
        assert_eq!(link.counters().stray_responses, 0);
    }

    /// A firmware that never answers makes the call fail with a timeout, not hang; a refusal
    /// comes back as the firmware's typed error.
    #[test]
    fn invoke_times_out_or_returns_the_refusal() {
        let silent = ScriptedBoard::new(64, Box::new(|_: &HostFrame| Vec::new()));
        let mut link = Link::new(silent);
        link.set_timeout(Duration::from_millis(200));
        let started = Instant::now();
        let error =
            invoke_with_events(&mut link, PluginRef::Id(1), "f", Vec::new(), |_| {}).unwrap_err();
        assert!(matches!(error, LinkError::Timeout(_)), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));

        let refusing = ScriptedBoard::new(
            64,
            Box::new(|frame: &HostFrame| {
                vec![wire(&DeviceFrame::Response {
                    seq: frame.seq,
                    result: Err(plugin_format::error::RequestError::Busy),
                })]
            }),
        );
        let mut link = Link::new(refusing);
        let error =
            invoke_with_events(&mut link, PluginRef::Id(1), "f", Vec::new(), |_| {}).unwrap_err();
        assert!(
            matches!(
                error,
                LinkError::Device(plugin_format::error::RequestError::Busy)
            ),
            "{error}"
        );
    }
}
