//! Reproducer files: what a fuzzer found, saved so that a regression test replays it forever.
//!
//! A differential reproducer is a WAT file whose leading comments carry the calls:
//!
//! ```text
//! ;; kplug-fuzz differential reproducer
//! ;; subset i32
//! ;; found seed 0x2a case 17: call 1 e0(i32:5): oracle returned [i32:3], JIT returned [i32:9]
//! ;; call e0 i32:5 i32:-1
//! ;; call e1
//! (module ...)
//! ```
//!
//! so it is also a module `kplug run` and `wat2wasm` accept as is. The compiler and description
//! fuzzers save their input bytes as they are (`.wasm`, `.bin`).

use std::path::{Path, PathBuf};

use crate::generator::{Call, Program};
use crate::observation::{parse_value, value_text};

/// The first line of every differential reproducer.
pub const DIFFERENTIAL_HEADER: &str = ";; kplug-fuzz differential reproducer";

/// Why a reproducer file could not be read.
#[derive(Debug)]
pub enum ReproducerError {
    /// Reading the file failed.
    Io(std::io::Error),
    /// The file does not start with [`DIFFERENTIAL_HEADER`].
    NotAReproducer,
    /// A `;; call` line is malformed.
    BadCall(String),
}

impl core::fmt::Display for ReproducerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReproducerError::Io(error) => write!(f, "{error}"),
            ReproducerError::NotAReproducer => {
                write!(
                    f,
                    "not a differential reproducer (no `{DIFFERENTIAL_HEADER}` line)"
                )
            }
            ReproducerError::BadCall(line) => write!(f, "malformed call line `{line}`"),
        }
    }
}

impl std::error::Error for ReproducerError {}

/// The text of a differential reproducer for `program`, with `note` (what was found, where).
pub fn differential_text(program: &Program, subset: &str, note: &str) -> String {
    let mut text = format!("{DIFFERENTIAL_HEADER}\n;; subset {subset}\n");
    for line in note.lines() {
        text.push_str(";; found ");
        text.push_str(line);
        text.push('\n');
    }
    for call in &program.calls {
        text.push_str(";; call ");
        text.push_str(&call.export);
        for arg in &call.args {
            text.push(' ');
            text.push_str(&value_text(arg));
        }
        text.push('\n');
    }
    text.push_str(&program.wat);
    text
}

/// Parses a differential reproducer back into its program.
pub fn parse_differential(text: &str) -> Result<Program, ReproducerError> {
    if !text.starts_with(DIFFERENTIAL_HEADER) {
        return Err(ReproducerError::NotAReproducer);
    }
    let mut calls = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(";; call ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let export = words
            .next()
            .ok_or_else(|| ReproducerError::BadCall(line.into()))?;
        let args = words
            .map(|word| parse_value(word).ok_or_else(|| ReproducerError::BadCall(line.into())))
            .collect::<Result<Vec<_>, _>>()?;
        calls.push(Call {
            export: export.into(),
            args,
        });
    }
    Ok(Program {
        wat: text.into(),
        calls,
    })
}

/// Writes `contents` as `directory/name`, creating the directory; returns the path.
pub fn save(directory: &Path, name: &str, contents: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(directory)?;
    let path = directory.join(name);
    std::fs::write(&path, contents)?;
    Ok(path)
}

/// The files in `directory` whose names end in `extension`, sorted (none if it does not exist).
pub fn files(directory: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext.to_string_lossy() == extension)
        })
        .collect();
    paths.sort();
    paths
}

/// Where the regression reproducers of `fuzzer` live in the source tree
/// (`firmware/fuzz/regressions/<fuzzer>`).
pub fn regressions(fuzzer: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(fuzzer)
}

/// Where the brief runs of the tests save what they find (`target/fuzz-findings/<fuzzer>`),
/// so that CI does not write into the source tree. Move a file into [`regressions`] to make it a
/// regression test.
pub fn findings(fuzzer: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("fuzz-findings").join(fuzzer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_format::message::Value;

    /// A reproducer's calls survive the round trip, and its text is still valid WAT.
    #[test]
    fn round_trip() {
        let program = Program {
            wat: "(module (func (export \"e0\") (param i32)))\n".into(),
            calls: vec![
                Call {
                    export: "e0".into(),
                    args: vec![Value::I32(-7)],
                },
                Call {
                    export: "e0".into(),
                    args: vec![Value::I32(i32::MAX)],
                },
            ],
        };
        let text = differential_text(&program, "i32", "seed 0x1 case 2: something\nsecond line");
        let back = parse_differential(&text).unwrap();
        assert_eq!(back.calls, program.calls);
        wat::parse_str(&back.wat).expect("a reproducer is valid WAT");
        assert!(matches!(
            parse_differential("(module)"),
            Err(ReproducerError::NotAReproducer)
        ));
        let bad = format!("{DIFFERENTIAL_HEADER}\n;; call e0 i32:x\n(module)");
        assert!(matches!(
            parse_differential(&bad),
            Err(ReproducerError::BadCall(_))
        ));
    }
}
