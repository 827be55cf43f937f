//! Boot from flash, with no BIOS: reset vector -> real-mode copy of a trampoline into RAM ->
//! protected mode with a GDT in RAM -> copy `.data` -> zero `.bss` -> `kernel_main`.
//!
//! The CPU leaves reset in real mode with CS.base = 0xFFFF_0000 and EIP = 0xFFF0 (Intel SDM
//! vol. 3A, 9.1.4 "First Instruction Executed"). Only CS reaches the flash from real mode, so the
//! copy reads through a `%cs:` override. The switch itself (lgdt + far jump) runs from the RAM
//! copy with its GDT in RAM (ARCHITECTURE.md: from flash it hung under the emulated KVM, and a
//! RAM GDT is the portable choice). Fast A20 (port 0x92, OSDev "A20 Line") is enabled first so
//! that bit 20 of every address is honoured. The same CR0 write prepares the x87 for plugins'
//! floats (EM = 0, TS = 0, MP = 1, NE = 1; the firmware itself is soft-float and never touches
//! the FPU, and every float-using plugin resets it on entry).

use core::arch::global_asm;

/// Selector of the boot GDT's flat 32-bit code segment (the trampoline's GDT; `gdt.rs` replaces
/// it with the firmware's own table soon after).
pub const BOOT_CODE_SELECTOR: u16 = 0x08;
/// Selector of the boot GDT's flat data segment.
pub const BOOT_DATA_SELECTOR: u16 = 0x10;
/// CR0.PE: protected mode.
const CR0_PE: u32 = 1 << 0;
/// CR0.MP: `wait`/`fwait` honour TS (Intel SDM vol. 3A, 9.2.1, table 9-3: EM = 0, MP = 1 with an
/// x87 present).
const CR0_MP: u32 = 1 << 1;
/// CR0.EM: x87 instructions raise #NM (emulation); must be clear for plugins' floats.
const CR0_EM: u32 = 1 << 2;
/// CR0.TS: the next x87 instruction raises #NM (lazy FPU switching); the firmware never sets it.
const CR0_TS: u32 = 1 << 3;
/// CR0.NE: x87 errors are reported natively (#MF, vector 16, in the plugin that caused them)
/// rather than through FERR# and IRQ13. Plugins run with every x87 exception masked, so
/// neither happens; NE makes sure an x87 error could never become an interrupt in firmware.
const CR0_NE: u32 = 1 << 5;
/// Stack used between the trampoline and `kernel_main` (below the trampoline in low RAM).
const BOOT_STACK_TOP: u32 = 0x6FF0;

global_asm!(
    // --- Reset vector: the last 16 bytes of flash. ---------------------------------------------
    ".section .kplug_reset, \"ax\"",
    ".code16",
    ".global kplug_reset_vector",
    "kplug_reset_vector:",
    "    cli",
    "    jmp kplug_boot16",
    // --- Real-mode boot code, in the top 64 KiB of flash (CS.base = 0xFFFF0000). -----------------
    ".section .kplug_boot16, \"ax\"",
    ".code16",
    "kplug_boot16:",
    "    cld",
    // Fast A20: set bit 1 of the system control port A, never bit 0 (that resets the CPU).
    "    inb $0x92, %al",
    "    orb $0x02, %al",
    "    andb $0xFE, %al",
    "    outb %al, $0x92",
    "    xorw %ax, %ax",
    "    movw %ax, %es",
    "    movw %ax, %ss",
    "    movw ${stack}, %sp",
    // Copy the trampoline from flash (through CS) to its RAM address (through ES = 0).
    "    movw $kplug_trampoline_load_offset, %si",
    "    movw $kplug_trampoline_start, %di",
    "    movw $kplug_trampoline_size, %cx",
    "    rep movsb %cs:(%si), %es:(%di)",
    "    ljmp $0, $kplug_trampoline16",
    // --- The trampoline, linked at its RAM address. ----------------------------------------------
    ".section .kplug_trampoline, \"ax\"",
    ".code16",
    "kplug_trampoline16:",
    "    xorw %ax, %ax",
    "    movw %ax, %ds",
    "    lgdtl kplug_boot_gdt_pointer",
    "    movl %cr0, %eax",
    "    andl ${cr0_clear}, %eax",
    "    orl ${cr0_set}, %eax",
    "    movl %eax, %cr0",
    "    ljmpl ${code}, $kplug_trampoline32",
    ".code32",
    "kplug_trampoline32:",
    "    movw ${data}, %ax",
    "    movw %ax, %ds",
    "    movw %ax, %es",
    "    movw %ax, %fs",
    "    movw %ax, %gs",
    "    movw %ax, %ss",
    "    movl ${stack}, %esp",
    "    movl $kplug_start32, %eax",
    "    jmp *%eax",
    ".p2align 3",
    "kplug_boot_gdt:",
    "    .quad 0",
    "    .quad 0x00CF9A000000FFFF", // flat 4 GiB code, DPL 0, 32-bit
    "    .quad 0x00CF92000000FFFF", // flat 4 GiB data, DPL 0
    "kplug_boot_gdt_end:",
    "kplug_boot_gdt_pointer:",
    "    .word kplug_boot_gdt_end - kplug_boot_gdt - 1",
    "    .long kplug_boot_gdt",
    // --- 32-bit start, in flash: .data and .bss, then Rust. -----------------------------------
    ".section .text.kplug_start32, \"ax\"",
    ".code32",
    ".global kplug_start32",
    "kplug_start32:",
    "    movl $kplug_data_load, %esi",
    "    movl $kplug_data_start, %edi",
    "    movl $kplug_data_size, %ecx",
    "    rep movsb",
    "    movl $kplug_bss_start, %edi",
    "    movl $kplug_bss_size, %ecx",
    "    xorl %eax, %eax",
    "    rep stosb",
    "    movl $kplug_boot_stack_top, %esp",
    "    xorl %ebp, %ebp",
    "    call kernel_main",
    "1:  cli",
    "    hlt",
    "    jmp 1b",
    code = const BOOT_CODE_SELECTOR,
    data = const BOOT_DATA_SELECTOR,
    stack = const BOOT_STACK_TOP,
    cr0_clear = const !(CR0_EM | CR0_TS) as i32,
    cr0_set = const CR0_PE | CR0_MP | CR0_NE,
    options(att_syntax),
);

/// The firmware's main stack (in `.bss`). Its top is `kplug_boot_stack_top`.
#[repr(C, align(16))]
struct BootStack([u8; BOOT_STACK_BYTES]);

/// Size of the firmware's main stack.
pub const BOOT_STACK_BYTES: usize = 64 * 1024;

#[unsafe(no_mangle)]
#[used]
static mut KPLUG_BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_BYTES]);

global_asm!(
    ".set kplug_boot_stack_top, {stack} + {size}",
    ".global kplug_boot_stack_top",
    stack = sym KPLUG_BOOT_STACK,
    size = const BOOT_STACK_BYTES,
);
