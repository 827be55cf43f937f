//! [`LinkEngine`]: a board, or the silicon harness, over its host link. It loads every module
//! as a plugin with the limits its own declarations ask for ([`module_limits`]) and translates
//! the firmware's typed errors into the runner's [`Refusal`]s ([`refusal`]).

use plugin_format::error::{PluginError, PluginErrorKind, RequestError};
use plugin_format::message::{PluginRef, Value};
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapKind;

use super::engine::{Engine, EngineError, Refusal, RefusalKind, Trap, import_words, link_words};
use crate::link::{Link, LinkError};
use crate::plugin;
use crate::transport::Transport;

/// How the firmware words the instantiation failures that the spec calls traps: (a part of the
/// firmware's message, the trap). The protocol reports them as [`PluginErrorKind::Invalid`].
pub const INSTANTIATION_MESSAGES: &[(&str, TrapKind)] = &[
    ("does not fit in memory", TrapKind::OutOfBounds),
    (
        "does not fit in the table",
        TrapKind::IndirectCallOutOfRange,
    ),
];

/// The firmware's error as the runner's refusal. `wasm` is the module, to name a non-function
/// import the compiler refused (as unsupported) before linking.
pub fn refusal(error: PluginError, wasm: Option<&[u8]>) -> Refusal {
    let kind = match &error.kind {
        PluginErrorKind::Invalid => INSTANTIATION_MESSAGES
            .iter()
            .find(|(firmware, _)| error.message.contains(firmware))
            .map_or(RefusalKind::Invalid, |&(_, kind)| {
                RefusalKind::Instantiation(Trap::from_message(
                    Some(kind),
                    instantiation_words(kind),
                ))
            }),
        PluginErrorKind::Link(link) => RefusalKind::Link(link_words(link)),
        PluginErrorKind::StartTrapped(record) => RefusalKind::Instantiation(Trap::from(record)),
        PluginErrorKind::Unsupported {
            operator,
            function: None,
            ..
        } => match wasm.and_then(|wasm| refused_import(operator, wasm)) {
            Some(words) => RefusalKind::Link(words),
            None => RefusalKind::Unsupported(operator.clone()),
        },
        PluginErrorKind::Unsupported { operator, .. } => RefusalKind::Unsupported(operator.clone()),
        _ => RefusalKind::Other,
    };
    Refusal::new(kind, error.message)
}

/// The spec's message for an instantiation failure of `kind` (a table segment that does not
/// fit is "out of bounds table access" there, not a call's "undefined element").
fn instantiation_words(kind: TrapKind) -> &'static str {
    match kind {
        TrapKind::IndirectCallOutOfRange => "out of bounds table access",
        other => other.message(),
    }
}

/// When the compiler refused `operator` because it is a non-function import of `wasm`: the
/// spec's words for that import.
fn refused_import(operator: &str, wasm: &[u8]) -> Option<&'static str> {
    super::linker::imports(wasm)
        .into_iter()
        .filter(|import| !import.is_function())
        .find(|import| operator.contains(&format!("`{}.{}`", import.module, import.name)))
        .map(|import| import_words(&import.module, &import.name))
}

impl From<LinkError> for EngineError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Device(RequestError::Plugin(error)) => {
                EngineError::Refused(refusal(error, None))
            }
            error @ (LinkError::Device(_) | LinkError::UnexpectedReply { .. }) => {
                EngineError::Failed(error.to_string())
            }
            error => EngineError::Broken(error.to_string()),
        }
    }
}

/// The limits a module is loaded with: `base`, with the linear memory limit the module declares
/// (its memory's maximum) or, without a maximum, `base`'s — never more than `base`'s, which is
/// the engine's ceiling.
pub fn module_limits(wasm: &[u8], base: Limits) -> Limits {
    let declared = wasmparser::Parser::new(0)
        .parse_all(wasm)
        .find_map(|payload| match payload {
            Ok(wasmparser::Payload::MemorySection(reader)) => {
                reader.into_iter().next().and_then(Result::ok)
            }
            _ => None,
        });
    let pages = match declared.and_then(|memory| memory.maximum) {
        Some(maximum) => maximum.min(u64::from(base.max_memory_pages)) as u32,
        None => base.max_memory_pages,
    };
    Limits {
        max_memory_pages: pages,
        ..base
    }
}

/// An [`Engine`] over a host link: a board, or the silicon harness through
/// [`ChildTransport`](crate::local::ChildTransport). One connection serves every module and
/// call; events (plugin output) are read and dropped.
pub struct LinkEngine<T: Transport = Box<dyn Transport>> {
    /// The link, after its handshake.
    link: Link<T>,
    /// Stack and budget of every module, and the ceiling of their memory limit.
    limits: Limits,
}

impl<T: Transport> LinkEngine<T> {
    /// An engine over `link` (handshake done). Every module gets `limits`' stack and budget;
    /// its memory limit is what it declares, at most `limits.max_memory_pages`.
    pub fn new(link: Link<T>, limits: Limits) -> Self {
        LinkEngine { link, limits }
    }

    /// The link.
    pub fn link_mut(&mut self) -> &mut Link<T> {
        &mut self.link
    }

    /// Gives the link back.
    pub fn into_link(self) -> Link<T> {
        self.link
    }

    /// Drops the events that arrived with the last answer (nothing is outstanding).
    fn discard_events(&mut self) -> Result<(), EngineError> {
        plugin::drain_queued_events(&mut self.link, &mut |_| {}).map_err(EngineError::from)
    }
}

impl<T: Transport> Engine for LinkEngine<T> {
    fn load(&mut self, name: &str, wasm: &[u8]) -> Result<u32, EngineError> {
        let limits = module_limits(wasm, self.limits);
        let description = plugin::describe_unchecked(name, wasm.to_vec(), limits);
        let report =
            plugin::upload(&mut self.link, description, |_, _| {}).map_err(
                |error| match error {
                    LinkError::Device(RequestError::Plugin(error)) => {
                        EngineError::Refused(refusal(error, Some(wasm)))
                    }
                    other => EngineError::from(other),
                },
            )?;
        self.discard_events()?;
        Ok(report.id)
    }

    fn invoke(
        &mut self,
        module: u32,
        export: &str,
        args: &[Value],
    ) -> Result<Result<Vec<Value>, Trap>, EngineError> {
        let report = plugin::invoke(&mut self.link, PluginRef::Id(module), export, args.to_vec())?;
        self.discard_events()?;
        Ok(report.outcome.map_err(|record| Trap::from(&record)))
    }

    fn global(&mut self, module: u32, name: &str) -> Result<Value, EngineError> {
        let value = plugin::get_global(&mut self.link, PluginRef::Id(module), name)?;
        self.discard_events()?;
        Ok(value)
    }

    fn unload(&mut self, module: u32) -> Result<(), EngineError> {
        plugin::unload(&mut self.link, PluginRef::Id(module))?;
        self.discard_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(pages: u32) -> Limits {
        Limits {
            max_memory_pages: pages,
            stack_bytes: 4096,
            budget_us: 7,
        }
    }

    /// A declared maximum decides, up to the ceiling; without one, the ceiling does.
    #[test]
    fn the_module_declares_its_memory_limit() {
        let module = |text: &str| wat::parse_str(text).unwrap();
        assert_eq!(
            module_limits(&module("(module (memory 0 2))"), limits(100)).max_memory_pages,
            2
        );
        assert_eq!(
            module_limits(&module("(module (memory 0 2000))"), limits(100)).max_memory_pages,
            100
        );
        assert_eq!(
            module_limits(&module("(module (memory 1))"), limits(100)).max_memory_pages,
            100
        );
        let unchanged = module_limits(&module("(module)"), limits(100));
        assert_eq!(unchanged, limits(100));
    }

    /// The firmware's errors become the spec's categories: segments that do not fit and
    /// trapping start functions are instantiation traps, link errors and refused non-function
    /// imports are link failures in the spec's words, unsupported operators are skips.
    #[test]
    fn firmware_errors_become_refusals() {
        let error = |kind, message: &str| PluginError {
            kind,
            message: message.into(),
        };
        let data = refusal(
            error(
                PluginErrorKind::Invalid,
                "data segment 0 does not fit in memory",
            ),
            None,
        );
        assert_eq!(
            data.kind,
            RefusalKind::Instantiation(Trap::from_message(
                Some(TrapKind::OutOfBounds),
                "out of bounds memory access"
            ))
        );
        let elements = refusal(
            error(
                PluginErrorKind::Invalid,
                "element segment 1 does not fit in the table",
            ),
            None,
        );
        assert!(
            matches!(&elements.kind, RefusalKind::Instantiation(trap) if trap.message == "out of bounds table access")
        );
        assert_eq!(
            refusal(error(PluginErrorKind::Invalid, "type mismatch"), None).kind,
            RefusalKind::Invalid
        );
        let wasm = wat::parse_str(r#"(module (import "env" "log" (global i32)))"#).unwrap();
        let global = error(
            PluginErrorKind::Unsupported {
                operator: "import `env.log` is not a function".into(),
                function: None,
                offset: 0,
            },
            "x",
        );
        assert_eq!(
            refusal(global.clone(), Some(&wasm)).kind,
            RefusalKind::Link("incompatible import type")
        );
        assert_eq!(
            refusal(global, None).kind,
            RefusalKind::Unsupported("import `env.log` is not a function".into())
        );
        assert_eq!(
            refusal(error(PluginErrorKind::NoSuchExport, "no export"), None).kind,
            RefusalKind::Other
        );
    }
}
