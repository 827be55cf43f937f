//! The oracle: a program run in kplug's reference engine (`kplug-reference`, wasmi 0.51 with
//! the firmware symbol table stubbed; the one wrapper around wasmi in the tree), on the module
//! as [`separate_copies`] rewrites it: the same program, without the sequence wasmi 0.51
//! miscompiles.

use std::convert::Infallible;

use kplug_reference::rewrite::belongs_between;
use kplug_reference::{Failure, Reference};
use plugin_format::message::Value;
use plugin_format::trap::TrapKind;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{ConstExpr, GlobalSection, GlobalType, Instruction, Module, SectionId, ValType};

use crate::generator::{Call, NAN_RULE_EXPORT};
use crate::observation::{CallOutcome, Observation};

/// Fuel (wasmi's instruction units) each call and the start function get in the oracle. A
/// generated program stays far below it (its own `fuel` global bounds it); a candidate of the
/// reducer that lost its fuel decrement runs out here instead of looping forever, and the
/// reducer rejects it.
pub const ORACLE_FUEL: u64 = 200_000_000;

/// The trap kind of a failure, or the failure's text when it is not a trap kplug has a kind
/// for (the program, not the JIT, is then at fault).
fn trap_kind(failure: Failure) -> Result<TrapKind, String> {
    match failure {
        Failure::Trap(trap) => trap
            .kind
            .ok_or_else(|| format!("the reference trapped without a kplug kind: {trap}")),
        other => Err(format!("the reference failed without a trap: {other}")),
    }
}

/// Inserts a read of a new mutable global, dropped, after every `local.set` and `local.tee`.
struct CopyBarrier {
    /// The new global's index: after every imported and defined one.
    global: u32,
    /// Whether the global has been added (to the module's global section, or in a new one).
    added: bool,
}

impl CopyBarrier {
    fn add(&mut self, globals: &mut GlobalSection) {
        let ty = GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        };
        globals.global(ty, &ConstExpr::i32_const(0));
        self.added = true;
    }
}

impl Reencode for CopyBarrier {
    type Error = Infallible;

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), reencode::Error<Infallible>> {
        reencode::utils::parse_global_section(self, globals, section)?;
        self.add(globals);
        Ok(())
    }

    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error<Infallible>> {
        if !self.added && belongs_between(SectionId::Global, after, before) {
            let mut globals = GlobalSection::new();
            self.add(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        body: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Infallible>> {
        let mut function = self.new_function_with_parsed_locals(&body)?;
        let mut reader = body.get_operators_reader()?;
        while !reader.eof() {
            let operator = reader.read()?;
            let barrier = matches!(
                operator,
                wasmparser::Operator::LocalSet { .. } | wasmparser::Operator::LocalTee { .. }
            );
            function.instruction(&self.instruction(operator)?);
            if barrier {
                function.instruction(&Instruction::GlobalGet(self.global));
                function.instruction(&Instruction::Drop);
            }
        }
        code.function(&function);
        Ok(())
    }
}

/// `wasm` as the oracle runs it: after every `local.set` and `local.tee`, a read of a new
/// mutable global (appended after the others, so no index moves), dropped. The program means
/// the same; wasmi 0.51 then never has two `copy` instructions in a row to merge, which it does
/// wrongly (`kplug_reference::KNOWN_BUGS`: merged into one span copy, a copy reads a local an
/// earlier one writes before that write). The JIT runs the module as it is. A module that does
/// not decode is returned as it is (the reference then says why).
pub fn separate_copies(wasm: &[u8]) -> Vec<u8> {
    let mut globals = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                globals += reader
                    .into_imports()
                    .flatten()
                    .filter(|import| matches!(import.ty, wasmparser::TypeRef::Global(_)))
                    .count() as u32;
            }
            Ok(wasmparser::Payload::GlobalSection(reader)) => globals += reader.count(),
            Ok(_) => {}
            Err(_) => return wasm.to_vec(),
        }
    }
    let mut module = Module::new();
    let mut barrier = CopyBarrier {
        global: globals,
        added: false,
    };
    match barrier.parse_core_module(&mut module, wasmparser::Parser::new(0), wasm) {
        Ok(()) => module.finish(),
        Err(_) => wasm.to_vec(),
    }
}

/// Runs `calls` in order on one reference instance of `wasm` (as [`separate_copies`] rewrites
/// it). Err: the reference refused the module or failed other than by a trap.
pub fn run(wasm: &[u8], calls: &[Call]) -> Result<Observation, String> {
    let wasm = &separate_copies(wasm)[..];
    let mut reference = Reference::new(Some(ORACLE_FUEL));
    let mut observation = Observation::default();
    let instance = match reference.instantiate(wasm) {
        Ok(instance) => instance,
        Err(Failure::Instantiation(message)) => {
            return Err(format!("the reference refused to instantiate: {message}"));
        }
        Err(Failure::Invalid(message)) => return Err(format!("the reference refused: {message}")),
        Err(failure) => {
            observation.start = Some(trap_kind(failure)?);
            return Ok(observation);
        }
    };
    for call in calls {
        let outcome = match reference.invoke(instance, &call.export, &call.args) {
            Ok(values) => CallOutcome::Returned(values),
            Err(failure @ Failure::Trap(_)) => CallOutcome::Trapped(trap_kind(failure)?),
            Err(other) => return Err(format!("call `{}`: {other}", call.export)),
        };
        observation.calls.push(outcome);
    }
    observation.memory = reference.memory(instance, "memory").map(<[u8]>::to_vec);
    let mut index = 0;
    while let Ok(value) = reference.global(instance, &format!("g{index}")) {
        observation.globals.push(value);
        index += 1;
    }
    observation.nan_rule = match reference.global(instance, NAN_RULE_EXPORT) {
        Ok(Value::I32(count)) => Some(count),
        _ => None,
    };
    Ok(observation)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calls of a program made in the reference on `wasm` as it is, not rewritten.
    fn unrewritten(wasm: &[u8], export: &str) -> Vec<Value> {
        let mut reference = Reference::new(None);
        let instance = reference.instantiate(wasm).unwrap();
        reference.invoke(instance, export, &[]).unwrap()
    }

    /// wasmi 0.51 miscompiles three local-to-local copies in a row whose destinations and
    /// sources are contiguous (found by the differential fuzzer, seed 0x130000 case 269304):
    /// local 0 gets local 2's old value, 0, instead of 33. Rewritten, the oracle gets the
    /// spec's answer; the rewritten module is valid, with a global section added where there
    /// was none, and its own globals keep their indices.
    #[test]
    fn copies_are_kept_apart() {
        let wasm = wat::parse_str(
            r#"(module
                 (func (export "e") (result i32) (local i32 i32 i32 i32 i32)
                   i32.const 7 local.set 3 i32.const 33 local.set 4
                   local.get 4 local.set 2 local.get 3 local.set 1 local.get 2 local.set 0
                   local.get 0))"#,
        )
        .unwrap();
        assert_eq!(
            unrewritten(&wasm, "e"),
            [Value::I32(0)],
            "wasmi's bug is gone?"
        );
        let observation = run(
            &wasm,
            &[Call {
                export: "e".into(),
                args: Vec::new(),
            }],
        )
        .unwrap();
        assert_eq!(
            observation.calls,
            [CallOutcome::Returned(vec![Value::I32(33)])]
        );
        let with_globals = wat::parse_str(
            r#"(module (import "env" "g" (global i32))
                 (global $own (export "own") (mut i32) (i32.const 5))
                 (func (export "e") (result i32) (local i32) global.get $own local.tee 0))"#,
        )
        .unwrap();
        let rewritten = separate_copies(&with_globals);
        wasmparser::Validator::new()
            .validate_all(&rewritten)
            .unwrap();
        let text = wasmprinter::print_bytes(&rewritten).unwrap();
        assert!(
            text.contains("local.tee 0\n    global.get 2\n    drop"),
            "{text}"
        );
        assert!(text.contains("(global $own (;1;) (mut i32)"), "{text}");
        let rewritten = separate_copies(&wasm);
        wasmparser::Validator::new()
            .validate_all(&rewritten)
            .unwrap();
        assert!(
            wasmprinter::print_bytes(&rewritten)
                .unwrap()
                .contains("(global (;0;) (mut i32)")
        );
    }
}
