//! Firmware refusals in the plugin author's terms. The firmware reports an unsupported
//! operator or construct by function index and byte offset; the host has the module, so it
//! names the feature (from the operator at that offset, see [`crate::features`]), the function
//! (from the `name` section, demangled), and how to avoid the feature with the toolchain that
//! built the module (from the `producers` section): the rustc or clang flag, or why no flag
//! helps. `kplug upload`, `kplug run` and `kplug wast` all go through [`Refusal`].

use std::collections::HashMap;
use std::fmt;

use plugin_format::error::{PluginError, PluginErrorKind, RequestError};

use crate::features::{self, Feature};
use crate::link::LinkError;

/// Function names from a module's `name` section, demangled (Rust's legacy and v0 schemes,
/// without the hash).
#[derive(Debug, Clone, Default)]
pub struct FunctionNames {
    names: HashMap<u32, String>,
}

impl FunctionNames {
    /// The names in `module`; none if it has no `name` section (`strip = true` removes it).
    pub fn read(module: &[u8]) -> FunctionNames {
        let mut names = HashMap::new();
        for payload in wasmparser::Parser::new(0).parse_all(module) {
            let Ok(wasmparser::Payload::CustomSection(section)) = payload else {
                if payload.is_err() {
                    break;
                }
                continue;
            };
            let wasmparser::KnownCustom::Name(reader) = section.as_known() else {
                continue;
            };
            for subsection in reader.into_iter().flatten() {
                if let wasmparser::Name::Function(map) = subsection {
                    for naming in map.into_iter().flatten() {
                        names.insert(naming.index, demangle(naming.name));
                    }
                }
            }
        }
        FunctionNames { names }
    }

    /// The name of function `index`.
    pub fn get(&self, index: u32) -> Option<&str> {
        self.names.get(&index).map(String::as_str)
    }
}

/// `name` demangled if it is a Rust symbol, as is otherwise.
pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// The toolchain that built a module, from its `producers` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    /// rustc.
    Rust,
    /// clang (C or C++).
    Clang,
    /// Not recorded.
    Unknown,
}

impl Toolchain {
    /// The toolchain recorded in `module`'s `producers` section.
    pub fn of(module: &[u8]) -> Toolchain {
        let mut toolchain = Toolchain::Unknown;
        for payload in wasmparser::Parser::new(0).parse_all(module) {
            let Ok(wasmparser::Payload::CustomSection(section)) = payload else {
                if payload.is_err() {
                    break;
                }
                continue;
            };
            let wasmparser::KnownCustom::Producers(reader) = section.as_known() else {
                continue;
            };
            for field in reader.into_iter().flatten() {
                for value in field.values.into_iter().flatten() {
                    match (field.name, value.name) {
                        ("language", "Rust") | ("processed-by", "rustc") => {
                            return Toolchain::Rust;
                        }
                        ("language", "C" | "C99" | "C11" | "C17" | "C++")
                        | ("processed-by", "clang") => toolchain = Toolchain::Clang,
                        _ => {}
                    }
                }
            }
        }
        toolchain
    }
}

/// A firmware refusal of an unsupported operator or construct, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The feature, when the host could tell.
    pub feature: Option<Feature>,
    /// The operator or construct (`memory.copy`, `passive data segment`).
    pub construct: String,
    /// The function, for code.
    pub function: Option<u32>,
    /// Its name from the `name` section, demangled.
    pub function_name: Option<String>,
    /// Byte offset in the module.
    pub offset: u32,
    /// Which toolchain built the module.
    pub toolchain: Toolchain,
}

/// Crates whose code reaches a plugin precompiled, with rustc's default wasm32 features.
const PRECOMPILED_RUST: &[&str] = &["core::", "alloc::", "compiler_builtins::", "<core::"];

impl Refusal {
    /// Explains `error` for `module`, if it is an unsupported-feature refusal.
    pub fn of_plugin_error(module: &[u8], error: &PluginError) -> Option<Refusal> {
        let PluginErrorKind::Unsupported {
            operator,
            function,
            offset,
        } = &error.kind
        else {
            return None;
        };
        let at_operator = function.and_then(|_| features::feature_at(module, *offset));
        let (feature, construct, function) = match at_operator {
            Some((feature, construct, function)) => (Some(feature), construct, Some(function)),
            None => {
                let construct = operator.clone();
                let feature = if function.is_none() {
                    features::census(module)
                        .ok()
                        .and_then(|census| census.construct_at(*offset))
                } else {
                    None
                }
                .or_else(|| feature_from_text(&construct));
                (feature, construct, *function)
            }
        };
        let function_name = function.and_then(|index| {
            FunctionNames::read(module)
                .get(index)
                .map(ToOwned::to_owned)
        });
        Some(Refusal {
            feature,
            construct,
            function,
            function_name,
            offset: *offset,
            toolchain: Toolchain::of(module),
        })
    }

    /// Explains a failed request about `module`, if the firmware refused an unsupported
    /// feature.
    pub fn of_link_error(module: &[u8], error: &LinkError) -> Option<Refusal> {
        match error {
            LinkError::Device(RequestError::Plugin(error)) => {
                Refusal::of_plugin_error(module, error)
            }
            _ => None,
        }
    }

    /// A short label naming the feature and construct (`bulk memory: memory.copy`), the same
    /// for every function: what `kplug wast` counts its skips by.
    pub fn label(&self) -> String {
        match self.feature {
            Some(feature) if feature.name() != self.construct => {
                format!("{}: {}", feature.name(), self.construct)
            }
            _ => self.construct.clone(),
        }
    }

    /// Whether the function is Rust's precompiled library code.
    fn in_precompiled_rust(&self) -> bool {
        self.function_name.as_deref().is_some_and(|name| {
            PRECOMPILED_RUST
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
    }

    /// How to avoid the feature, one line per toolchain that applies.
    pub fn advice(&self) -> Vec<String> {
        let Some(feature) = self.feature else {
            return vec![
                "kplug could not tell which WebAssembly feature this is; `kplug features FILE` \
                 lists every feature the module uses"
                    .into(),
            ];
        };
        let rust = matches!(self.toolchain, Toolchain::Rust | Toolchain::Unknown);
        let clang = matches!(self.toolchain, Toolchain::Clang | Toolchain::Unknown);
        let mut lines = Vec::new();
        match (feature, feature.llvm_feature()) {
            (Feature::I64 | Feature::Float, _) => {
                let kind = if feature == Feature::I64 {
                    "64-bit integers"
                } else {
                    "floating point"
                };
                lines.push(format!(
                    "no compiler flag removes {kind}: the firmware compiles 32-bit integer code \
                     only for now, so keep to i32/u32 (int32_t/uint32_t in C)"
                ));
                if rust
                    && self
                        .function_name
                        .as_deref()
                        .is_some_and(|name| name.contains("core::fmt"))
                {
                    lines.push(
                        "this is Rust's `core::fmt`, which formats integers through u64 on \
                         wasm32: log plain text (kplug_sdk::log) instead of formatting numbers"
                            .into(),
                    );
                }
            }
            (_, Some(llvm)) => {
                if rust {
                    if self.in_precompiled_rust() {
                        lines.push(format!(
                            "rustc: this function is in Rust's precompiled standard library, \
                             which is built with {feature} on, so a flag on your crate does not \
                             reach it; rebuild it without the feature (nightly): \
                             RUSTFLAGS=\"-C target-cpu=mvp\" cargo build --release --target \
                             wasm32-unknown-unknown -Zbuild-std=core,panic_abort \
                             (plugins/build-rust.sh does this), or avoid the call"
                        ));
                    } else {
                        lines.push(format!(
                            "rustc: RUSTFLAGS=\"-C target-feature=-{llvm}\" cargo build \
                             --release --target wasm32-unknown-unknown \
                             (or -C target-cpu=mvp for every post-1.0 feature at once)"
                        ));
                    }
                }
                if clang {
                    lines.push(format!(
                        "clang: add -mno-{llvm} (or -mcpu=mvp for every post-1.0 feature at once)"
                    ));
                }
            }
            (_, None) => lines.push(format!(
                "rustc and clang do not emit {feature} for wasm32 unless asked to; the tool that \
                 produced this module did: turn it off there"
            )),
        }
        lines
    }
}

/// The feature a refusal's text names, for refusals the module's bytes do not pin down (a
/// local's type, a section item the census did not record).
fn feature_from_text(text: &str) -> Option<Feature> {
    let text = text.to_ascii_lowercase();
    let has = |word: &str| text.contains(word);
    Some(if has("v128") || has("simd") {
        Feature::Simd
    } else if has("passive") || has("data.drop") || has("memory.init") || has("memory.copy") {
        Feature::BulkMemory
    } else if has("memory64") || has("64-bit memory") {
        Feature::Memory64
    } else if has("shared") || has("atomic") {
        Feature::Threads
    } else if has("more than one memory") {
        Feature::MultiMemory
    } else if has("exception") || has("tag") {
        Feature::Exceptions
    } else if has("gc type") {
        Feature::Gc
    } else if has("extended constant") {
        Feature::ExtendedConst
    } else if has("mutable") {
        Feature::MutableGlobals
    } else if has("table") || has("element segment") || has("funcref") || has("externref") {
        Feature::ReferenceTypes
    } else if has("results") || has("multi-value") || has("block parameters") {
        Feature::MultiValue
    } else if has("f32") || has("f64") {
        Feature::Float
    } else if has("i64") {
        Feature::I64
    } else {
        return None;
    })
}

impl fmt::Display for Refusal {
    /// `function 12 `my_filter::update` uses `memory.copy` (bulk memory, WebAssembly 2.0) at
    /// offset 0xc6, which the firmware does not compile`, then one indented line of advice per
    /// toolchain.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.function, &self.function_name) {
            (Some(index), Some(name)) => write!(f, "function {index} `{name}` uses ")?,
            (Some(index), None) => write!(f, "function {index} uses ")?,
            (None, _) => f.write_str("the module uses ")?,
        }
        write!(f, "`{}`", self.construct)?;
        if let Some(feature) = self.feature {
            write!(f, " ({}, {})", feature.name(), feature.origin())?;
        }
        write!(
            f,
            " at offset {:#x}, which the firmware does not compile",
            self.offset
        )?;
        for line in self.advice() {
            write!(f, "\n  to avoid it: {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(operator: &str, function: Option<u32>, offset: u32) -> PluginError {
        PluginError {
            kind: PluginErrorKind::Unsupported {
                operator: operator.into(),
                function,
                offset,
            },
            message: format!("unsupported operator `{operator}`"),
        }
    }

    /// A module with a `name` section naming its functions with Rust symbols, a producers
    /// section saying rustc built it, and a `memory.copy` in its second function.
    fn rust_like_module() -> (Vec<u8>, u32) {
        let module = wat::parse_str(
            r#"(module (memory 1)
                (func $_ZN9my_filter4init17h0123456789abcdefE)
                (func $_ZN9my_filter6update17h0123456789abcdefE (param i32)
                  (memory.copy (local.get 0) (i32.const 0) (i32.const 4)))
                (@producers (language "Rust" "") (processed-by "rustc" "1.97.0")))"#,
        )
        .unwrap();
        let census = features::census(&module).unwrap();
        let offset = census.features[&Feature::BulkMemory].first.offset;
        (module, offset)
    }

    /// The refusal names the feature, the demangled function and the rustc flag.
    #[test]
    fn operator_refusals_name_the_feature_function_and_flag() {
        let (module, offset) = rust_like_module();
        let refusal =
            Refusal::of_plugin_error(&module, &refused("memory.copy", Some(1), offset)).unwrap();
        assert_eq!(refusal.feature, Some(Feature::BulkMemory));
        assert_eq!(refusal.function_name.as_deref(), Some("my_filter::update"));
        assert_eq!(refusal.toolchain, Toolchain::Rust);
        let text = refusal.to_string();
        assert!(
            text.starts_with(&format!(
                "function 1 `my_filter::update` uses `memory.copy` (bulk memory, WebAssembly \
                 2.0) at offset {offset:#x}, which the firmware does not compile\n  to avoid \
                 it: rustc: RUSTFLAGS=\"-C target-feature=-bulk-memory\""
            )),
            "{text}"
        );
        assert!(!text.contains("clang"), "{text}");
        assert_eq!(refusal.label(), "bulk memory: memory.copy");
    }

    /// Code from Rust's precompiled library gets the build-std advice, not a flag that cannot
    /// reach it.
    #[test]
    fn precompiled_rust_code_gets_build_std_advice() {
        let module = wat::parse_str(
            r#"(module (func $_ZN4core3fmt5write17h0123456789abcdefE (param i32) (result i32)
                 (i32.extend8_s (local.get 0))))"#,
        )
        .unwrap();
        let offset = features::census(&module).unwrap().features[&Feature::SignExtension]
            .first
            .offset;
        let refusal =
            Refusal::of_plugin_error(&module, &refused("i32.extend8_s", Some(0), offset)).unwrap();
        assert_eq!(refusal.function_name.as_deref(), Some("core::fmt::write"));
        let advice = refusal.advice().join("\n");
        assert!(advice.contains("precompiled standard library"), "{advice}");
        assert!(advice.contains("-Zbuild-std=core,panic_abort"), "{advice}");
        // No producers section: both toolchains are advised.
        assert!(advice.contains("clang: add -mno-sign-ext"), "{advice}");
    }

    /// A clang module gets clang's flag only; a refusal without a function (a module-level
    /// construct) is found through the census or its text.
    #[test]
    fn module_level_refusals_and_clang_advice() {
        let module = wat::parse_str(
            r#"(module (memory 1) (data "passive")
                (@producers (processed-by "clang" "14.0.6")))"#,
        )
        .unwrap();
        let census = features::census(&module).unwrap();
        let offset = census.features[&Feature::BulkMemory].first.offset;
        let refusal =
            Refusal::of_plugin_error(&module, &refused("passive data segment", None, offset))
                .unwrap();
        assert_eq!(refusal.feature, Some(Feature::BulkMemory));
        assert_eq!(refusal.toolchain, Toolchain::Clang);
        let text = refusal.to_string();
        assert!(
            text.starts_with("the module uses `passive data segment` (bulk memory"),
            "{text}"
        );
        assert!(text.ends_with("to avoid it: clang: add -mno-bulk-memory (or -mcpu=mvp for every post-1.0 feature at once)"), "{text}");
        // A local's type: the offset is not an operator, the text names it.
        let refusal =
            Refusal::of_plugin_error(&module, &refused("local of type i64", Some(0), 3)).unwrap();
        assert_eq!(refusal.feature, Some(Feature::I64));
        assert!(refusal.advice()[0].starts_with("no compiler flag removes 64-bit integers"));
    }

    /// Other errors are not refusals.
    #[test]
    fn other_errors_are_not_explained() {
        let error = PluginError {
            kind: PluginErrorKind::TooLarge,
            message: "too large".into(),
        };
        assert_eq!(Refusal::of_plugin_error(&[], &error), None);
    }
}
