//! The firmware's flash footprint per crate (issue 14), read from its ELF with `object`: every
//! symbol in a section that is loaded from flash (allocated, with contents: code, read-only data
//! and the initial values of `.data`) is attributed to the crate its demangled path starts with
//! (for `<T as Trait>::f`, the crate of `T`; a generic function to the crate that defines it).
//! Bytes no symbol covers (string literals, alignment padding, tables the linker made) are
//! reported as `[no symbol]`, so the crates add up to the flash footprint `kplug build` writes.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use object::elf::{SHF_ALLOC, SHT_NOBITS};
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SectionIndex};
use serde::Serialize;

use crate::flash::{FirmwareElf, FlashError};

/// What bytes with no symbol are reported as.
pub const NO_SYMBOL: &str = "[no symbol]";
/// What symbols that are not Rust paths (assembly labels, C functions) are reported as.
pub const NOT_RUST: &str = "[assembly and C]";

/// One crate's share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrateBytes {
    /// The crate (or [`NO_SYMBOL`], [`NOT_RUST`]).
    #[serde(rename = "crate")]
    pub name: String,
    /// Flash bytes.
    pub bytes: u64,
    /// Symbols attributed to it.
    pub symbols: usize,
}

/// The footprint of one firmware ELF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Bytes of flash the firmware occupies (its loaded segments, as `kplug build` writes them).
    pub flash_bytes: u64,
    /// Per crate, largest first; they add up to `flash_bytes`.
    pub crates: Vec<CrateBytes>,
}

/// The crate a (mangled or plain) symbol name belongs to: the crate whose source holds the item
/// (for an impl, the crate that writes the impl; for a generic function, the crate that defines
/// it, whichever crate instantiated it).
pub fn crate_of(symbol: &str) -> String {
    if let Some(name) = v0_crate(symbol) {
        return name;
    }
    let Ok(demangled) = rustc_demangle::try_demangle(symbol) else {
        return NOT_RUST.into();
    };
    // Legacy mangling: `krate::path::item`, or `<T as krate::Trait>::item`.
    let path = format!("{demangled:#}");
    let path = path.trim_start_matches('<');
    let first: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !first.is_empty() && path[first.len()..].starts_with("::") {
        return first;
    }
    match path.split_once(" as ") {
        Some((_, trait_path)) => trait_path.split("::").next().unwrap_or(NOT_RUST).to_owned(),
        None => NOT_RUST.into(),
    }
}

/// The crate of a v0-mangled name (`_R...`): the first crate root of its path, read from the
/// mangled form (Rust RFC 2603): impls (`M`, `X`, `Y`) and generic arguments (`I`) put their
/// own path first, and a path is written from its crate root inwards.
fn v0_crate(symbol: &str) -> Option<String> {
    let bytes = symbol.strip_prefix("_R")?.as_bytes();
    let mut at = bytes
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    let skip_disambiguator = |at: &mut usize| {
        if bytes.get(*at) == Some(&b's') {
            while bytes.get(*at).is_some_and(|&byte| byte != b'_') {
                *at += 1;
            }
            *at += 1;
        }
    };
    loop {
        match bytes.get(at)? {
            b'I' => at += 1,
            b'N' => at += 2,
            b'M' | b'X' | b'Y' => {
                at += 1;
                skip_disambiguator(&mut at);
            }
            b'C' => {
                at += 1;
                skip_disambiguator(&mut at);
                let rest = bytes.get(at..)?;
                let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
                let length: usize = std::str::from_utf8(rest.get(..digits)?)
                    .ok()?
                    .parse()
                    .ok()?;
                let start = at + digits;
                let name = bytes.get(start..start + length)?;
                return String::from_utf8(name.to_vec()).ok();
            }
            _ => return None,
        }
    }
}

/// Measures the firmware ELF in `bytes`.
pub fn measure(bytes: &[u8]) -> Result<Footprint, FlashError> {
    let flash_bytes = FirmwareElf::parse(bytes)?.flash_bytes() as u64;
    let file =
        object::File::parse(bytes).map_err(|error| FlashError::Malformed(error.to_string()))?;
    let in_flash: HashSet<SectionIndex> = file
        .sections()
        .filter(|section| match section.flags() {
            // Allocated and with contents: .bss and friends (NOBITS) take RAM, not flash.
            SectionFlags::Elf { sh_flags, sh_type } => {
                sh_flags.0 & SHF_ALLOC.0 != 0 && sh_type != SHT_NOBITS && section.size() > 0
            }
            _ => false,
        })
        .map(|section| section.index())
        .collect();
    let mut seen = HashSet::new();
    let mut crates: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    let mut attributed = 0u64;
    for symbol in file.symbols() {
        let Some(section) = symbol.section_index() else {
            continue;
        };
        if symbol.size() == 0 || !in_flash.contains(&section) {
            continue;
        }
        // Aliases (the same bytes under two names) count once.
        if !seen.insert((symbol.address(), symbol.size())) {
            continue;
        }
        let name = symbol.name().unwrap_or("");
        let entry = crates.entry(crate_of(name)).or_default();
        entry.0 += symbol.size();
        entry.1 += 1;
        attributed += symbol.size();
    }
    let mut crates: Vec<CrateBytes> = crates
        .into_iter()
        .map(|(name, (bytes, symbols))| CrateBytes {
            name,
            bytes,
            symbols,
        })
        .collect();
    if flash_bytes > attributed {
        crates.push(CrateBytes {
            name: NO_SYMBOL.into(),
            bytes: flash_bytes - attributed,
            symbols: 0,
        });
    }
    crates.sort_by_key(|entry| std::cmp::Reverse(entry.bytes));
    Ok(Footprint {
        flash_bytes,
        crates,
    })
}

/// Measures the firmware ELF at `path`.
pub fn measure_file(path: &Path) -> Result<Footprint, FlashError> {
    let bytes = std::fs::read(path)
        .map_err(|error| FlashError::Malformed(format!("{}: {error}", path.display())))?;
    measure(&bytes)
}

/// The footprint as a table, largest crate first.
pub fn render(footprint: &Footprint) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "flash footprint {:.1} KiB ({} bytes)",
        footprint.flash_bytes as f64 / 1024.0,
        footprint.flash_bytes
    );
    let _ = writeln!(
        out,
        "  {:<28}{:>12}{:>8}{:>10}",
        "crate", "KiB", "share", "symbols"
    );
    for entry in &footprint.crates {
        let _ = writeln!(
            out,
            "  {:<28}{:>12.1}{:>7.1}%{:>10}",
            entry.name,
            entry.bytes as f64 / 1024.0,
            entry.bytes as f64 * 100.0 / footprint.flash_bytes.max(1) as f64,
            entry.symbols
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Legacy and v0 mangled names, trait impls and non-Rust names go to the right crate.
    #[test]
    fn symbols_are_attributed_to_crates() {
        // Legacy mangling.
        assert_eq!(
            crate_of("_ZN10kplug_core8compiler7compile17h0123456789abcdefE"),
            "kplug_core"
        );
        // v0 (what the firmware uses): an inherent method of `str` in core, instantiated by
        // the firmware, is core's; a generic wasmparser method is wasmparser's.
        assert_eq!(
            crate_of(
                "_RINvMNtCs98nK4zgObnF_4core3stre12trim_matchesNvMNtNtB5_4char7methodsc13\
                 is_whitespaceECshtU2wj5ZYhE_14kplug_firmware"
            ),
            "core"
        );
        assert_eq!(
            crate_of(
                "_RINvMNtCsabhHWX8Y232_10wasmparser13binary_readerNtB3_12BinaryReader4skip\
                 NCNvXNtNtNtB5_7readers4core7importsNtB1d_7ImportsNtB1h_10FromReader11\
                 from_reader0EB5_"
            ),
            "wasmparser"
        );
        assert_eq!(crate_of("_RNvCs1234_8postcard6encode"), "postcard");
        assert_eq!(crate_of("memcpy"), NOT_RUST);
        // Truncated names never panic.
        assert_eq!(crate_of("_RNvCs12"), NOT_RUST);
    }

    /// The sample firmware's footprint is its segments' bytes, all accounted for.
    #[test]
    fn footprint_adds_up() {
        let elf = crate::flash::tests::sample_firmware();
        let footprint = measure(&elf).expect("a firmware ELF");
        assert_eq!(
            footprint.flash_bytes,
            FirmwareElf::parse(&elf).unwrap().flash_bytes() as u64
        );
        let total: u64 = footprint.crates.iter().map(|entry| entry.bytes).sum();
        assert_eq!(total, footprint.flash_bytes);
    }
}
