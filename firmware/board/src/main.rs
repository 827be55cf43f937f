//! The kplug board firmware.
//!
//! Layers, each calling only the ones before it (a test checks the `use` graph):
//! [`arch`] (CPU, descriptor tables, interrupt entry, ring transitions) -> [`platform`] (the
//! board as `kplug_core` sees it: isolation, device, identity, the trap path, interrupts, timer,
//! serial, heap, log) -> [`services`] (console, host link, plugin service) -> this file, which
//! wires them: it registers the IDT's handlers and the tick hook, and runs the main loop.
//!
//! Boot order (each step hands the next a token, so it cannot run out of order):
//! `arch/boot.rs` (reset vector, trampoline, protected mode, .data/.bss) -> COM1/COM2 -> GDT +
//! TSS -> IDT -> TSC calibration -> heap -> boot probe -> PIC + PIT + IRQs -> main loop, which
//! serves the console (COM1) and the host link (COM2), runs plugin requests, and sleeps with
//! `hlt` when idle. Before the main loop, the store chip is probed, the plugin store opened and
//! every stored plugin installed (`services::store`).
//!
//! On the host this crate builds to an empty program, so workspace-wide `cargo check` works;
//! the real binary is built for `linker-scripts/i586-kplug.json` by `kplug build`.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod services;

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

    use crate::arch::idt::{Handlers, TrapFrame};
    use crate::platform::board::Board;
    use crate::platform::device::BoardDevice;
    use crate::platform::isolation::BoardPlatform;
    use crate::services::Services;
    use crate::services::console::Console;
    use kplug_core::link::LinkServer;

    /// The tick hook: a plugin past its budget is aborted; while the main loop is busy with a
    /// plugin request (compiling, installing, running) or an attached run, the console and the
    /// link are served from here, so they answer within a tick whatever runs.
    fn on_tick(frame: &mut TrapFrame) {
        crate::platform::isolation::on_tick(frame);
        if crate::services::busy() {
            crate::services::poll_from_tick();
        }
    }

    /// Runs a waiting console word (its attached export, or says it is unknown), else the timer
    /// attachment due earliest, else a due block of the `samples` ADC through its chain; sends
    /// what they produced. Returns whether anything ran.
    fn run_attached(plugins: &mut crate::services::plugins::Plugins) -> bool {
        let text = if let Some(word) = crate::services::console_command() {
            crate::services::set_attached_run(true);
            let run = plugins.run_console(&word);
            crate::services::set_attached_run(false);
            Some(match run {
                Some(run) => match run.trap {
                    Some(trap) => alloc::format!("{}trap: {}", run.text, trap.kind),
                    None => run.text,
                },
                None => alloc::format!("unknown command '{word}'; type 'help'"),
            })
        } else {
            crate::services::set_attached_run(true);
            let ran = plugins.run_due_timer() || plugins.run_due_source();
            crate::services::set_attached_run(false);
            if !ran {
                return false;
            }
            None
        };
        crate::services::send_events(plugins.take_events(), plugins.attachment_summaries());
        if let Some(text) = text {
            crate::services::finish_console(&text);
        }
        true
    }

    /// The Rust entry point, called by `boot.rs` with a stack, `.data` and `.bss` in place.
    #[unsafe(no_mangle)]
    extern "C" fn kernel_main() -> ! {
        let mut ports = crate::platform::serial::init();
        let _ = write!(
            ports.console_tx,
            "\r\nkplug firmware {} booting from flash\r\n",
            env!("CARGO_PKG_VERSION")
        );
        let gdt = crate::arch::gdt::init();
        let idt = crate::arch::idt::init(
            &gdt,
            Handlers {
                exception: crate::platform::trap::exception,
                irq: crate::platform::irq::dispatch,
            },
        );
        let tsc_hz = crate::platform::timer::calibrate_tsc();
        // SAFETY: CPL 0; the CMOS is only read here.
        let ram_bytes = Cmos::new(unsafe { X86Ports::new() }).ram_bytes();
        let heap_bytes = crate::platform::heap::init(ram_bytes);
        let limits_enforced = crate::arch::probe::limits_enforced(&gdt, &idt);
        let board = Board {
            config: crate::platform::config::load(),
            ram_bytes,
            cpu: crate::arch::cpu::cpu_description().to_string(),
            tsc_hz,
            limits_enforced,
        };
        crate::platform::irq::set_tick_hook(on_tick);
        crate::platform::irq::init(&idt);
        crate::arch::cpu::enable_interrupts();

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
        let mut plugins =
            crate::services::plugins::new(BoardPlatform::new(gdt), BoardDevice::new(), isolation);
        let mut store = crate::services::store::open(&mut ports.console_tx);
        if board.config.safe_boot {
            crate::services::store::skip_all(&mut store, &mut ports.console_tx);
        } else {
            crate::services::store::install_all(&mut store, &mut plugins, &mut ports.console_tx);
        }
        let _ = ports.console_tx.write_all(b"type 'help' for commands\r\n");
        let console = Console::new();
        console.prompt(&mut ports.console_tx);
        crate::services::install(Services {
            ports,
            console,
            link: LinkServer::new(),
            board,
            plugins: Vec::new(),
            attachments: Vec::new(),
            console_pending: None,
            held: None,
        });
        loop {
            match crate::services::poll() {
                Some(Some((seq, request))) => {
                    crate::services::set_busy(true);
                    // The store service answers store requests and uploads (signature rules,
                    // persistence) and hands every other request to the plugin service.
                    let result = store.handle(&mut plugins, request);
                    let events = plugins.take_events();
                    crate::services::set_busy(false);
                    crate::services::complete(
                        seq,
                        result,
                        events,
                        plugins.summaries(),
                        plugins.attachment_summaries(),
                        plugins.figures(),
                    );
                }
                // Attached runs, one per pass, between passes over the console and the link;
                // busy while they run, so the tick serves both meanwhile.
                _ if run_attached(&mut plugins) => {}
                _ => {
                    // Sleep only if nothing arrived since the pass: with interrupts off, test
                    // the rings, then `sti; hlt` atomically.
                    crate::arch::cpu::disable_interrupts();
                    if crate::services::input_pending() {
                        crate::arch::cpu::enable_interrupts();
                    } else {
                        crate::arch::cpu::wait_for_interrupt();
                    }
                }
            }
        }
    }

    #[panic_handler]
    fn panic(panic: &core::panic::PanicInfo<'_>) -> ! {
        crate::arch::cpu::disable_interrupts();
        let mut console = crate::platform::serial::panic_console();
        let _ = write!(console, "\r\n*** FIRMWARE PANIC: {panic}\r\nrebooting\r\n");
        crate::arch::cpu::reset()
    }
}
