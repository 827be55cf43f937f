//! Which UART does what on this board: COM1 is the human console, COM2 the binary host link.
//! Both receive by interrupt into ring buffers (filled by `irq.rs`); both transmit by polling.

use core::cell::RefCell;

use board_support::port::X86Ports;
use board_support::uart::{COM1_BASE, COM2_BASE, Uart16550};
use critical_section::Mutex;
use heapless::spsc::{Consumer, Producer, Queue};

/// Line speed of both ports (QEMU and Bochs ignore it; a real board needs it).
pub const BAUD: u32 = 115_200;
/// Receive ring of the console.
pub const CONSOLE_RX_BYTES: usize = 1024;
/// Receive ring of the host link: larger than two maximal frames.
pub const LINK_RX_BYTES: usize = 16 * 1024;

/// The receive side handed to the interrupt handler.
pub struct RxProducers {
    pub console: Producer<'static, u8, CONSOLE_RX_BYTES>,
    pub link: Producer<'static, u8, LINK_RX_BYTES>,
    /// Bytes dropped because a receive ring was full.
    pub overruns: u32,
}

/// Bytes dropped so far because a receive ring was full.
pub fn rx_overruns() -> u32 {
    critical_section::with(|cs| {
        RX_PRODUCERS
            .borrow_ref(cs)
            .as_ref()
            .map_or(0, |producers| producers.overruns)
    })
}

/// Owned by the IRQ handlers; `None` until `init`.
pub static RX_PRODUCERS: Mutex<RefCell<Option<RxProducers>>> = Mutex::new(RefCell::new(None));

/// The firmware's side of the two ports.
pub struct Ports {
    pub console_tx: Uart16550<X86Ports>,
    pub console_rx: Consumer<'static, u8, CONSOLE_RX_BYTES>,
    pub link_tx: Uart16550<X86Ports>,
    pub link_rx: Consumer<'static, u8, LINK_RX_BYTES>,
}

fn uart(base: u16) -> Uart16550<X86Ports> {
    // SAFETY: the firmware runs at CPL 0; COM1/COM2 belong to this module (and to the IRQ
    // handler, which only reads the receive registers).
    Uart16550::new(unsafe { X86Ports::new() }, base)
}

/// Programs both UARTs and splits their receive rings between the IRQ handler and the caller.
/// Call once.
pub fn init() -> Ports {
    static mut CONSOLE_QUEUE: Queue<u8, CONSOLE_RX_BYTES> = Queue::new();
    static mut LINK_QUEUE: Queue<u8, LINK_RX_BYTES> = Queue::new();
    // SAFETY: `init` runs once (from `kernel_main`), so these are the only references ever made.
    let (console_producer, console_rx) =
        unsafe { &mut *core::ptr::addr_of_mut!(CONSOLE_QUEUE) }.split();
    // SAFETY: as above.
    let (link_producer, link_rx) = unsafe { &mut *core::ptr::addr_of_mut!(LINK_QUEUE) }.split();
    critical_section::with(|cs| {
        RX_PRODUCERS.borrow_ref_mut(cs).replace(RxProducers {
            console: console_producer,
            link: link_producer,
            overruns: 0,
        });
    });
    let mut console_tx = uart(COM1_BASE);
    console_tx.init(BAUD);
    let mut link_tx = uart(COM2_BASE);
    link_tx.init(BAUD);
    Ports {
        console_tx,
        console_rx,
        link_tx,
        link_rx,
    }
}

/// A UART handle for the IRQ handler's receive path.
pub fn irq_uart(base: u16) -> Uart16550<X86Ports> {
    uart(base)
}

/// A console writer for fault and panic paths, usable whatever state the rest is in.
pub fn panic_console() -> Uart16550<X86Ports> {
    uart(COM1_BASE)
}
