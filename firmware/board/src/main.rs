//! The kplug board firmware.
//!
//! Boot order (each step hands the next a token, so it cannot run out of order):
//! `boot.rs` (reset vector, trampoline, protected mode, .data/.bss) -> COM1/COM2 -> GDT + TSS
//! -> IDT -> TSC calibration -> heap -> boot probe -> PIC + PIT + IRQs -> main loop, which
//! serves the console (COM1) and the host link (COM2), runs plugin requests, and sleeps with
//! `hlt` when idle.
//!
//! On the host this crate builds to an empty program, so workspace-wide `cargo check` works;
//! the real binary is built for `linker-scripts/i586-kplug.json` by `kplug build`.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod board;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod config;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod fault;
#[cfg(target_os = "none")]
mod gdt;
#[cfg(target_os = "none")]
mod heap;
#[cfg(target_os = "none")]
mod idt;
#[cfg(target_os = "none")]
mod irq;
#[cfg(target_os = "none")]
mod isolation;
#[cfg(target_os = "none")]
mod log;
#[cfg(target_os = "none")]
mod plugins;
#[cfg(target_os = "none")]
mod probe;
#[cfg(target_os = "none")]
mod serial;
#[cfg(target_os = "none")]
mod services;
#[cfg(target_os = "none")]
mod time;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("kplug-firmware runs on the board; build it with `kplug build`");
    std::process::exit(2);
}

#[cfg(target_os = "none")]
mod entry {
    use alloc::string::ToString;
    use board_support::cmos::Cmos;
    use board_support::port::X86Ports;
    use embedded_io::Write;

    use alloc::vec::Vec;

    use crate::board::Board;
    use crate::console::Console;
    use crate::isolation::BoardPlatform;
    use crate::services::Services;
    use kplug_core::link::{Availability, LinkServer};

    /// The Rust entry point, called by `boot.rs` with a stack, `.data` and `.bss` in place.
    #[unsafe(no_mangle)]
    extern "C" fn kernel_main() -> ! {
        let mut ports = crate::serial::init();
        let _ = write!(
            ports.console_tx,
            "\r\nkplug firmware {} booting from flash\r\n",
            env!("CARGO_PKG_VERSION")
        );
        let gdt = crate::gdt::init();
        let idt = crate::idt::init(&gdt);
        let tsc_hz = crate::time::calibrate_tsc();
        // SAFETY: CPL 0; the CMOS is only read here.
        let ram_bytes = Cmos::new(unsafe { X86Ports::new() }).ram_bytes();
        let heap_bytes = crate::heap::init(ram_bytes);
        let limits_enforced = crate::probe::limits_enforced(&gdt, &idt);
        let board = Board {
            config: crate::config::load(),
            ram_bytes,
            cpu: crate::cpu::cpu_description().to_string(),
            tsc_hz,
            limits_enforced,
        };
        crate::irq::init(&idt);
        crate::cpu::enable_interrupts();

        let info = board.info();
        let _ = write!(
            ports.console_tx,
            "board {}: {} KiB RAM, {} KiB heap, {}, TSC {} MHz\r\nisolation: {} ({})\r\n",
            info.board_name,
            ram_bytes / 1024,
            heap_bytes / 1024,
            info.cpu,
            tsc_hz / 1_000_000,
            info.isolation.as_str(),
            board.probe_text(),
        );
        defmt::info!(
            "kplug {=str} up: {=u32} KiB RAM, TSC {=u64} Hz, isolation {=str}",
            env!("CARGO_PKG_VERSION"),
            ram_bytes / 1024,
            tsc_hz,
            info.isolation.as_str()
        );

        let isolation = board.isolation();
        let mut plugins = crate::plugins::new(BoardPlatform::new(gdt), isolation);
        let _ = ports.console_tx.write_all(b"type 'help' for commands\r\n");
        let console = Console::new();
        console.prompt(&mut ports.console_tx);
        crate::services::install(Services {
            ports,
            console,
            link: LinkServer::new(),
            board,
            plugins: Vec::new(),
        });
        loop {
            match crate::services::poll(Availability::Available) {
                Some(Some((seq, request))) => {
                    let (result, events) = plugins.serve(request);
                    crate::services::complete(
                        seq,
                        result,
                        events,
                        plugins.summaries(),
                        plugins.figures(),
                    );
                }
                _ => {
                    // Sleep only if nothing arrived since the pass: with interrupts off, test
                    // the rings, then `sti; hlt` atomically.
                    crate::cpu::disable_interrupts();
                    if crate::services::input_pending() {
                        crate::cpu::enable_interrupts();
                    } else {
                        crate::cpu::wait_for_interrupt();
                    }
                }
            }
        }
    }

    #[panic_handler]
    fn panic(panic: &core::panic::PanicInfo<'_>) -> ! {
        crate::cpu::disable_interrupts();
        let mut console = crate::serial::panic_console();
        let _ = write!(console, "\r\n*** FIRMWARE PANIC: {panic}\r\nrebooting\r\n");
        crate::cpu::reset()
    }
}
