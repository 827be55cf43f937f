//! `kplug features`: which WebAssembly features a module uses beyond the i32 core of
//! WebAssembly 1.0, where each first occurs, and the compiler flag that turns it off.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use plugin_host_tool::features::{self, Census};
use plugin_host_tool::plugin;
use plugin_host_tool::refusal::{FunctionNames, Toolchain};
use serde_json::json;

/// List the WebAssembly features a module uses, by proposal, and the flags that remove them.
#[derive(Debug, Args)]
#[command(
    long_about = "List the WebAssembly features a module uses beyond the i32 core of \
WebAssembly 1.0: 64-bit integers and floats, and each post-1.0 proposal (sign extension, \
non-trapping float-to-int, multi-value, mutable globals, bulk memory, reference types, SIMD, \
...), with how often, in how many functions, which operators and constructs, and the first \
function (by its name from the module's `name` section) that uses it. A plain `cargo build \
--target wasm32-unknown-unknown` turns several of them on; this shows what a build contains \
before the board is asked, and which flag removes each.",
    after_help = "\
Examples:
  kplug features target/wasm32-unknown-unknown/release/my_filter.wasm
  kplug features plugin.wasm other.wat --json"
)]
pub struct Features {
    /// Modules: WebAssembly text (.wat) or binary (.wasm).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,

    /// Print JSON: one object per file with its features.
    #[arg(long)]
    json: bool,
}

impl Features {
    /// Reads each module and prints its census.
    pub fn run(self) -> anyhow::Result<()> {
        let mut reports = Vec::new();
        for file in &self.files {
            let module = plugin::read_module(file)?;
            let census = features::census(&module)
                .with_context(|| format!("{} does not parse", file.display()))?;
            let names = FunctionNames::read(&module);
            if self.json {
                reports.push(census_json(file, &module, &census, &names));
            } else {
                print!("{}", census_text(file, &module, &census, &names));
            }
        }
        if self.json {
            println!("{}", serde_json::to_string_pretty(&reports)?);
        }
        Ok(())
    }
}

fn toolchain_name(module: &[u8]) -> &'static str {
    match Toolchain::of(module) {
        Toolchain::Rust => "rustc",
        Toolchain::Clang => "clang",
        Toolchain::Unknown => "an unrecorded toolchain",
    }
}

/// The census as text: a summary line, then one line per feature and one naming where it is
/// first used.
fn census_text(
    file: &std::path::Path,
    module: &[u8],
    census: &Census,
    names: &FunctionNames,
) -> String {
    let mut text = format!(
        "{}: {} bytes, {} functions, {} operators, built by {}\n",
        file.display(),
        module.len(),
        census.functions,
        census.operators,
        toolchain_name(module)
    );
    for line in census.to_string().lines() {
        text.push_str(&format!("  {line}\n"));
    }
    for (feature, usage) in &census.features {
        let place = match usage.first.function {
            Some(index) => match names.get(index) {
                Some(name) => format!("function {index} `{name}`"),
                None => format!("function {index}"),
            },
            None => "the module".to_owned(),
        };
        let flag = feature
            .llvm_feature()
            .map(|llvm| format!("; off with -C target-feature=-{llvm} / -mno-{llvm}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "    {}: first in {place} at offset {:#x}{flag}\n",
            feature.name(),
            usage.first.offset
        ));
    }
    text
}

fn census_json(
    file: &std::path::Path,
    module: &[u8],
    census: &Census,
    names: &FunctionNames,
) -> serde_json::Value {
    let features: Vec<serde_json::Value> = census
        .features
        .iter()
        .map(|(feature, usage)| {
            json!({
                "feature": feature.name(),
                "origin": feature.origin(),
                "llvm_feature": feature.llvm_feature(),
                "uses": usage.count,
                "functions": usage.functions.len(),
                "constructs": usage.constructs,
                "first": {
                    "function": usage.first.function,
                    "name": usage.first.function.and_then(|index| names.get(index)),
                    "offset": usage.first.offset,
                },
            })
        })
        .collect();
    json!({
        "file": file.display().to_string(),
        "bytes": module.len(),
        "functions": census.functions,
        "operators": census.operators,
        "toolchain": toolchain_name(module),
        "features": features,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text names each feature, its first function by name and its flag.
    #[test]
    fn text_names_features_functions_and_flags() {
        let module = wat::parse_str(
            r#"(module (func $_ZN2my6filter17h0123456789abcdefE (param i32) (result i32)
                 (i32.extend16_s (local.get 0))))"#,
        )
        .unwrap();
        let census = features::census(&module).unwrap();
        let text = census_text(
            std::path::Path::new("m.wasm"),
            &module,
            &census,
            &FunctionNames::read(&module),
        );
        assert!(text.starts_with("m.wasm: "), "{text}");
        assert!(text.contains("1 functions, 3 operators"), "{text}");
        assert!(text.contains("sign-extension operators"), "{text}");
        assert!(
            text.contains("sign-extension operators: first in function 0 `my::filter` at offset"),
            "{text}"
        );
        assert!(
            text.contains("-C target-feature=-sign-ext / -mno-sign-ext"),
            "{text}"
        );
    }
}
