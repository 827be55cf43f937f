//! Hardware interrupts: the PIC, the PIT tick (1 kHz) and the receive interrupts of COM1 and
//! COM2. Handlers only record: a tick counts in [`crate::platform::timer`] and then runs the tick
//! hook `main` registered ([`set_tick_hook`]); received bytes go into the serial rings.

use core::cell::RefCell;
use core::sync::atomic::{AtomicPtr, Ordering};

use critical_section::Mutex;

use board_support::pic::Pic8259;
use board_support::pit::Pit8254;
use board_support::port::X86Ports;
use board_support::uart::{COM1_BASE, COM1_IRQ, COM2_BASE, COM2_IRQ};

use crate::arch::idt::{IdtLoaded, TrapFrame};

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

/// The PIC pair, shared by `init` and the interrupt path (it caches the mask registers).
static PIC: Mutex<RefCell<Option<Pic8259<X86Ports>>>> = Mutex::new(RefCell::new(None));

/// What runs after every tick, with the interrupted frame (registered by `main`).
pub type TickHook = fn(&mut TrapFrame);

/// The registered tick hook; none until `main` registers one.
static TICK_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Registers the work to do on every tick, after the tick is counted and acknowledged (budgets,
/// serving the console and link while the main loop is busy).
pub fn set_tick_hook(hook: TickHook) {
    TICK_HOOK.store(hook as *mut (), Ordering::SeqCst);
}

fn ports() -> X86Ports {
    // SAFETY: the firmware runs at CPL 0 and owns the PIC and PIT.
    unsafe { X86Ports::new() }
}

/// Remaps and programs the PIC, starts the PIT at [`TICK_HZ`] and unmasks the board's IRQs.
/// Takes the IDT token: no IRQ may reach an unloaded IDT.
pub fn init(_: &IdtLoaded) {
    // SAFETY: CPL 0, no paging (the APIC page is at its default physical address), and the IDT
    // (which the token proves is loaded) has a gate for the spurious vector.
    unsafe { board_support::lapic::enable_virtual_wire(crate::arch::idt::APIC_SPURIOUS_VECTOR) };
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

/// Handles IRQ `irq` (registered with the IDT; runs with interrupts off).
pub fn dispatch(irq: u8, frame: &mut TrapFrame) {
    critical_section::with(|cs| {
        if let Some(pic) = PIC.borrow_ref_mut(cs).as_mut() {
            handle(irq, pic);
        }
    });
    // The PIC has had its EOI and no lock is held here, so the hook may leave through a plugin
    // abort.
    let hook = TICK_HOOK.load(Ordering::SeqCst);
    if irq == PIT_IRQ && !hook.is_null() {
        // SAFETY: the only non-null value ever stored is a `TickHook` (`set_tick_hook`).
        let hook: TickHook = unsafe { core::mem::transmute::<*mut (), TickHook>(hook) };
        hook(frame);
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
        PIT_IRQ => crate::platform::timer::tick(),
        COM1_IRQ | COM2_IRQ => receive(irq),
        _ => {}
    }
    pic.end_of_interrupt(irq);
}

fn receive(irq: u8) {
    critical_section::with(|cs| {
        let mut producers = crate::platform::serial::RX_PRODUCERS.borrow_ref_mut(cs);
        let Some(producers) = producers.as_mut() else {
            return;
        };
        let dropped = if irq == COM1_IRQ {
            crate::platform::serial::irq_uart(COM1_BASE).on_interrupt(&mut producers.console)
        } else {
            crate::platform::serial::irq_uart(COM2_BASE).on_interrupt(&mut producers.link)
        };
        producers.overruns = producers.overruns.saturating_add(dropped);
    });
}
