//! The board comes alive: a QEMU board boots from its flash image, prints its banner, answers the
//! handshake and the console commands, and its boot probe reports software isolation (QEMU TCG
//! does not enforce segment limits).

use std::time::Duration;

use plugin_format::message::{IsolationMode, PROTOCOL_VERSION, ProbeOutcome};
use qemu_tests::TestBoard;

/// The handshake reports the firmware's identity, RAM, CPU, a calibrated TSC, a running uptime
/// and the probe's verdict for TCG.
#[test]
fn handshake_reports_identity_and_software_isolation() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let info = link.hello().expect("hello");
    assert_eq!(info.protocol, PROTOCOL_VERSION);
    assert_eq!(info.firmware_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.board_name, board.name());
    assert_eq!(info.ram_bytes, 32 << 20);
    assert!(
        info.cpu.contains("family 5"),
        "a Pentium-class CPU: {}",
        info.cpu
    );
    assert!(
        info.tsc_hz > 10_000_000,
        "TSC calibrated: {} Hz",
        info.tsc_hz
    );
    assert_eq!(info.isolation, IsolationMode::Software);
    assert_eq!(info.probe, ProbeOutcome::LimitIgnored);
    std::thread::sleep(Duration::from_millis(300));
    let later = link.info().expect("info");
    assert!(
        later.uptime_ms > info.uptime_ms,
        "uptime advances: {} -> {}",
        info.uptime_ms,
        later.uptime_ms
    );
}

/// The console prints the banner and the probe's result, and answers help, info, uptime, mem
/// and stats.
#[test]
fn console_banner_and_commands() {
    let board = TestBoard::qemu();
    // The handshake waits for the firmware to be up; by then the banner is in the console's
    // socket buffer.
    let _ = board.link();
    let mut console = board.console();
    let boot = Duration::from_secs(10);
    console.send_line("").expect("send");
    let banner = console.read_until("kplug> ", boot).expect("prompt");
    assert!(banner.contains("kplug> "));
    for (command, expected) in [
        ("help", "reboot"),
        (
            "info",
            "isolation software (probe: segment limits not enforced)",
        ),
        ("uptime", "up "),
        ("mem", "heap used"),
        ("stats", "frames ok"),
        ("ps", "no plugins loaded"),
        ("frobnicate", "unknown command 'frobnicate'"),
    ] {
        console.send_line(command).expect("send");
        let output = console.read_until("kplug> ", boot).expect("answer");
        assert!(output.contains(expected), "`{command}` printed {output:?}");
    }
}

/// `reboot` resets the board, which boots again from flash and answers the handshake.
#[test]
fn console_reboot_boots_again() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let before = link.info().expect("info");
    drop(link); // a board's link takes one client at a time
    let mut console = board.console();
    console.send_line("reboot").expect("send");
    console
        .read_until("booting from flash", Duration::from_secs(20))
        .expect("banner after reboot");
    let mut link = board.link();
    let after = link.info().expect("info after reboot");
    assert!(
        after.uptime_ms < before.uptime_ms + 5000,
        "uptime restarted"
    );
}

/// The defmt log streams over the host link and decodes with the firmware ELF's `.defmt` table:
/// the boot message, logged before any host connected, comes back from the backlog.
#[test]
fn defmt_log_decodes_with_the_firmware_elf() {
    use plugin_host_tool::defmt_log::LogTable;
    use plugin_host_tool::workspace::Workspace;

    let elf = Workspace::locate().expect("workspace").firmware_elf();
    let table = LogTable::from_file(&elf).expect("the firmware ELF has a .defmt table");
    let board = TestBoard::qemu();
    let mut link = board.link();
    let mut stream = table.stream();
    stream.feed(&link.subscribe_logs().expect("subscribe"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|line: &String| line.contains("isolation software"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no boot message in the log: {lines:?}"
        );
        if let Ok(Some(plugin_format::message::Event::Log(bytes))) =
            link.next_event(Duration::from_millis(200))
        {
            stream.feed(&bytes);
        }
        while let Some(line) = stream.next_line() {
            lines.push(line.expect("a decodable frame").message);
        }
    }
    assert!(
        lines.iter().any(|line| line.contains("kplug 0.1.0 up")),
        "{lines:?}"
    );
}
