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

/// `memory.fill` and `memory.copy` of a parameter's address: the whole range checked against
/// the memory size (carry included) before the first write, in both modes alike (a segment
/// limit would fault after part of the range was written); constants stay immediates; ESI, EDI
/// and ES saved around the string instructions; an overlapping copy goes backwards.
#[test]
fn bulk_memory_checks_the_whole_range_first() {
    let mut shapes = Vec::new();
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let fill = lower(isolation, layout(&[ValType::I32], &[], &[], false), |m| {
            m.local_get(0)?;
            m.push(ValType::I32, Value::Imm(0x1AB))?;
            m.push(ValType::I32, Value::Imm(6))?;
            m.memory_fill()?;
            m.return_from(None)
        });
        let copy = lower(
            isolation,
            layout(&[ValType::I32, ValType::I32], &[], &[(0, Reg::Edi)], false),
            |m| {
                m.local_get(0)?;
                m.local_get(1)?;
                m.push(ValType::I32, Value::Imm(4096))?;
                m.memory_copy()?;
                m.return_from(None)
            },
        );
        shapes.push((fill, copy));
    }
    let (fill, copy) = &shapes[0];
    assert_eq!(shapes[0], shapes[1], "both modes check alike");
    check(
        fill.clone(),
        &[
            "mov eax,[ebp+8]",
            "mov [ebp-8],eax",
            "push edi",
            "mov ecx,6",
            "mov edi,[ebp-8]",
            "mov eax,edi",
            "add eax,ecx",
            "jb 00000042h",
            "cmp eax,fs:[4]",
            "ja 00000042h",
            "mov eax,0ABABABABh",
            "push es",
            "push ds",
            "pop es",
            "mov edx,ecx",
            "shr ecx,2",
            "rep stosd [edi]",
            "mov ecx,edx",
            "and ecx,3",
            "rep stosb [edi]",
            "pop es",
            "pop edi",
            "leave",
            "ret 4",
            "ud2",
        ],
    );
    check(
        copy.clone(),
        &[
            "mov [ebp-0Ch],edi",
            "mov eax,[ebp+8]",
            "mov [ebp-14h],eax",
            "push esi",
            "push edi",
            "mov ecx,1000h",
            "mov esi,[ebp-14h]",
            "mov edi,[ebp-0Ch]",
            "mov eax,esi",
            "add eax,ecx",
            "jb 0000009Ah",
            "cmp eax,fs:[4]",
            "ja 0000009Ah",
            "mov eax,edi",
            "add eax,ecx",
            "jb 0000009Ch",
            "cmp eax,fs:[4]",
            "ja 0000009Ch",
            "push es",
            "push ds",
            "pop es",
            "mov eax,edi",
            "sub eax,esi",
            "je 00000090h",
            "cmp eax,ecx",
            "jb 0000006Ch",
            "mov eax,ecx",
            "shr ecx,2",
            "rep movsd [edi],[esi]",
            "mov ecx,eax",
            "and ecx,3",
            "rep movsb [edi],[esi]",
            "jmp 00000090h",
            "std",
            "lea esi,[esi+ecx-4]",
            "lea edi,[edi+ecx-4]",
            "mov eax,ecx",
            "shr ecx,2",
            "rep movsd [edi],[esi]",
            "add esi,3",
            "add edi,3",
            "mov ecx,eax",
            "and ecx,3",
            "rep movsb [edi],[esi]",
            "cld",
            "pop es",
            "pop edi",
            "pop esi",
            "mov edi,[ebp-4]",
            "leave",
            "ret 8",
            "ud2",
            "ud2",
        ],
    );
}

/// Multi-value calls and returns: the caller reserves the results area (`lea`, flags kept)
/// before the arguments, pops the results into the slots of their depths after the call; the
/// callee stores each result at `[ebp + 8 + A + r_k]`.
#[test]
fn multi_value_call_and_return() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[], &[], false),
        |m| {
            let callee = m.new_label();
            m.bind(callee);
            let ty = crate::compiler::FuncType {
                params: alloc::vec![ValType::I32],
                results: alloc::vec![ValType::I64, ValType::I32],
            };
            m.local_get(0)?;
            m.call(&ty, callee)?;
            m.return_multi(&[ValType::I64, ValType::I32])
        },
    );
    check(
        lines,
        &[
            // Caller: the area (8 + 4 bytes), the argument, the call, result 0 (i64) into the
            // slot of depth 0, result 1 (i32) into the slot of depth 1.
            "lea esp,[esp-0Ch]",
            "push dword ptr [ebp+8]",
            "call 0",
            "pop eax",
            "mov [ebp-8],eax",
            "pop eax",
            "mov [ebp-4],eax",
            "pop eax",
            "mov [ebp-10h],eax",
            "mov eax,[ebp-10h]",
            "mov [ebp+14h],eax",
            "mov eax,[ebp-8]",
            "mov ecx,[ebp-4]",
            "mov [ebp+0Ch],eax",
            "mov [ebp+10h],ecx",
            "leave",
            "ret 4",
        ],
    );
}

/// `f64.add` of two parameters: the operands are read in their homes, the result goes to the
/// deepest operand's slot and leaves as an integer pair (no FPU on the way out).
#[test]
fn f64_add_reads_homes_and_writes_a_slot() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::F64, ValType::F64], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.local_get(1)?;
            m.binary_float(ValType::F64, FloatBinary::Arithmetic(Arithmetic::Add))?;
            m.return_from(Some(ValType::F64))
        },
    );
    check(
        lines,
        &[
            "fld st,qword ptr [ebp+10h]",
            "fadd st,qword ptr [ebp+8]",
            "fstp qword ptr [ebp-8],st",
            "mov eax,[ebp-8]",
            "mov edx,[ebp-4]",
            "leave",
            "ret 10h",
        ],
    );
}

/// `f64.load` into a local: the value reaches its slot and then the local each with one 8-byte
/// store (`fild`/`fistp` of an m64int copy any 64 bits exactly), so an x87 load of either is
/// forwarded from that store; two 4-byte stores would make it wait.
#[test]
fn f64_loads_and_local_moves_store_eight_bytes_at_once() {
    let access = Access {
        ty: ValType::F64,
        bytes: 8,
        signed: false,
    };
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[ValType::F64], &[], false),
        |m| {
            m.local_get(0)?;
            m.load(access, 0)?;
            m.local_set(1, false)
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "add eax,4",
            "jb 00000018h",
            "fild st,qword ptr [eax-4]",
            "fistp qword ptr [ebp-10h],st",
            "fild st,qword ptr [ebp-10h]",
            "fistp qword ptr [ebp-8],st",
            "ud2",
        ],
    );
}

/// `f64.add` fused with the `local.set` after it: the sum's `fstp` writes the local's home, and
/// an older read of the local still on the stack gets the old value first.
#[test]
fn f64_arithmetic_stores_straight_into_a_local() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::F64, ValType::F64], &[ValType::F64], &[], false),
        |m| {
            m.local_get(2)?;
            m.local_get(2)?;
            m.local_get(1)?;
            m.arithmetic_into_local(ValType::F64, Arithmetic::Add, 2)?;
            m.return_from(Some(ValType::F64))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp-8]",
            "mov [ebp-10h],eax",
            "mov eax,[ebp-4]",
            "mov [ebp-0Ch],eax",
            "fld st,qword ptr [ebp-8]",
            "fadd st,qword ptr [ebp+8]",
            "fstp qword ptr [ebp-8],st",
            "mov eax,[ebp-10h]",
            "mov edx,[ebp-0Ch]",
            "leave",
            "ret 10h",
        ],
    );
}

/// `f32.lt` feeding `br_if`: the comparison's outcome stays in EFLAGS (`fnstsw ax`, `test ah`),
/// and a value held in EAX is moved out of the way first.
#[test]
fn f32_compare_and_branch_clears_eax() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32, ValType::F32, ValType::F32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.push(ValType::I32, Value::Imm(3))?;
            m.binary_i32(IntBinary::Add)?;
            m.local_get(1)?;
            m.local_get(2)?;
            m.compare_float(ValType::F32, Comparison::Lt)?;
            let target = m.new_label();
            m.branch_if(None, target)?;
            m.bind(target);
            m.return_from(Some(ValType::I32))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+10h]",
            "add eax,3",
            "mov ecx,eax",
            "fld st,dword ptr [ebp+0Ch]",
            "fld st,dword ptr [ebp+8]",
            "fucompp",
            "fnstsw ax",
            "test ah,45h",
            "je 0000001Bh",
            "mov eax,ecx",
            "leave",
            "ret 0Ch",
        ],
    );
}

/// `f32.neg` and `f64.abs` are one `xor`/`and` of the register holding the sign word, and
/// `f32.copysign` three bit operations: no FPU, NaN payloads kept.
#[test]
fn sign_operations_are_integer_operations() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::F32, ValType::F64, ValType::F32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.unary_float(ValType::F32, FloatUnary::Sign(SignOperation::Neg))?;
            m.local_get(2)?;
            m.binary_float(ValType::F32, FloatBinary::Copysign)?;
            m.drop_top()?;
            m.local_get(1)?;
            m.unary_float(ValType::F64, FloatUnary::Sign(SignOperation::Abs))?;
            m.return_from(Some(ValType::F64))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+14h]",
            "xor eax,80000000h",
            "mov ecx,[ebp+8]",
            "and ecx,80000000h",
            "and eax,7FFFFFFFh",
            "or eax,ecx",
            "mov eax,[ebp+0Ch]",
            "mov ecx,[ebp+10h]",
            "and ecx,7FFFFFFFh",
            "mov edx,ecx",
            "leave",
            "ret 10h",
        ],
    );
}

/// `i32.trunc_f64_s`: the truncation stores through a scratch slot above the top and jumps to
/// two out-of-line trap stubs (integer overflow, invalid conversion).
#[test]
fn trapping_truncation_has_two_trap_stubs() {
    let mut out = ModuleCode::default();
    let mut masm = Masm::new(
        &mut out,
        Isolation::Hardware,
        false,
        0,
        layout(&[ValType::F64], &[], &[], false),
    )
    .unwrap();
    masm.local_get(0).unwrap();
    masm.convert(Conversion::Truncate {
        from: FloatType::F64,
        to: IntType::I32,
        signedness: Signedness::Signed,
        saturate: false,
    })
    .unwrap();
    masm.return_from(Some(ValType::I32)).unwrap();
    masm.finish().unwrap();
    assert!(
        out.fpu_reset.is_some(),
        "a float operator asks for the FPU reset"
    );
    let kinds: Vec<TrapKind> = out.trap_sites.iter().map(|site| site.kind).collect();
    assert_eq!(
        kinds,
        [TrapKind::IntegerOverflow, TrapKind::InvalidConversion]
    );
    let code = out.enc.asm.finish().unwrap();
    let lines = disassemble(&code);
    check(
        lines[..8].to_vec(),
        &[
            "fld st,qword ptr [ebp+8]",
            "fld st,st(0)",
            "mov word ptr [ebp-8],0E7Fh",
            "fldcw [ebp-8]",
            "fistp qword ptr [ebp-10h],st",
            "mov word ptr [ebp-8],27Fh",
            "fldcw [ebp-8]",
            "mov eax,[ebp-10h]",
        ],
    );
}

/// A table at context offsets 0x100 (size) / 0x108 (elements), 4 elements reserved.
const TABLE: abi::TableLayout = abi::TableLayout {
    size_offset: 0x100,
    entries_offset: 0x108,
    capacity: 4,
};

/// `table.get`: one register, the index compared against the current size word, then the
/// element word; out of range traps (out-of-line).
#[test]
fn table_get_checks_the_current_size() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.table_get(ValType::FuncRef, TABLE)?;
            m.return_from(Some(ValType::FuncRef))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "cmp eax,fs:[100h]",
            "jae 0000001Ch",
            "mov eax,fs:[eax*4+108h]",
            "leave",
            "ret 4",
            "ud2",
        ],
    );
}

/// `call_indirect` through a table: the size check, the element, one unsigned compare against
/// the function count (null is `u32::MAX`), the descriptor's type id, the call through it.
#[test]
fn call_indirect_checks_size_function_count_and_type() {
    let ty = crate::compiler::FuncType {
        params: Vec::new(),
        results: alloc::vec![ValType::I32],
    };
    let lines = lower(
        Isolation::Software,
        layout(&[ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.call_indirect(&ty, 3, TABLE, 0x48, 5)?;
            m.return_from(Some(ValType::I32))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "cmp eax,fs:[100h]",
            "jae 0000003Eh",
            "mov eax,fs:[eax*4+108h]",
            "cmp eax,5",
            "jae 00000040h",
            "mov ecx,fs:[eax*8+4Ch]",
            "cmp ecx,3",
            "jne 00000042h",
            "call dword ptr fs:[eax*8+48h]",
            "leave",
            "ret 4",
            "ud2",
            "ud2",
            "ud2",
        ],
    );
}

/// `table.grow`: `delta > capacity - size` gives -1, else the size word grows first and the
/// new elements are written downwards (three registers).
#[test]
fn table_grow_checks_the_capacity_then_fills_downwards() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32], &[ValType::FuncRef], &[], false),
        |m| {
            m.local_get(1)?;
            m.local_get(0)?;
            m.table_grow(TABLE)?;
            m.return_from(Some(ValType::I32))
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "mov ecx,[ebp-4]",
            "mov edx,4",
            "sub edx,fs:[100h]",
            "cmp eax,edx",
            "ja 00000042h",
            "mov edx,fs:[100h]",
            "add eax,edx",
            "mov fs:[100h],eax",
            "cmp eax,edx",
            "jbe 00000047h",
            "sub eax,1",
            "mov fs:[eax*4+108h],ecx",
            "jmp 0000002Ah",
            "mov edx,0FFFFFFFFh",
            "mov eax,edx",
            "leave",
            "ret 4",
        ],
    );
}

/// A second table, for copies between tables.
const OTHER_TABLE: abi::TableLayout = abi::TableLayout {
    size_offset: 0x200,
    entries_offset: 0x208,
    capacity: 8,
};

/// `table.copy` within one table: both ranges checked against the size word (carry included)
/// before any element moves, a count of 0 moves nothing, and the direction chosen by the
/// overlap (destination above source: from the top down); ESI and EDI saved around it.
#[test]
fn table_copy_within_a_table_checks_both_ranges_then_picks_the_direction() {
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32, ValType::I32, ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.local_get(1)?;
            m.local_get(2)?;
            m.table_copy(TABLE, TABLE)?;
            m.return_from(None)
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+10h]",
            "mov [ebp-8],eax",
            "mov eax,[ebp+0Ch]",
            "mov [ebp-10h],eax",
            "mov eax,[ebp+8]",
            "mov [ebp-18h],eax",
            "push esi",
            "push edi",
            "mov ecx,[ebp-18h]",
            "mov esi,[ebp-10h]",
            "mov edi,[ebp-8]",
            "mov eax,esi",
            "add eax,ecx",
            "jb 000000A8h",
            "cmp eax,fs:[100h]",
            "ja 000000A8h",
            "mov eax,edi",
            "add eax,ecx",
            "jb 000000AAh",
            "cmp eax,fs:[100h]",
            "ja 000000AAh",
            "test ecx,ecx",
            "je 000000A2h",
            "cmp edi,esi",
            "ja 0000007Fh",
            "mov eax,fs:[esi*4+108h]",
            "mov fs:[edi*4+108h],eax",
            "add esi,1",
            "add edi,1",
            "sub ecx,1",
            "jne 0000005Bh",
            "jmp 000000A2h",
            "add esi,ecx",
            "add edi,ecx",
            "sub esi,1",
            "sub edi,1",
            "mov eax,fs:[esi*4+108h]",
            "mov fs:[edi*4+108h],eax",
            "sub ecx,1",
            "jne 00000083h",
            "pop edi",
            "pop esi",
            "leave",
            "ret 0Ch",
            "ud2",
            "ud2",
        ],
    );
}

/// `table.copy` between two tables: each range against its own table's size, one upward
/// loop from the source's entries to the destination's.
#[test]
fn table_copy_between_tables_checks_each_against_its_own_size() {
    let lines = lower(
        Isolation::Software,
        layout(&[ValType::I32], &[], &[], false),
        |m| {
            m.push(ValType::I32, Value::Imm(1))?;
            m.local_get(0)?;
            m.push(ValType::I32, Value::Imm(2))?;
            m.table_copy(OTHER_TABLE, TABLE)?;
            m.return_from(None)
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+8]",
            "mov [ebp-10h],eax",
            "push esi",
            "push edi",
            "mov ecx,2",
            "mov esi,[ebp-10h]",
            "mov edi,1",
            "mov eax,esi",
            "add eax,ecx",
            "jb 00000070h",
            "cmp eax,fs:[100h]",
            "ja 00000070h",
            "mov eax,edi",
            "add eax,ecx",
            "jb 00000072h",
            "cmp eax,fs:[200h]",
            "ja 00000072h",
            "test ecx,ecx",
            "je 0000006Ah",
            "mov eax,fs:[esi*4+108h]",
            "mov fs:[edi*4+208h],eax",
            "add esi,1",
            "add edi,1",
            "sub ecx,1",
            "jne 0000004Bh",
            "pop edi",
            "pop esi",
            "leave",
            "ret 4",
            "ud2",
            "ud2",
        ],
    );
}

/// `table.init` from a passive segment: the source range against the segment's hidden length
/// (0 once dropped), the destination against the table's size, then one upward loop from the
/// segment's words; `elem.drop` zeroes the hidden length.
#[test]
fn table_init_checks_the_segment_length_and_elem_drop_zeroes_it() {
    let segment = ElementSegmentRef {
        items_offset: 0x300,
        length_offset: 0x2F0,
    };
    let lines = lower(
        Isolation::Hardware,
        layout(&[ValType::I32, ValType::I32, ValType::I32], &[], &[], false),
        |m| {
            m.local_get(0)?;
            m.local_get(1)?;
            m.local_get(2)?;
            m.table_init(segment, TABLE)?;
            m.elem_drop(segment.length_offset)?;
            m.return_from(None)
        },
    );
    check(
        lines,
        &[
            "mov eax,[ebp+10h]",
            "mov [ebp-8],eax",
            "mov eax,[ebp+0Ch]",
            "mov [ebp-10h],eax",
            "mov eax,[ebp+8]",
            "mov [ebp-18h],eax",
            "push esi",
            "push edi",
            "mov ecx,[ebp-18h]",
            "mov esi,[ebp-10h]",
            "mov edi,[ebp-8]",
            "mov eax,esi",
            "add eax,ecx",
            "jb 00000083h",
            "cmp eax,fs:[2F0h]",
            "ja 00000083h",
            "mov eax,edi",
            "add eax,ecx",
            "jb 00000085h",
            "cmp eax,fs:[100h]",
            "ja 00000085h",
            "test ecx,ecx",
            "je 00000072h",
            "mov eax,fs:[esi*4+300h]",
            "mov fs:[edi*4+108h],eax",
            "add esi,1",
            "add edi,1",
            "sub ecx,1",
            "jne 00000053h",
            "pop edi",
            "pop esi",
            "mov dword ptr fs:[2F0h],0",
            "leave",
            "ret 0Ch",
            "ud2",
            "ud2",
        ],
    );
}
