//! The firmware symbol table: stable contents, lookup and link errors.

use std::collections::BTreeSet;

use plugin_format::symbols::{LinkError, SYMBOLS, SymbolId, ValType, lookup, resolve};

const I32: ValType = ValType::I32;

/// Ids are unique, and so are (module, name) pairs.
#[test]
fn ids_and_names_are_unique() {
    let ids: BTreeSet<u16> = SYMBOLS.iter().map(|symbol| symbol.id.as_u16()).collect();
    let names: BTreeSet<(&str, &str)> = SYMBOLS.iter().map(|s| (s.module, s.name)).collect();
    assert_eq!(ids.len(), SYMBOLS.len());
    assert_eq!(names.len(), SYMBOLS.len());
}

/// The table is exactly this (ids are stable): any change here must bump SYMBOL_TABLE_VERSION.
#[test]
fn table_is_pinned() {
    let table: Vec<(u16, &str, String)> = SYMBOLS
        .iter()
        .map(|s| (s.id.as_u16(), s.name, s.signature.to_string()))
        .collect();
    let expected = [
        (1, "log", "(i32, i32) -> ()"),
        (2, "now_us", "() -> (i32)"),
        (3, "ticks_ms", "() -> (i32)"),
        (4, "gpio_write", "(i32, i32) -> ()"),
        (5, "gpio_read", "(i32) -> (i32)"),
        (6, "emit", "(i32, i32) -> ()"),
    ]
    .map(|(id, name, signature)| (id, name, signature.to_string()));
    assert_eq!(table, expected);
    assert!(SYMBOLS.iter().all(|symbol| symbol.module == "env"));
    assert_eq!(plugin_format::SYMBOL_TABLE_VERSION, 1);
}

/// `SymbolId::from_u16` inverts `as_u16` and rejects numbers that are not ids.
#[test]
fn symbol_id_numbers() {
    for symbol in SYMBOLS {
        assert_eq!(SymbolId::from_u16(symbol.id.as_u16()), Some(symbol.id));
    }
    assert_eq!(SymbolId::from_u16(0), None);
    assert_eq!(SymbolId::from_u16(7), None);
}

/// `lookup` finds every entry by module and name, and nothing else.
#[test]
fn lookup_by_module_and_name() {
    for symbol in SYMBOLS {
        assert_eq!(lookup(symbol.module, symbol.name), Some(symbol));
    }
    assert_eq!(lookup("env", "nope"), None);
    assert_eq!(lookup("wasi", "log"), None);
}

/// `resolve` links an import declared with the table's signature.
#[test]
fn resolve_matching_signature() {
    assert_eq!(
        resolve("env", "log", &[I32, I32], &[]).unwrap().id,
        SymbolId::Log
    );
    assert_eq!(
        resolve("env", "gpio_read", &[I32], &[I32]).unwrap().id,
        SymbolId::GpioRead
    );
}

/// An unknown import is an UnknownImport error that names it.
#[test]
fn resolve_unknown_names_the_import() {
    let error = resolve("env", "format_disk", &[], &[]).unwrap_err();
    assert_eq!(
        error,
        LinkError::UnknownImport {
            module: "env".into(),
            name: "format_disk".into()
        }
    );
    assert_eq!(error.to_string(), "unknown import `env.format_disk`");
}

/// A wrong signature is a SignatureMismatch naming the import and both signatures.
#[test]
fn resolve_mismatch_names_the_import() {
    let error = resolve("env", "now_us", &[], &[ValType::I64]).unwrap_err();
    assert_eq!(
        error,
        LinkError::SignatureMismatch {
            module: "env".into(),
            name: "now_us".into(),
            expected: "() -> (i32)".into(),
            found: "() -> (i64)".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "import `env.now_us` has signature () -> (i64), the firmware expects () -> (i32)"
    );
}

/// The README's symbol table is exactly the one generated from the definition.
#[test]
fn readme_table_matches_the_definition() {
    let readme = include_str!("../../README.md");
    let table = plugin_format::symbols::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's symbol table differs from plugin_format::symbols; paste this:\n{table}"
    );
}
