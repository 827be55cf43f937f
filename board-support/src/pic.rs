//! 8259A programmable interrupt controller pair: remap, mask, end of interrupt, spurious IRQ
//! detection.
//!
//! Sources: Intel 8259A datasheet (ICW1-ICW4 and OCW1-OCW3 formats, "Interrupt Sequence", "The
//! Special Fully Nested Mode"), OSDev wiki "8259 PIC" (remapping, spurious IRQs).
//!
//! The master (ports 0x20/0x21) serves IRQ 0-7; the slave (0xA0/0xA1) serves IRQ 8-15 through the
//! master's IR2. After reset both chips would deliver IRQ 0-7 on vectors 8-15, on top of the CPU's
//! exceptions (Intel SDM Vol. 3A, section 6.3.1: vectors 0-31 are reserved), hence the remap.
//!
//! An interrupt handler for IRQ `n` ends with [`Pic8259::end_of_interrupt`]. The handlers for IRQ 7
//! and 15 first ask [`Pic8259::is_in_service`]: if the line is not in service the interrupt was
//! spurious, and the handler calls [`Pic8259::end_of_spurious_interrupt`] instead.

use crate::port::PortIo;

/// Vector of IRQ 0 after [`Pic8259::init`] on this board: the first vector after the 32 the CPU
/// reserves for exceptions.
pub const PIC1_OFFSET: u8 = 0x20;
/// Vector of IRQ 8 after [`Pic8259::init`] on this board.
pub const PIC2_OFFSET: u8 = 0x28;

/// Master command port (ICW1, OCW2, OCW3 writes; IRR/ISR reads).
pub const PIC1_COMMAND: u16 = 0x20;
/// Master data port (ICW2-ICW4, then OCW1 = the interrupt mask register).
pub const PIC1_DATA: u16 = 0x21;
/// Slave command port.
pub const PIC2_COMMAND: u16 = 0xA0;
/// Slave data port.
pub const PIC2_DATA: u16 = 0xA1;
/// The POST diagnostic port, written to give the PICs time between initialization words on old
/// boards (OSDev "8259 PIC", `io_wait`). Nothing decodes writes to it that matter.
pub const IO_WAIT_PORT: u16 = 0x80;

/// ICW1 bit 4: this command-port write is ICW1 (starts initialization).
pub const ICW1_INIT: u8 = 1 << 4;
/// ICW1 bit 0 (IC4): ICW4 follows.
pub const ICW1_ICW4_NEEDED: u8 = 1 << 0;
/// ICW1 bit 1 (SNGL): single chip, no ICW3. Clear for the cascaded pair.
pub const ICW1_SINGLE: u8 = 1 << 1;
/// ICW1 bit 3 (LTIM): level-triggered inputs. Clear: edge-triggered, as ISA IRQs are.
pub const ICW1_LEVEL_TRIGGERED: u8 = 1 << 3;
/// ICW2 bits 2..0: in 8086 mode the chip supplies them (the IR level), so the base must be a
/// multiple of 8.
pub const ICW2_VECTOR_LOW_BITS: u8 = 0b0000_0111;
/// The master input the slave is wired to.
pub const CASCADE_IRQ: u8 = 2;
/// ICW3 for the master: one bit per input that has a slave; here IR2.
pub const ICW3_MASTER_SLAVE_ON_IR2: u8 = 1 << CASCADE_IRQ;
/// ICW3 for the slave: its cascade identity, the master input it is wired to.
pub const ICW3_SLAVE_IDENTITY: u8 = CASCADE_IRQ;
/// ICW4 bit 0 (uPM): 8086/8088 mode.
pub const ICW4_8086_MODE: u8 = 1 << 0;
/// ICW4 bit 1 (AEOI): automatic end of interrupt. Not used: handlers send EOI.
pub const ICW4_AUTO_EOI: u8 = 1 << 1;
/// OCW2 bits 7..5: the command field.
pub const OCW2_COMMAND_MASK: u8 = 0b1110_0000;
/// OCW2 command 001: non-specific EOI (clears the highest-priority in-service bit).
pub const OCW2_NON_SPECIFIC_EOI: u8 = 0b0010_0000;
/// OCW2 command 011: specific EOI for the level in bits 2..0.
pub const OCW2_SPECIFIC_EOI: u8 = 0b0110_0000;
/// OCW2 bits 2..0: the IR level of a specific command.
pub const OCW2_LEVEL_MASK: u8 = 0b0000_0111;
/// OCW3 bit 3 (with bit 4 clear): this command-port write is OCW3.
pub const OCW3_SELECT: u8 = 1 << 3;
/// OCW3 bits 1..0 (RR, RIS): which register the next command-port read returns.
pub const OCW3_READ_MASK: u8 = 0b0000_0011;
/// OCW3 RR=1, RIS=0: the next command-port read returns the Interrupt Request Register.
pub const OCW3_READ_IRR: u8 = 0b0000_0010;
/// OCW3 RR=1, RIS=1: the next command-port read returns the In-Service Register.
pub const OCW3_READ_ISR: u8 = 0b0000_0011;

/// The IR level every spurious interrupt arrives on (8259A datasheet, "Interrupt Sequence": if the
/// request is gone at acknowledge time the chip answers with its IR7 vector).
pub const SPURIOUS_LEVEL: u8 = 7;
/// Number of IRQ lines on the pair.
pub const IRQ_COUNT: u8 = 16;

/// The master/slave 8259A pair, with a copy of both interrupt mask registers.
#[derive(Debug)]
pub struct Pic8259<P: PortIo> {
    /// The port space the chips sit in.
    ports: P,
    /// Vector base of the master (IRQ 0).
    offset1: u8,
    /// Vector base of the slave (IRQ 8).
    offset2: u8,
    /// The master's and slave's IMR as last written.
    masks: [u8; 2],
}

impl<P: PortIo> Pic8259<P> {
    /// Initializes both chips with ICW1..ICW4: edge-triggered, cascaded with the slave on IR2,
    /// 8086 mode, normal EOI; IRQ 0-7 on vectors `offset1..offset1 + 8`, IRQ 8-15 on
    /// `offset2..offset2 + 8`. Leaves every IRQ masked except IRQ 2 (the cascade).
    ///
    /// The offsets must be multiples of 8 (the chip supplies the low 3 bits); their low bits are
    /// ignored (a debug build asserts). Use [`PIC1_OFFSET`] and [`PIC2_OFFSET`]. The IDT entries for
    /// these vectors should exist before any IRQ is unmasked.
    pub fn init(ports: P, offset1: u8, offset2: u8) -> Self {
        debug_assert!(
            offset1 & ICW2_VECTOR_LOW_BITS == 0 && offset2 & ICW2_VECTOR_LOW_BITS == 0,
            "PIC vector offsets must be multiples of 8"
        );
        let mut pic = Self {
            ports,
            offset1: offset1 & !ICW2_VECTOR_LOW_BITS,
            offset2: offset2 & !ICW2_VECTOR_LOW_BITS,
            masks: [!ICW3_MASTER_SLAVE_ON_IR2, u8::MAX],
        };
        // The chips expect ICW2..ICW4 on their data ports right after ICW1; the two sequences may
        // interleave because each chip has its own state machine.
        pic.write_with_delay(PIC1_COMMAND, ICW1_INIT | ICW1_ICW4_NEEDED);
        pic.write_with_delay(PIC2_COMMAND, ICW1_INIT | ICW1_ICW4_NEEDED);
        pic.write_with_delay(PIC1_DATA, pic.offset1);
        pic.write_with_delay(PIC2_DATA, pic.offset2);
        pic.write_with_delay(PIC1_DATA, ICW3_MASTER_SLAVE_ON_IR2);
        pic.write_with_delay(PIC2_DATA, ICW3_SLAVE_IDENTITY);
        pic.write_with_delay(PIC1_DATA, ICW4_8086_MODE);
        pic.write_with_delay(PIC2_DATA, ICW4_8086_MODE);
        // OCW1: ICW1 cleared both masks, i.e. enabled everything; mask all but the cascade.
        pic.ports.write8(PIC1_DATA, pic.masks[0]);
        pic.ports.write8(PIC2_DATA, pic.masks[1]);
        pic
    }

    /// The vector the CPU receives for `irq` (0..16).
    pub const fn vector(&self, irq: u8) -> u8 {
        if irq < 8 {
            self.offset1 + irq
        } else {
            self.offset2 + (irq & OCW2_LEVEL_MASK)
        }
    }

    /// The IRQ delivered on `vector`, if the pair delivers on it.
    pub const fn irq_for_vector(&self, vector: u8) -> Option<u8> {
        if vector >= self.offset1 && vector - self.offset1 < 8 {
            Some(vector - self.offset1)
        } else if vector >= self.offset2 && vector - self.offset2 < 8 {
            Some(vector - self.offset2 + 8)
        } else {
            None
        }
    }

    /// Lets `irq` (0..16) through. A slave IRQ also needs IRQ 2, which `init` leaves unmasked. IRQs
    /// of 16 and more are ignored (a debug build asserts).
    pub fn unmask(&mut self, irq: u8) {
        self.update_mask(irq, false);
    }

    /// Blocks `irq` (0..16). Masking IRQ 2 blocks every slave IRQ. IRQs of 16 and more are ignored
    /// (a debug build asserts).
    pub fn mask(&mut self, irq: u8) {
        self.update_mask(irq, true);
    }

    /// The interrupt mask registers as last written: bit `n` set means IRQ `n` is masked.
    pub const fn masks(&self) -> u16 {
        u16::from_le_bytes(self.masks)
    }

    /// End of interrupt for `irq`: a non-specific EOI to the slave when `irq >= 8`, then to the
    /// master (whose IR2 was in service for a slave IRQ). Do not call it for a spurious interrupt;
    /// see [`Pic8259::end_of_spurious_interrupt`].
    pub fn end_of_interrupt(&mut self, irq: u8) {
        if irq >= 8 {
            self.ports.write8(PIC2_COMMAND, OCW2_NON_SPECIFIC_EOI);
        }
        self.ports.write8(PIC1_COMMAND, OCW2_NON_SPECIFIC_EOI);
    }

    /// True if `irq` is really in service (its ISR bit, read via OCW3). For IRQ 7 and 15 a clear bit
    /// means the interrupt was spurious (OSDev "8259 PIC", "Spurious IRQs").
    pub fn is_in_service(&mut self, irq: u8) -> bool {
        irq < IRQ_COUNT && self.in_service() & (1 << irq) != 0
    }

    /// Both In-Service Registers (bit `n` for IRQ `n`), read via OCW3.
    pub fn in_service(&mut self) -> u16 {
        self.read_registers(OCW3_READ_ISR)
    }

    /// Both Interrupt Request Registers (bit `n` for IRQ `n`), read via OCW3.
    pub fn requested(&mut self) -> u16 {
        self.read_registers(OCW3_READ_IRR)
    }

    /// Finishes a spurious interrupt on `irq` (7 or 15): a spurious IRQ 7 gets no EOI at all; a
    /// spurious IRQ 15 gets an EOI to the master only, whose IR2 did see a real request. Other IRQs
    /// are never spurious and get nothing.
    pub fn end_of_spurious_interrupt(&mut self, irq: u8) {
        if irq == 8 + SPURIOUS_LEVEL {
            self.ports.write8(PIC1_COMMAND, OCW2_NON_SPECIFIC_EOI);
        }
    }

    fn update_mask(&mut self, irq: u8, masked: bool) {
        debug_assert!(irq < IRQ_COUNT, "no IRQ {irq} on the PIC pair");
        if irq >= IRQ_COUNT {
            return;
        }
        let (chip, port) = if irq < 8 {
            (0, PIC1_DATA)
        } else {
            (1, PIC2_DATA)
        };
        let bit = 1 << (irq & OCW2_LEVEL_MASK);
        if masked {
            self.masks[chip] |= bit;
        } else {
            self.masks[chip] &= !bit;
        }
        self.ports.write8(port, self.masks[chip]);
    }

    fn read_registers(&mut self, select: u8) -> u16 {
        self.ports.write8(PIC1_COMMAND, OCW3_SELECT | select);
        self.ports.write8(PIC2_COMMAND, OCW3_SELECT | select);
        let master = self.ports.read8(PIC1_COMMAND);
        let slave = self.ports.read8(PIC2_COMMAND);
        u16::from_le_bytes([master, slave])
    }

    fn write_with_delay(&mut self, port: u16, value: u8) {
        self.ports.write8(port, value);
        self.ports.write8(IO_WAIT_PORT, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakePicPair;

    fn initialized() -> (FakePicPair, Pic8259<FakePicPair>) {
        let fake = FakePicPair::new();
        let pic = Pic8259::init(fake.clone(), PIC1_OFFSET, PIC2_OFFSET);
        (fake, pic)
    }

    /// Proves that `init` runs the full ICW1..ICW4 sequence on both chips (the fake panics on any
    /// out-of-order or wrong word), remaps to 0x20/0x28, and masks everything but the cascade.
    #[test]
    fn init_remaps_and_masks_all_but_cascade() {
        let (fake, pic) = initialized();
        assert!(fake.initialized());
        assert_eq!(fake.master_vector_base(), Some(0x20));
        assert_eq!(fake.slave_vector_base(), Some(0x28));
        assert_eq!(fake.master_mask(), 0b1111_1011);
        assert_eq!(fake.slave_mask(), 0b1111_1111);
        assert_eq!(pic.masks(), 0xFFFB);
        assert!(fake.io_waits() >= 8);
    }

    /// Proves the vector <-> IRQ mapping after remapping, including vectors outside the pair.
    #[test]
    fn vectors_map_to_irqs() {
        let (_fake, pic) = initialized();
        assert_eq!(pic.vector(0), 0x20);
        assert_eq!(pic.vector(7), 0x27);
        assert_eq!(pic.vector(8), 0x28);
        assert_eq!(pic.vector(15), 0x2F);
        assert_eq!(pic.irq_for_vector(0x24), Some(4));
        assert_eq!(pic.irq_for_vector(0x2B), Some(11));
        assert_eq!(pic.irq_for_vector(0x1F), None);
        assert_eq!(pic.irq_for_vector(0x30), None);
    }

    /// Proves that `unmask`/`mask` change only the named IRQ's bit, on the right chip.
    #[test]
    fn mask_and_unmask_touch_one_bit_on_the_right_chip() {
        let (fake, mut pic) = initialized();
        pic.unmask(0);
        pic.unmask(4);
        assert_eq!(fake.master_mask(), 0b1110_1010);
        assert_eq!(fake.slave_mask(), 0xFF);
        pic.unmask(12);
        assert_eq!(fake.slave_mask(), 0b1110_1111);
        assert_eq!(fake.master_mask(), 0b1110_1010);
        pic.mask(4);
        pic.mask(12);
        assert_eq!(fake.master_mask(), 0b1111_1010);
        assert_eq!(fake.slave_mask(), 0xFF);
        assert_eq!(pic.masks(), 0xFFFA);
    }

    /// Proves that a master IRQ is delivered once unmasked and its EOI goes to the master only (the
    /// fake panics on an EOI to a slave with nothing in service).
    #[test]
    fn master_irq_eoi_goes_to_master_only() {
        let (fake, mut pic) = initialized();
        pic.unmask(4);
        assert_eq!(fake.deliver(4), 0x24);
        assert!(pic.is_in_service(4));
        pic.end_of_interrupt(4);
        assert_eq!(fake.master_in_service(), 0);
        assert!(!pic.is_in_service(4));
    }

    /// Proves that the EOI for a slave IRQ reaches the slave and then the master, leaving nothing in
    /// service on either chip.
    #[test]
    fn slave_irq_eoi_goes_to_slave_then_master() {
        let (fake, mut pic) = initialized();
        pic.unmask(10);
        assert_eq!(fake.deliver(10), 0x2A);
        assert!(pic.is_in_service(10));
        assert!(pic.is_in_service(2));
        pic.end_of_interrupt(10);
        assert_eq!(fake.slave_in_service(), 0);
        assert_eq!(fake.master_in_service(), 0);
    }

    /// Proves that a spurious IRQ 7 is told apart from a real one, and that finishing it sends no
    /// EOI (which would otherwise clear another IRQ's in-service bit).
    #[test]
    fn spurious_irq7_is_detected_and_gets_no_eoi() {
        let (fake, mut pic) = initialized();
        pic.unmask(3);
        fake.deliver(3); // a real IRQ 3 being serviced while IRQ 7 turns out spurious
        assert_eq!(fake.deliver_spurious(7), 0x27);
        assert!(!pic.is_in_service(7));
        pic.end_of_spurious_interrupt(7);
        assert_eq!(fake.master_in_service(), 1 << 3);

        pic.unmask(7);
        fake.deliver(7);
        assert!(pic.is_in_service(7));
    }

    /// Proves that a spurious IRQ 15 is detected and gets an EOI on the master only (the fake
    /// panics on an EOI to the slave, which has nothing in service).
    #[test]
    fn spurious_irq15_gets_master_eoi_only() {
        let (fake, mut pic) = initialized();
        assert_eq!(fake.deliver_spurious(15), 0x2F);
        assert!(!pic.is_in_service(15));
        pic.end_of_spurious_interrupt(15);
        assert_eq!(fake.master_in_service(), 0);
        assert_eq!(fake.slave_in_service(), 0);
    }

    /// Proves that the fake rejects an ICW2 vector base that is not a multiple of 8.
    #[test]
    #[should_panic(expected = "not a multiple of 8")]
    fn fake_rejects_unaligned_vector_base() {
        let mut fake = FakePicPair::new();
        fake.write8(PIC1_COMMAND, ICW1_INIT | ICW1_ICW4_NEEDED);
        fake.write8(PIC1_DATA, 0x21);
    }

    /// Proves that the fake rejects an ICW1 that does not announce ICW4 (the chip would then stay
    /// in MCS-80 mode).
    #[test]
    #[should_panic(expected = "without IC4")]
    fn fake_rejects_icw1_without_icw4() {
        let mut fake = FakePicPair::new();
        fake.write8(PIC1_COMMAND, ICW1_INIT);
    }

    /// Proves that the fake rejects an EOI to the master before the slave for a slave IRQ.
    #[test]
    #[should_panic(expected = "send the slave its EOI first")]
    fn fake_rejects_master_eoi_before_slave() {
        let (fake, mut pic) = initialized();
        pic.unmask(9);
        fake.deliver(9);
        let mut ports = fake.clone();
        ports.write8(PIC1_COMMAND, OCW2_NON_SPECIFIC_EOI);
    }

    /// Proves that the fake refuses to deliver an IRQ that `init` left masked.
    #[test]
    #[should_panic(expected = "masked")]
    fn fake_refuses_masked_irq() {
        let (fake, _pic) = initialized();
        fake.deliver(0);
    }
}
