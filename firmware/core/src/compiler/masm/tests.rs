//! Golden tests of the macro-assembler: each lowering shape's code, disassembled by
//! `iced-x86`, including both isolation modes' bounds checks and the callee-saved prologue.

use super::*;
use crate::compiler::golden::disassemble;
use alloc::string::String;

/// A layout with `params` parameters and `locals` further locals.
fn layout(
    params: &[ValType],
    locals: &[ValType],
    pinned: &[(u32, Reg)],
    wide: bool,
) -> FrameLayout {
    let mut local_types = params.to_vec();
    local_types.extend_from_slice(locals);
    FrameLayout {
        local_types,
        params: params.len() as u32,
        pinned: pinned.to_vec(),
        wide_value_registers: wide,
    }
}

/// Lowers with `emit` in a fresh module and returns the function's disassembly (trap stubs
/// included, padding excluded).
fn lower(
    isolation: Isolation,
    layout: FrameLayout,
    emit: impl FnOnce(&mut Masm<'_>) -> Result<(), CompileError>,
) -> Vec<String> {
    let mut out = ModuleCode::default();
    let mut masm = Masm::new(&mut out, isolation, false, 0, layout).unwrap();
    emit(&mut masm).unwrap();
    masm.finish().unwrap();
    let code = out.enc.asm.finish().unwrap();
    let mut lines = disassemble(&code);
    while lines.last().is_some_and(|line| line == "int3") {
        lines.pop();
    }
    lines
}

fn check(lines: Vec<String>, expected: &[&str]) {
    assert!(
        lines
            .iter()
            .map(String::as_str)
            .eq(expected.iter().copied()),
        "lowering differs\n  got:      {lines:?}\n  expected: {expected:?}"
    );
}

/// `local.get 0; local.get 1; i32.add; return`: the right operand stays in memory.
#[test]
fn i32_add_of_two_parameters() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32, ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.local_get(1)?;
            m.binary_i32(IntBinary::Add)?;
            m.return_from(Some(ValType::I32))
        },
    );
    check(
        lines,
        &["mov eax,[ebp+0Ch]", "add eax,[ebp+8]", "leave", "ret 8"],
    );
}

/// The in-place form for a pinned local, and a comparison left in EFLAGS feeding a branch.
#[test]
fn pinned_local_in_place_and_compare_and_branch() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[], &[(0, Reg::Edi)], false),
        |m| {
            m.local_get(0)?;
            m.push(ValType::I32, Value::Imm(1))?;
            m.binary_i32_into_local(IntBinary::Add, 0)?;
            m.local_get(0)?;
            m.push(ValType::I32, Value::Imm(10))?;
            m.compare_i32(IntCompare::LtS)?;
            let target = m.new_label();
            m.branch_if(None, target)?;
            m.bind(target);
            Ok(())
        },
    );
    check(lines, &["add edi,1", "cmp edi,0Ah", "jl 0000000Ch"]);
}

/// i32.load offset=4 in software mode: carry check of the last byte, bound check against the
/// context's memory size, out-of-line `ud2`.
#[test]
fn software_mode_bounds_check() {
    let lines = lower(
        Isolation::Software,
        layout(&[ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.load(
                Access {
                    ty: ValType::I32,
                    bytes: 4,
                    signed: false,
                },
                4,
            )
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "add eax,7",
            "jb 0000001Ch",
            "cmp eax,fs:[4]",
            "jae 0000001Ch",
            "mov eax,[eax-3]",
            "ud2",
        ],
    );
}

/// The same load in hardware mode: only the carry check (the segment limit does the rest);
/// with no offset and a pinned address, the register is the base as it is.
#[test]
fn hardware_mode_checks() {
    let access = Access {
        ty: ValType::I32,
        bytes: 4,
        signed: false,
    };
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.load(access, 4)
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "add eax,4",
            "jb 0000000Eh",
            "mov eax,[eax]",
            "ud2",
        ],
    );
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[], &[(0, Reg::Edi)], false),
        |m| {
            m.local_get(0)?;
            m.load(access, 0)
        },
    );
    check(lines, &["mov eax,[edi]"]);
}

/// i64 add of two parameters: a pair, add/adc with memory operands, the result moved to
/// EDX:EAX; the epilogue restores every callee-saved register the function may use.
#[test]
fn i64_add_and_the_callee_saved_epilogue() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I64, ValType::I64], &[], &[], true),
        |m| {
            m.local_get(0)?;
            m.local_get(1)?;
            m.binary_i64(IntBinary::Add)?;
            m.return_from(Some(ValType::I64))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+10h]",
            "mov ecx,[ebp+14h]",
            "add eax,[ebp+8]",
            "adc ecx,[ebp+0Ch]",
            "mov edx,ecx",
            "mov edi,[ebp-4]",
            "mov esi,[ebp-8]",
            "mov ebx,[ebp-0Ch]",
            "leave",
            "ret 10h",
        ],
    );
}

/// i64 signed less-than: `cmp` then `sbb` of the high words leaves the 64-bit flags; a greater-than
/// subtracts the other way round.
#[test]
fn i64_comparisons() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I64, ValType::I64], &[], &[], true),
        |m| {
            m.local_get(0)?;
            m.local_get(1)?;
            m.compare_i64(IntCompare::LtS)?;
            m.materialize_flags()?;
            m.local_get(0)?;
            m.local_get(1)?;
            m.compare_i64(IntCompare::GtU)?;
            m.materialize_flags()
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+10h]",
            "mov ecx,[ebp+14h]",
            "cmp eax,[ebp+8]",
            "sbb ecx,[ebp+0Ch]",
            "setl al",
            "movzx eax,al",
            "mov ecx,[ebp+8]",
            "mov edx,[ebp+0Ch]",
            "cmp ecx,[ebp+10h]",
            "sbb edx,[ebp+14h]",
            "setb cl",
            "movzx ecx,cl",
        ],
    );
}

/// The prologue: software stack check, frame, every callee-saved register the function may
/// touch saved (pinned EDI, and ESI/EBX for a deep value stack), zeroed locals, the pinned
/// parameter loaded; the frame size patched in.
#[test]
fn prologue_saves_every_callee_saved_register_it_may_touch() {
    let lines = lower(
        Isolation::Software,
        layout(&[ValType::I32], &[ValType::I64], &[(0, Reg::Edi)], true),
        |m| {
            let label = m.new_label();
            m.prologue(0, label)?;
            m.push(ValType::I32, Value::Imm(3))?;
            m.spill_all()?;
            m.drop_top()?;
            m.return_from(None)
        },
    );
    check(
        lines,
        &[
            "cmp esp,30h",
            "jb 00000033h",
            "push ebp",
            "mov ebp,esp",
            "push edi",
            "push esi",
            "push ebx",
            "push 0",
            "push 0",
            "sub esp,8",
            "mov edi,[ebp+8]",
            "mov dword ptr [ebp-1Ch],3",
            "mov edi,[ebp-4]",
            "mov esi,[ebp-8]",
            "mov ebx,[ebp-0Ch]",
            "leave",
            "ret 4",
            "ud2",
        ],
    );
}

/// A local written while older reads of it are still on the stack: only those entries are
/// detached (into a register), then the write happens.
#[test]
fn local_set_detaches_older_reads() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.push(ValType::I32, Value::Imm(5))?;
            m.local_set(0, false)?;
            m.return_from(Some(ValType::I32))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "mov dword ptr [ebp+8],5",
            "leave",
            "ret 4",
        ],
    );
}
