//! Hardware interrupts: the PIT tick (1 kHz), and the receive interrupts of COM1 and COM2.

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use critical_section::Mutex;

use board_support::pic::Pic8259;
use board_support::pit::Pit8254;
use board_support::port::X86Ports;
use board_support::uart::{COM1_BASE, COM1_IRQ, COM2_BASE, COM2_IRQ};

use crate::idt::{IdtLoaded, TrapFrame};

/// IRQ line of the PIT's channel 0.
pub const PIT_IRQ: u8 = 0;
/// Tick rate of the system timer.
pub const TICK_HZ: u32 = 1000;
/// The master PIC's spurious IRQ (OSDev "8259 PIC", spurious IRQs).
const SPURIOUS_MASTER_IRQ: u8 = 7;
/// The slave PIC's spurious IRQ.
const SPURIOUS_SLAVE_IRQ: u8 = 15;
/// IRQ line the slave PIC cascades into.
const CASCADE_IRQ: u8 = 2;

static TICKS: AtomicU64 = AtomicU64::new(0);
/// The PIC pair, shared by `init` and the interrupt path (it caches the mask registers).
static PIC: Mutex<RefCell<Option<Pic8259<X86Ports>>>> = Mutex::new(RefCell::new(None));
/// Bytes dropped because a receive ring was full.
pub static RX_OVERRUNS: AtomicU32 = AtomicU32::new(0);

fn ports() -> X86Ports {
    // SAFETY: the firmware runs at CPL 0 and owns the PIC and PIT.
    unsafe { X86Ports::new() }
}

/// Milliseconds since the timer started.
pub fn uptime_ms() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Remaps and programs the PIC, starts the PIT at [`TICK_HZ`] and unmasks the board's IRQs.
/// Takes the IDT token: no IRQ may reach an unloaded IDT.
pub fn init(_: &IdtLoaded) {
    // SAFETY: CPL 0, no paging (the APIC page is at its default physical address), and the IDT
    // (which the token proves is loaded) has a gate for the spurious vector.
    unsafe { board_support::lapic::enable_virtual_wire(crate::idt::APIC_SPURIOUS_VECTOR) };
    let mut pic = Pic8259::init(
        ports(),
        board_support::pic::PIC1_OFFSET,
        board_support::pic::PIC2_OFFSET,
    );
    Pit8254::new(ports()).start_periodic(TICK_HZ);
    pic.unmask(PIT_IRQ);
    pic.unmask(COM1_IRQ);
    pic.unmask(COM2_IRQ);
    critical_section::with(|cs| PIC.borrow_ref_mut(cs).replace(pic));
    // Bytes that arrived before the PIC was programmed raised their (edge-triggered) IRQ into
    // the void, and a UART keeps its interrupt line high until it is serviced, so it would never
    // raise another edge: service both once by hand.
    receive(COM1_IRQ);
    receive(COM2_IRQ);
}

/// Handles IRQ `irq` (called by the IDT's dispatcher with interrupts off).
pub fn dispatch(irq: u8, frame: &mut TrapFrame) {
    critical_section::with(|cs| {
        if let Some(pic) = PIC.borrow_ref_mut(cs).as_mut() {
            handle(irq, pic);
        }
    });
    // The timer interrupted a plugin: stop it if its budget is spent, otherwise keep the
    // console and host link answering while it runs. (The PIC has had its EOI and no lock is
    // held here, so leaving through the abort path is clean.)
    if irq == PIT_IRQ && frame.from_user() && crate::isolation::plugin_running() {
        if crate::isolation::budget_exhausted() {
            crate::isolation::abort_from_user(frame, kplug_core::Fault::Budget);
        }
        let _ = crate::services::poll(kplug_core::link::Availability::Busy);
    }
}

fn handle(irq: u8, pic: &mut Pic8259<X86Ports>) {
    if (irq == SPURIOUS_MASTER_IRQ || irq == SPURIOUS_SLAVE_IRQ) && !pic.is_in_service(irq) {
        if irq == SPURIOUS_SLAVE_IRQ {
            // A spurious IRQ from the slave was still real for the master's cascade line.
            pic.end_of_interrupt(CASCADE_IRQ);
        }
        return;
    }
    match irq {
        PIT_IRQ => {
            TICKS.fetch_add(1, Ordering::Relaxed);
        }
        COM1_IRQ | COM2_IRQ => receive(irq),
        _ => {}
    }
    pic.end_of_interrupt(irq);
}

fn receive(irq: u8) {
    critical_section::with(|cs| {
        let mut producers = crate::serial::RX_PRODUCERS.borrow_ref_mut(cs);
        let Some(producers) = producers.as_mut() else {
            return;
        };
        let dropped = if irq == COM1_IRQ {
            crate::serial::irq_uart(COM1_BASE).on_interrupt(&mut producers.console)
        } else {
            crate::serial::irq_uart(COM2_BASE).on_interrupt(&mut producers.link)
        };
        if dropped > 0 {
            RX_OVERRUNS.fetch_add(dropped, Ordering::Relaxed);
        }
    });
}
