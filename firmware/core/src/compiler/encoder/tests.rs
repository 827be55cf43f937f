//! Golden tests of the encoder: each method's bytes, disassembled by `iced-x86`.

use super::*;
use crate::compiler::golden::assert_disassembly;

/// Emits with `emit` into a fresh encoder and checks the disassembly.
fn check(emit: impl FnOnce(&mut Encoder), expected: &[&str]) {
    let mut enc = Encoder::new();
    emit(&mut enc);
    assert_disassembly(enc.asm.code(), expected);
}

/// Moves, loads and stores in every segment and width, with short and long displacements.
#[test]
fn moves_loads_and_stores() {
    check(|e| e.mov_rr(Reg::Eax, Reg::Esi), &["mov eax,esi"]);
    check(|e| e.mov_rr(Reg::Ecx, Reg::Ecx), &[]);
    check(|e| e.mov_ri(Reg::Edx, -1), &["mov edx,0FFFFFFFFh"]);
    check(|e| e.load32(Reg::Ebx, Mem::Frame(8)), &["mov ebx,[ebp+8]"]);
    check(
        |e| e.load32(Reg::Ebx, Mem::Frame(-400)),
        &["mov ebx,[ebp-190h]"],
    );
    check(
        |e| e.load32(Reg::Eax, Mem::Data(Reg::Ecx, 0)),
        &["mov eax,[ecx]"],
    );
    check(
        |e| e.load32(Reg::Eax, Mem::Data(Reg::Edi, -3)),
        &["mov eax,[edi-3]"],
    );
    check(
        |e| e.load32(Reg::Eax, Mem::Context(0x40)),
        &["mov eax,fs:[40h]"],
    );
    check(
        |e| e.load(Reg::Esi, Mem::Data(Reg::Eax, 1), Width::Byte, true),
        &["movsx esi,byte ptr [eax+1]"],
    );
    check(
        |e| e.load(Reg::Esi, Mem::Data(Reg::Eax, 1), Width::Word, false),
        &["movzx esi,word ptr [eax+1]"],
    );
    check(
        |e| e.store(Mem::Data(Reg::Edx, 2), Reg::Ecx, Width::Byte),
        &["mov [edx+2],cl"],
    );
    check(
        |e| e.store(Mem::Data(Reg::Edx, 2), Reg::Ecx, Width::Word),
        &["mov [edx+2],cx"],
    );
    check(
        |e| e.store32(Mem::Context(0x48), Reg::Edx),
        &["mov fs:[48h],edx"],
    );
    check(
        |e| e.store_imm(Mem::Frame(-8), 7, Width::Dword),
        &["mov dword ptr [ebp-8],7"],
    );
    check(
        |e| e.store_imm(Mem::Data(Reg::Eax, 0), 0x1234, Width::Word),
        &["mov word ptr [eax],1234h"],
    );
    check(
        |e| e.store_imm(Mem::Data(Reg::Eax, 0), -1, Width::Byte),
        &["mov byte ptr [eax],0FFh"],
    );
}

/// ALU forms: register, short and long immediates, memory on either side, carries.
#[test]
fn arithmetic_and_logic() {
    check(|e| e.alu_rr(Alu::Add, Reg::Eax, Reg::Ecx), &["add eax,ecx"]);
    check(|e| e.alu_rr(Alu::Adc, Reg::Edx, Reg::Ebx), &["adc edx,ebx"]);
    check(|e| e.alu_rr(Alu::Sbb, Reg::Edx, Reg::Ebx), &["sbb edx,ebx"]);
    check(|e| e.alu_ri(Alu::Sub, Reg::Esi, 1), &["sub esi,1"]);
    check(
        |e| e.alu_ri(Alu::And, Reg::Esi, 0x5555_5555),
        &["and esi,55555555h"],
    );
    check(
        |e| e.alu_ri(Alu::Cmp, Reg::Eax, -1),
        &["cmp eax,0FFFFFFFFh"],
    );
    check(
        |e| e.alu_rm(Alu::Xor, Reg::Eax, Mem::Frame(12)),
        &["xor eax,[ebp+0Ch]"],
    );
    check(
        |e| e.alu_rm(Alu::Cmp, Reg::Eax, Mem::Context(4)),
        &["cmp eax,fs:[4]"],
    );
    check(
        |e| e.alu_mr(Alu::Cmp, Mem::Frame(-4), Reg::Edi),
        &["cmp [ebp-4],edi"],
    );
    check(
        |e| e.alu_mi(Alu::Cmp, Mem::Frame(-4), 0),
        &["cmp dword ptr [ebp-4],0"],
    );
    check(
        |e| e.alu_mi(Alu::Or, Mem::Frame(-4), 0x1000),
        &["or dword ptr [ebp-4],1000h"],
    );
    check(|e| e.imul_rr(Reg::Eax, Reg::Ecx), &["imul eax,ecx"]);
    check(
        |e| e.imul_rri(Reg::Eax, Reg::Ecx, 77),
        &["imul eax,ecx,4Dh"],
    );
    check(
        |e| e.imul_rm(Reg::Ecx, Mem::Frame(-12)),
        &["imul ecx,[ebp-0Ch]"],
    );
    check(
        |e| e.mul_wide_m(Mem::Frame(-16)),
        &["mul dword ptr [ebp-10h]"],
    );
    check(|e| e.div_m(Mem::Frame(16)), &["div dword ptr [ebp+10h]"]);
    check(|e| e.div(Reg::Ecx, true), &["idiv ecx"]);
    check(|e| e.cdq(), &["cdq"]);
    check(|e| e.neg(Reg::Eax), &["neg eax"]);
    check(|e| e.not(Reg::Eax), &["not eax"]);
    check(|e| e.xchg(Reg::Eax, Reg::Edx), &["xchg edx,eax"]);
    check(|e| e.test_ri(Reg::Ecx, 32), &["test cl,20h"]);
    check(|e| e.test_ri(Reg::Esi, 32), &["test esi,20h"]);
}

/// Shifts and rotates by constants and by CL, double shifts, bit scans, extensions, setcc.
#[test]
fn shifts_bits_and_conditions() {
    check(|e| e.shift_ri(Shift::Sar, Reg::Edx, 31), &["sar edx,1Fh"]);
    check(|e| e.shift_rcl(Shift::Rol, Reg::Ebx), &["rol ebx,cl"]);
    check(
        |e| e.shift_double_cl(true, Reg::Edx, Reg::Eax),
        &["shld edx,eax,cl"],
    );
    check(
        |e| e.shift_double_ri(false, Reg::Eax, Reg::Edx, 5),
        &["shrd eax,edx,5"],
    );
    check(|e| e.bsr(Reg::Ecx, Reg::Eax), &["bsr ecx,eax"]);
    check(|e| e.bsf(Reg::Ecx, Reg::Eax), &["bsf ecx,eax"]);
    check(|e| e.extend8(Reg::Eax, Reg::Ebx, true), &["movsx eax,bl"]);
    check(|e| e.extend16_signed(Reg::Eax, Reg::Eax), &["movsx eax,ax"]);
    check(
        |e| e.setcc_zx(Cond::Less, Reg::Ecx),
        &["setl cl", "movzx ecx,cl"],
    );
}

/// Every condition's inverse is its complement (the encoding differs in bit 0), including
/// overflow, which used to invert to itself.
#[test]
fn conditions_invert_and_swap() {
    for cond in [
        Cond::Overflow,
        Cond::NoOverflow,
        Cond::Below,
        Cond::AboveEqual,
        Cond::Equal,
        Cond::NotEqual,
        Cond::BelowEqual,
        Cond::Above,
        Cond::Sign,
        Cond::NoSign,
        Cond::Less,
        Cond::GreaterEqual,
        Cond::LessEqual,
        Cond::Greater,
    ] {
        assert_eq!(cond.invert() as u8, cond as u8 ^ 1, "{cond:?}");
        assert_eq!(cond.invert().invert(), cond);
        assert_eq!(cond.swap().swap(), cond);
    }
    assert_eq!(Cond::Less.swap(), Cond::Greater);
    assert_eq!(Cond::Below.swap(), Cond::Above);
}

/// Control transfers: labels resolve to their targets; calls through the context block;
/// the jump table's CS override; segment loads; frames.
#[test]
fn control_transfers_and_frames() {
    let mut enc = Encoder::new();
    let target = enc.new_label();
    enc.jcc(Cond::Equal, target);
    enc.jmp(target);
    enc.call(target);
    enc.bind(target);
    enc.ud2();
    let code = enc.asm.finish().unwrap();
    assert_disassembly(
        &code[..18],
        &["je 00000010h", "jmp 00000010h", "call 00000010h", "ud2"],
    );
    assert_eq!(&code[..2], &[0x0F, 0x84], "jcc is always the rel32 form");
    check(|e| e.call_context(0), &["call dword ptr fs:[0]"]);
    check(
        |e| e.call_far_context(0x10),
        &["call far fword ptr fs:[10h]"],
    );
    check(
        |e| e.call_context_indexed(Reg::Ecx, 0x50),
        &["call dword ptr fs:[ecx*8+50h]"],
    );
    check(
        |e| e.load_context_indexed(Reg::Edx, Reg::Ecx, 0x54),
        &["mov edx,fs:[ecx*8+54h]"],
    );
    check(|e| e.load_ds_from_context(0x0C), &["mov ds,fs:[0Ch]"]);
    check(
        |e| {
            e.enter_frame();
            e.push_r(Reg::Edi);
            e.push_i(0);
            e.push_i(1000);
            e.push_m(Mem::Frame(12));
            e.sub_esp_patchable();
            e.cmp_esp_patchable();
            e.pop_r(Reg::Edi);
            e.add_esp(8);
            e.leave_ret(8);
            e.ret(0);
        },
        &[
            "push ebp",
            "mov ebp,esp",
            "push edi",
            "push 0",
            "push 3E8h",
            "push dword ptr [ebp+0Ch]",
            "sub esp,0",
            "cmp esp,0",
            "pop edi",
            "add esp,8",
            "leave",
            "ret 8",
            "ret",
        ],
    );
    check(|e| e.push_stack_argument(8), &["push dword ptr [esp+8]"]);
}

/// A jump table: `lea index, [index*8 + table] ; jmp index` into entries of `jmp rel32`
/// padded to 8 bytes; the table's code offset is the one absolute field (a relocation).
#[test]
fn jump_table() {
    let mut enc = Encoder::new();
    let table = enc.new_label();
    let case = enc.new_label();
    enc.jmp_table(Reg::Ecx, table);
    enc.asm.align_with_padding(8);
    enc.bind(table);
    enc.table_entry(case);
    enc.table_entry(case);
    enc.bind(case);
    enc.ud2();
    let (code, absolute) = enc.asm.finish_relocatable().unwrap();
    assert_disassembly(&code[..9], &["lea ecx,[ecx*8+10h]", "jmp ecx"]);
    assert_eq!(
        absolute,
        alloc::vec![3],
        "the lea's displacement is the one absolute field"
    );
    // Each entry jumps to the case at 0x20 (8 bytes per entry, `jmp rel32` then padding); the
    // disassembly counts from the entry at 0x10.
    assert_disassembly(&code[16..21], &["jmp 00000010h"]);
    assert_disassembly(&code[24..29], &["jmp 8"]);
    assert_eq!(&code[21..24], &[0xCC; 3]);
}
