//! CMOS NVRAM of the MC146818-compatible RTC (ports 0x70/0x71): register reads and the RAM size
//! the emulator stores there.
//!
//! Sources: OSDev wiki "CMOS" (index/data ports, the NMI-disable bit 7 of the index port, "always
//! access 0x71 after writing 0x70") and "Detecting Memory (x86)" (registers 0x30/0x31, 0x34/0x35);
//! QEMU `hw/i386/pc.c` `pc_cmos_init` and Bochs `iodev/devices.cc`, which fill those registers.
//! There is no BIOS on this board: QEMU and Bochs fill the memory registers themselves.

use crate::port::PortIo;

/// Index port: bits 6..0 select a CMOS register, bit 7 disables NMI. Write-only (QEMU and Bochs
/// read it as 0xFF).
pub const CMOS_INDEX_PORT: u16 = 0x70;
/// Data port: reads or writes the selected register.
pub const CMOS_DATA_PORT: u16 = 0x71;
/// Index port bit 7: NMI disabled while set (OSDev "CMOS", "Non-Maskable Interrupts").
pub const INDEX_NMI_DISABLE: u8 = 1 << 7;
/// Index port bits 6..0: the register number (128 registers).
pub const INDEX_REGISTER_MASK: u8 = 0x7F;

/// Status register D (bit 7: valid RAM and time); reading it has no side effect.
pub const REG_STATUS_D: u8 = 0x0D;
/// Extended memory above 1 MiB in KiB, low byte (QEMU caps it at 65535, Bochs at 0xFC00 = 63 MiB).
pub const REG_EXTENDED_MEMORY_KIB_LOW: u8 = 0x30;
/// Extended memory above 1 MiB in KiB, high byte.
pub const REG_EXTENDED_MEMORY_KIB_HIGH: u8 = 0x31;
/// Memory above 16 MiB in 64 KiB blocks, low byte.
pub const REG_MEMORY_ABOVE_16M_LOW: u8 = 0x34;
/// Memory above 16 MiB in 64 KiB blocks, high byte.
pub const REG_MEMORY_ABOVE_16M_HIGH: u8 = 0x35;

/// One KiB.
const KIB: u32 = 1024;
/// One MiB: where extended memory starts.
const MIB: u32 = 1024 * KIB;
/// Where the memory counted in 64 KiB blocks starts.
const SIXTEEN_MIB: u32 = 16 * MIB;
/// Size of one block of registers 0x34/0x35.
const BLOCK_64K: u32 = 64 * KIB;

/// The CMOS NVRAM behind ports 0x70/0x71.
///
/// The index port is write-only, so the driver keeps the NMI-disable bit itself and writes it
/// unchanged with every register selection. It starts as "NMI enabled" (bit clear), the value
/// every index write by firmware that does not manage NMIs carries.
#[derive(Debug)]
pub struct Cmos<P: PortIo> {
    /// The port space the RTC sits in.
    ports: P,
    /// The bit 7 written with every index.
    nmi_disable: u8,
}

impl<P: PortIo> Cmos<P> {
    /// A driver for the CMOS; touches no port.
    pub fn new(ports: P) -> Self {
        Self {
            ports,
            nmi_disable: 0,
        }
    }

    /// Whether index writes carry the NMI-disable bit.
    pub const fn nmi_disabled(&self) -> bool {
        self.nmi_disable != 0
    }

    /// Sets the NMI-disable bit now (selecting status register D, then reading it, as a selection
    /// must be followed by a data access) and keeps it in every later index write.
    pub fn set_nmi_disabled(&mut self, disabled: bool) {
        self.nmi_disable = if disabled { INDEX_NMI_DISABLE } else { 0 };
        self.read(REG_STATUS_D);
    }

    /// Reads CMOS `register` (0..128; bit 7 is ignored, it is the NMI bit's place). The index write
    /// keeps the NMI-disable bit as the driver holds it.
    pub fn read(&mut self, register: u8) -> u8 {
        self.ports.write8(
            CMOS_INDEX_PORT,
            (register & INDEX_REGISTER_MASK) | self.nmi_disable,
        );
        self.ports.read8(CMOS_DATA_PORT)
    }

    /// RAM size in bytes, from registers 0x30/0x31 (KiB above 1 MiB, at most 63 MiB as Bochs
    /// fills them) and 0x34/0x35 (64 KiB blocks above 16 MiB), as QEMU and Bochs fill them. The
    /// larger of the two readings wins; a value past 4 GiB saturates to `u32::MAX`. The first MiB
    /// is assumed present.
    pub fn ram_bytes(&mut self) -> u32 {
        let extended_kib = self.read_u16(REG_EXTENDED_MEMORY_KIB_LOW, REG_EXTENDED_MEMORY_KIB_HIGH);
        let blocks_above_16m = self.read_u16(REG_MEMORY_ABOVE_16M_LOW, REG_MEMORY_ABOVE_16M_HIGH);
        ram_bytes_from(extended_kib, blocks_above_16m)
    }

    fn read_u16(&mut self, low: u8, high: u8) -> u16 {
        u16::from_le_bytes([self.read(low), self.read(high)])
    }
}

/// The RAM size encoded by `extended_kib` (registers 0x30/0x31) and `blocks_above_16m` (registers
/// 0x34/0x35): `1 MiB + extended_kib KiB`, or `16 MiB + blocks * 64 KiB` when that is larger.
/// Saturates at `u32::MAX`.
pub const fn ram_bytes_from(extended_kib: u16, blocks_above_16m: u16) -> u32 {
    let from_extended = MIB + extended_kib as u32 * KIB;
    if blocks_above_16m == 0 {
        return from_extended;
    }
    let from_blocks = SIXTEEN_MIB.saturating_add(blocks_above_16m as u32 * BLOCK_64K);
    if from_blocks > from_extended {
        from_blocks
    } else {
        from_extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeCmos;

    const MIB: u32 = 1 << 20;

    /// Proves that 32 MiB as QEMU's `pc_cmos_init` encodes it (0x30/0x31 = 31744 KiB, 0x34/0x35 =
    /// 256 blocks) reads back as exactly 32 MiB (the board's RAM).
    #[test]
    fn qemu_32_mib_reads_as_32_mib() {
        let fake = FakeCmos::with_qemu_memory(32 * MIB);
        assert_eq!(fake.register(0x30), 0x00);
        assert_eq!(fake.register(0x31), 0x7C);
        assert_eq!(Cmos::new(fake).ram_bytes(), 32 * MIB);
    }

    /// Proves that below 16 MiB (0x34/0x35 zero) the size comes from 0x30/0x31 alone, to the KiB.
    #[test]
    fn below_16_mib_uses_extended_kib() {
        let fake = FakeCmos::with_qemu_memory(8 * MIB);
        assert_eq!(Cmos::new(fake).ram_bytes(), 8 * MIB);
        assert_eq!(ram_bytes_from(1, 0), MIB + 1024);
        assert_eq!(ram_bytes_from(0, 0), MIB);
    }

    /// Proves that above Bochs's 63 MiB cap of 0x30/0x31 the 64 KiB block count gives the size.
    #[test]
    fn bochs_128_mib_uses_blocks_above_16_mib() {
        let fake = FakeCmos::with_bochs_memory(128 * MIB);
        assert_eq!(fake.register(0x30), 0x00);
        assert_eq!(fake.register(0x31), 0xFC);
        assert_eq!(Cmos::new(fake).ram_bytes(), 128 * MIB);
        let fake = FakeCmos::with_bochs_memory(32 * MIB);
        assert_eq!(Cmos::new(fake).ram_bytes(), 32 * MIB);
    }

    /// Proves that QEMU's 65535 KiB cap (RAM of 65 MiB and more) is handled through the blocks.
    #[test]
    fn qemu_above_64_mib_uses_blocks() {
        let fake = FakeCmos::with_qemu_memory(512 * MIB);
        assert_eq!(Cmos::new(fake).ram_bytes(), 512 * MIB);
    }

    /// Proves that the largest block count saturates instead of wrapping past 4 GiB.
    #[test]
    fn huge_block_count_saturates() {
        assert_eq!(ram_bytes_from(u16::MAX, u16::MAX), u32::MAX);
        assert_eq!(ram_bytes_from(0, 0xFEFF), 0xFFFF_0000);
        assert_eq!(ram_bytes_from(0, 0xFF00), u32::MAX);
    }

    /// Proves that reads select the register then read the data port (the fake panics otherwise),
    /// that bit 7 of the register argument does not leak into the index, and that the NMI-disable
    /// bit is kept as set on every later index write.
    #[test]
    fn reads_keep_the_nmi_disable_bit() {
        let fake = FakeCmos::new();
        fake.set_register(0x10, 0x44);
        let mut cmos = Cmos::new(fake.clone());
        assert!(!cmos.nmi_disabled());
        assert_eq!(cmos.read(0x10), 0x44);
        assert_eq!(cmos.read(0x90), 0x44);
        cmos.set_nmi_disabled(true);
        assert_eq!(cmos.read(0x10), 0x44);
        cmos.ram_bytes();
        assert_eq!(fake.index_writes()[..2], [0x10, 0x10]);
        assert!(
            fake.index_writes()[2..]
                .iter()
                .all(|index| index & INDEX_NMI_DISABLE != 0)
        );
        cmos.set_nmi_disabled(false);
        cmos.read(0x10);
        assert_eq!(fake.index_writes().last(), Some(&0x10));
    }

    /// Proves that the fake enforces "a data access follows every index write".
    #[test]
    #[should_panic(expected = "without a data access")]
    fn fake_rejects_two_index_writes_in_a_row() {
        let mut fake = FakeCmos::new();
        fake.write8(CMOS_INDEX_PORT, 0x30);
        fake.write8(CMOS_INDEX_PORT, 0x31);
    }
}
