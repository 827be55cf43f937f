//! Starting a Bochs board, which enforces segment limits exactly.
//!
//! Quirks of Debian's Bochs 2.7, verified on these machines:
//! - its system ROM holds at most 2 MiB and must end at 4 GiB, so Bochs gets the top 2 MiB of
//!   the 4 MiB flash image (image offset 0x20_0000..), mapped at 0xFFE0_0000. Flash below that
//!   is invisible to it; the configuration sector (0x3E_0000) is inside the window;
//! - it has no headless display: `rfb` with `timeout=0` does not wait for a viewer. Each
//!   instance's VNC server takes the first free port from 5900 up, on all interfaces;
//! - it starts in its debugger: `-rc FILE` with `c` continues at once;
//! - the default sound driver aborts without a sound card: speaker off, dummy sound driver;
//! - a `socket-server` UART blocks the whole emulator at start until a client connects (COM1
//!   first, then COM2), and accepts exactly one client for its whole life. The relay
//!   ([`super::relay`]) holds those connections and serves the board's Unix sockets.

use std::fs;
use std::net::TcpListener;
use std::path::Path;

use super::relay::{self, RelaySpec};
use super::state::{self, BOCHS_COMM};
use super::{BoardError, BoardPaths, BoardSpec, Clock, Emulator, Launch, RelayMode};
use crate::flash::{ERASED_BYTE, FLASH_BASE, FLASH_SIZE};

/// The Bochs binary (Debian's `bochs` is a shell wrapper that execs it).
pub const BOCHS: &str = "bochs-bin";
/// The largest system ROM Bochs 2.7 maps (`BIOSROMSZ`).
pub const BOCHS_ROM_SIZE: usize = 2 * 1024 * 1024;
/// The image offset where the part Bochs sees starts.
pub const BOCHS_ROM_OFFSET: usize = FLASH_SIZE - BOCHS_ROM_SIZE;
/// Instructions per emulated second: Bochs derives the TSC rate from it. A host-clocked board
/// ([`Clock::Host`]) uses `sync=slowdown`, which keeps the TSC at exactly this rate and board
/// time close to wall time while Bochs keeps up: `sync=realtime` lets the TSC follow Bochs's
/// momentary speed (the firmware calibrated 8-31 MHz and time budgets ran ~2x fast), and
/// `sync=both` calibrates to 1 MHz (measured by the qemu-tests Bochs suite). When a loaded host
/// cannot run Bochs at this rate, `sync=slowdown` still clocks the PIT from the host's clock
/// while the TSC falls behind with the instructions. An instruction-clocked board
/// ([`Clock::Instructions`]) uses `sync=none`: the PIT and the TSC both advance with executed
/// instructions, whatever the host does, at the price of running emulated time ahead (about 40x)
/// while the firmware halts.
const BOCHS_IPS: u32 = 50_000_000;
/// VGA BIOS images Bochs may need, in order of preference.
const VGA_ROMS: &[&str] = &[
    "/usr/share/bochs/VGABIOS-lgpl-latest",
    "/usr/share/vgabios/vgabios.bin",
];
/// Files in the board directory.
const ROM_FILE: &str = "bochs-rom.bin";
const CONFIG_FILE: &str = "bochsrc";
const RC_FILE: &str = "bochs.rc";
const OUTPUT_FILE: &str = "bochs.out";
const RELAY_LOG: &str = "relay.log";
/// The line Bochs prints before a fatal error message.
const EXIT_BANNER: &str = "Bochs is exiting with the following message:";
/// How Bochs' debugger starts its error lines.
const DEBUGGER_ERROR_PREFIX: &str = "bx_dbg";
/// How long to wait for Bochs to finish exiting once its relay has lost it.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_millis(300);
/// The log line that names the VNC port.
const VNC_LISTENING: &str = "listening for connections on port ";

/// The Bochs configuration for a board.
fn bochsrc(spec: &BoardSpec, rom: &Path, log: &Path, console_port: u16, link_port: u16) -> String {
    let rom_address = u64::from(FLASH_BASE) + BOCHS_ROM_OFFSET as u64;
    let mut config = format!(
        "# Written by `kplug board up` for board {name}.\n\
         megs: {ram}\n\
         romimage: file=\"{rom}\", address={rom_address:#x}\n\
         cpu: model=pentium, count=1, ips={BOCHS_IPS}, reset_on_triple_fault=1\n\
         clock: sync={sync}, time0=local\n\
         display_library: rfb, options=\"timeout=0\"\n\
         com1: enabled=1, mode=socket-server, dev=localhost:{console_port}\n\
         com2: enabled=1, mode=socket-server, dev=localhost:{link_port}\n\
         parport1: enabled=1, file=none\n\
         speaker: enabled=0\n\
         sound: driver=dummy\n\
         mouse: enabled=0\n\
         log: \"{log}\"\n\
         panic: action=fatal\n\
         error: action=report\n\
         info: action=report\n\
         debug: action=ignore\n",
        name = spec.name,
        ram = spec.ram_mib,
        sync = match spec.clock {
            Clock::Host => "slowdown",
            Clock::Instructions => "none",
        },
        rom = rom.display(),
        log = log.display(),
    );
    if let Some(vga) = VGA_ROMS.iter().find(|path| Path::new(path).is_file()) {
        config.push_str(&format!("vgaromimage: file={vga}\n"));
    }
    config
}

/// Two free TCP ports on the loopback interface.
fn free_ports() -> std::io::Result<(u16, u16)> {
    let first = TcpListener::bind("127.0.0.1:0")?;
    let second = TcpListener::bind("127.0.0.1:0")?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

/// Bytes of the image below the window Bochs can see that are not erased.
fn bytes_outside_rom(image: &[u8; FLASH_SIZE]) -> usize {
    image[..BOCHS_ROM_OFFSET]
        .iter()
        .filter(|byte| **byte != ERASED_BYTE)
        .count()
}

/// What Bochs said when it gave up, from its output file: the message after its exit banner,
/// or the debugger's complaint when it stopped there (for example on a read of unmapped memory,
/// after which the debugger reads end-of-file from /dev/null and quits).
fn exit_message(output: &Path) -> Option<String> {
    let text = fs::read_to_string(output).ok()?;
    let mut lines = text.lines().map(str::trim);
    if lines.by_ref().any(|line| line.contains(EXIT_BANNER)) {
        return lines.find(|line| !line.is_empty()).map(str::to_owned);
    }
    text.lines()
        .map(str::trim)
        .find(|line| line.starts_with(DEBUGGER_ERROR_PREFIX))
        .map(|line| format!("it stopped in its debugger: {line}"))
}

/// The VNC port from Bochs' log, once it has written it.
fn vnc_port(log: &Path) -> Option<u16> {
    let text = fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|line| line.split(VNC_LISTENING).nth(1))
        .find_map(|port| port.trim().parse().ok())
}

/// A running relay.
enum RelayHandle {
    /// A detached `kplug board relay` process.
    Process(u32),
    /// A thread of this process.
    Thread(std::thread::JoinHandle<()>),
}

impl RelayHandle {
    /// Whether it still runs.
    fn alive(&self) -> bool {
        match self {
            RelayHandle::Process(pid) => state::process_alive(*pid, None),
            RelayHandle::Thread(thread) => !thread.is_finished(),
        }
    }
}

/// Starts Bochs and its relay; returns once the board's Unix sockets are served.
pub(super) fn start(
    spec: &BoardSpec,
    image: &[u8; FLASH_SIZE],
    paths: &BoardPaths,
) -> Result<Launch, BoardError> {
    let bochs = super::find_in_path(BOCHS).ok_or_else(|| BoardError::EmulatorMissing {
        program: BOCHS.into(),
        hint: "install it with `apt-get install bochs bochsbios vgabios`".into(),
    })?;
    let kplug = match spec.relay {
        RelayMode::Process => Some(relay::relay_program()?),
        RelayMode::InProcess => None,
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BoardError::Io { path, source }
    };

    let mut warnings = Vec::new();
    let hidden = bytes_outside_rom(image);
    if hidden > 0 {
        warnings.push(format!(
            "{hidden} bytes of the image lie below {:#010x}, where Bochs maps no ROM (it maps the top {} MiB only); link the firmware into the top {} MiB to run it under Bochs",
            u64::from(FLASH_BASE) + BOCHS_ROM_OFFSET as u64,
            BOCHS_ROM_SIZE >> 20,
            BOCHS_ROM_SIZE >> 20,
        ));
    }

    let rom = paths.dir.join(ROM_FILE);
    fs::write(&rom, &image[BOCHS_ROM_OFFSET..]).map_err(io(&rom))?;
    let (console_port, link_port) = free_ports().map_err(io(Path::new("127.0.0.1")))?;
    let config = paths.dir.join(CONFIG_FILE);
    fs::write(
        &config,
        bochsrc(spec, &rom, &paths.log, console_port, link_port),
    )
    .map_err(io(&config))?;
    let rc = paths.dir.join(RC_FILE);
    fs::write(&rc, "c\n").map_err(io(&rc))?;

    let output = paths.dir.join(OUTPUT_FILE);
    let bochs_args = [
        "-q",
        "-f",
        &config.display().to_string(),
        "-rc",
        &rc.display().to_string(),
    ]
    .map(str::to_owned);
    let pid = super::spawn_detached(&bochs, &bochs_args, &output)?;

    let relay_spec = RelaySpec {
        console_socket: paths.console.clone(),
        link_socket: paths.link.clone(),
        console_port,
        link_port,
    };
    let relay_log = paths.dir.join(RELAY_LOG);
    let relay = match &kplug {
        Some(kplug) => super::spawn_detached(kplug, &relay_spec.to_args(), &relay_log)
            .map(RelayHandle::Process),
        None => {
            let log = relay_log.clone();
            std::thread::Builder::new()
                .name(format!("kplug-relay-{}", spec.name))
                .spawn(move || {
                    let message = match relay::run(&relay_spec) {
                        Ok(()) => "the emulator closed its serial ports".to_owned(),
                        Err(error) => error.to_string(),
                    };
                    let _ = fs::write(log, message);
                })
                .map(RelayHandle::Thread)
                .map_err(|source| BoardError::Spawn {
                    program: "relay thread".into(),
                    source,
                })
        }
    };
    let relay = match relay {
        Ok(relay) => relay,
        Err(error) => {
            super::terminate(pid, Some(BOCHS_COMM));
            return Err(error);
        }
    };

    let hidden_note = (hidden > 0).then(|| {
        format!(
            "; note: {hidden} bytes of the image lie below {:#010x}, which Bochs does not map",
            u64::from(FLASH_BASE) + BOCHS_ROM_OFFSET as u64
        )
    });
    let ready = super::wait_until(
        "the Bochs relay",
        || paths.console.exists() && paths.link.exists(),
        || {
            let relay_alive = relay.alive();
            if relay_alive && state::process_alive(pid, Some(BOCHS_COMM)) {
                return None;
            }
            if !relay_alive {
                // The relay exits when Bochs closes its ports: give Bochs time to finish.
                std::thread::sleep(EXIT_GRACE);
            }
            if !state::process_alive(pid, Some(BOCHS_COMM)) {
                let message = exit_message(&output).unwrap_or_else(|| "it exited".to_owned());
                return Some(BoardError::StartFailed {
                    emulator: Emulator::Bochs,
                    message: message + hidden_note.as_deref().unwrap_or_default(),
                });
            }
            let log = fs::read_to_string(&relay_log).unwrap_or_default();
            let last = log.lines().last().unwrap_or("it exited").to_owned();
            Some(BoardError::Relay(last))
        },
    );
    if let Err(error) = ready {
        super::terminate(pid, Some(BOCHS_COMM));
        if let RelayHandle::Process(relay_pid) = relay {
            super::terminate(relay_pid, None);
        }
        return Err(error);
    }
    Ok(Launch {
        pid,
        relay_pid: match relay {
            RelayHandle::Process(relay_pid) => Some(relay_pid),
            RelayHandle::Thread(_) => None,
        },
        vnc_port: vnc_port(&paths.log),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The configuration maps the top 2 MiB at 0xFFE00000, puts both UARTs on the given loopback
    /// ports, and carries the headless and no-sound settings.
    #[test]
    fn bochsrc_has_the_verified_settings() {
        let spec = BoardSpec::new("hw", "/x.flash");
        let config = bochsrc(
            &spec,
            &PathBuf::from("/b/bochs-rom.bin"),
            &PathBuf::from("/b/emulator.log"),
            4001,
            4002,
        );
        for expected in [
            "megs: 32\n",
            "romimage: file=\"/b/bochs-rom.bin\", address=0xffe00000\n",
            "cpu: model=pentium,",
            "display_library: rfb, options=\"timeout=0\"\n",
            "com1: enabled=1, mode=socket-server, dev=localhost:4001\n",
            "com2: enabled=1, mode=socket-server, dev=localhost:4002\n",
            "speaker: enabled=0\n",
            "sound: driver=dummy\n",
        ] {
            assert!(config.contains(expected), "{expected}\nin\n{config}");
        }
    }

    /// Only non-erased bytes below the Bochs window count as invisible.
    #[test]
    fn bytes_below_the_window_are_counted() {
        let mut image = crate::flash::erased_image();
        assert_eq!(bytes_outside_rom(&image), 0);
        image[BOCHS_ROM_OFFSET] = 0;
        assert_eq!(bytes_outside_rom(&image), 0);
        image[0] = 0;
        image[BOCHS_ROM_OFFSET - 1] = 0;
        assert_eq!(bytes_outside_rom(&image), 2);
    }

    /// The fatal message and the VNC port are read from Bochs' output as it writes them.
    #[test]
    fn bochs_output_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out");
        fs::write(
            &output,
            "00000000000i[      ] x\n====\nBochs is exiting with the following message:\n[MEM0  ] ROM: ROM image too large\n====\n",
        )
        .unwrap();
        assert_eq!(
            exit_message(&output).as_deref(),
            Some("[MEM0  ] ROM: ROM image too large")
        );
        let log = dir.path().join("log");
        fs::write(
            &log,
            "00000000000i[RFB   ] Trying port 5900\n00000000000i[RFB   ] Trying port 5901\n00000000000i[RFB   ] listening for connections on port 5901\n",
        )
        .unwrap();
        assert_eq!(vnc_port(&log), Some(5901));
        fs::write(
            &output,
            "Next at t=0\nbx_dbg_read_linear: physical memory read error (phy=0x0000ffc00000)\n<bochs:2> fgets() returned ERROR.\n",
        )
        .unwrap();
        assert_eq!(
            exit_message(&output).as_deref(),
            Some(
                "it stopped in its debugger: bx_dbg_read_linear: physical memory read error (phy=0x0000ffc00000)"
            )
        );
    }
}
