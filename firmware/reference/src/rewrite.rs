//! Small binary rewrites of modules with `wasm-encoder`'s re-encoder: the export that lets the
//! symbol-table stubs see a plugin's memory, and the section-order rule every rewrite that adds
//! a section the module lacks needs (the `.wast` runner's import definitions use it too).

use std::convert::Infallible;

use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{ExportKind, ExportSection, Module, SectionId};

/// The name under which [`expose_memory`] exports memory 0.
pub const HOST_VIEW_MEMORY_EXPORT: &str = "__kplug_host_view_memory";

/// Where a non-custom section goes in a module: the binary format's order (type, import,
/// function, table, memory, tag, global, export, start, element, data count, code, data), which
/// is not the order of the section ids.
pub fn section_order(id: SectionId) -> u8 {
    match id {
        SectionId::Custom => 0,
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
    }
}

/// Whether a section `id` that the module lacks goes at the re-encoder's hook point between the
/// sections `after` and `before` ([`Reencode::intersperse_section_hook`]'s arguments). For a
/// module without such a section this holds at exactly one hook point; for a module with one,
/// at none.
pub fn belongs_between(id: SectionId, after: Option<SectionId>, before: Option<SectionId>) -> bool {
    after.is_none_or(|after| section_order(after) < section_order(id))
        && before.is_none_or(|before| section_order(before) > section_order(id))
}

/// Whether `wasm` has a memory 0 (defined or imported).
fn has_memory(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .any(|payload| match payload {
            Ok(wasmparser::Payload::MemorySection(reader)) => reader.count() > 0,
            Ok(wasmparser::Payload::ImportSection(reader)) => reader
                .into_imports()
                .flatten()
                .any(|import| matches!(import.ty, wasmparser::TypeRef::Memory(_))),
            _ => false,
        })
}

/// Adds the [`HOST_VIEW_MEMORY_EXPORT`] export of memory 0 (to the export section, or in a new
/// one where the module has none).
struct HostView {
    added: bool,
}

impl HostView {
    fn add(&mut self, exports: &mut ExportSection) {
        exports.export(HOST_VIEW_MEMORY_EXPORT, ExportKind::Memory, 0);
        self.added = true;
    }
}

impl Reencode for HostView {
    type Error = Infallible;

    fn parse_export_section(
        &mut self,
        exports: &mut ExportSection,
        section: wasmparser::ExportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Infallible>> {
        reencode::utils::parse_export_section(self, exports, section)?;
        self.add(exports);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error<Infallible>> {
        if !self.added && belongs_between(SectionId::Export, after, before) {
            let mut exports = ExportSection::new();
            self.add(&mut exports);
            module.section(&exports);
        }
        Ok(())
    }
}

/// `wasm` with memory 0 also exported as [`HOST_VIEW_MEMORY_EXPORT`], so that the stubs, which
/// like the firmware must see the caller's memory, can read it even when the plugin does not
/// export it. A module without a memory, or one that does not decode, is returned as is.
pub fn expose_memory(wasm: &[u8]) -> Vec<u8> {
    if !has_memory(wasm) {
        return wasm.to_vec();
    }
    let mut module = Module::new();
    let mut host_view = HostView { added: false };
    match host_view.parse_core_module(&mut module, wasmparser::Parser::new(0), wasm) {
        Ok(()) => module.finish(),
        Err(_) => wasm.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(wasm: &[u8]) -> Vec<String> {
        wasmparser::Parser::new(0)
            .parse_all(wasm)
            .filter_map(|payload| match payload.expect("decodes") {
                wasmparser::Payload::ExportSection(reader) => Some(
                    reader
                        .into_iter()
                        .map(|export| export.expect("export").name.to_owned())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The export is added to an existing export section, in a new one placed in order, and
    /// not at all to a module without memory; the result validates.
    #[test]
    fn memory_is_exposed_where_there_is_one() {
        let with_exports = wat::parse_str(
            r#"(module (memory 1) (func (export "f")) (start 0) (data (i32.const 0) "x"))"#,
        )
        .unwrap();
        let without_exports =
            wat::parse_str(r#"(module (import "env" "m" (memory 1)) (func) (start 0))"#).unwrap();
        for wasm in [with_exports, without_exports] {
            let exposed = expose_memory(&wasm);
            wasmparser::Validator::new()
                .validate_all(&exposed)
                .expect("valid");
            assert!(exports(&exposed).contains(&HOST_VIEW_MEMORY_EXPORT.to_owned()));
        }
        let no_memory = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
        assert_eq!(expose_memory(&no_memory), no_memory);
    }

    /// A missing section belongs at exactly one hook point.
    #[test]
    fn missing_sections_go_in_binary_order() {
        use SectionId::*;
        let hooks = [
            (None, Some(Type)),
            (Some(Type), Some(Function)),
            (Some(Function), Some(DataCount)),
            (Some(DataCount), Some(Code)),
            (Some(Code), None),
        ];
        let places = |id| {
            hooks
                .iter()
                .filter(|(after, before)| belongs_between(id, *after, *before))
                .count()
        };
        assert_eq!(places(Export), 1);
        assert_eq!(places(Memory), 1);
        assert_eq!(places(Data), 1);
        assert_eq!(places(Function), 0, "present");
        assert!(belongs_between(Global, Some(Function), Some(DataCount)));
    }
}
