//! Starting a QEMU board: `qemu-system-i386 -M pc -cpu pentium`, booting from the flash image
//! as pflash unit 0, with the plugin store's image as pflash unit 1 (mapped just below unit 0),
//! and COM1 and COM2 on Unix sockets it serves itself.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{Accel, BoardError, BoardPaths, BoardSpec, Clock, Emulator, Launch};
use crate::flash;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-i386";
/// I/O port of the `isa-debug-exit` device (tests exit QEMU through it).
const DEBUG_EXIT_IOBASE: &str = "0xf4";
/// QEMU's instruction-counting mode for [`Clock::Instructions`]: 2^0 ns of guest time per
/// instruction (a 1 GHz guest), and guest time follows the host's clock while the guest idles.
const ICOUNT: &str = "shift=0,sleep=on";
/// The pid file's name in the board directory.
const PID_FILE: &str = "qemu.pid";

/// Escapes a value for QEMU's comma-separated option syntax (a comma is written twice).
fn option_value(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// QEMU's arguments for a board. `-daemonize` makes QEMU report start-up errors through its exit
/// status and then detach, with its real pid in the pid file.
pub(super) fn arguments(
    spec: &BoardSpec,
    image: &Path,
    store: &Path,
    paths: &BoardPaths,
) -> Vec<String> {
    let accel = match spec.accel {
        Accel::Tcg => "tcg",
        Accel::Kvm => "kvm",
    };
    let chardev = |id: &str, socket: &Path| {
        format!(
            "socket,id={id},path={},server=on,wait=off",
            option_value(socket)
        )
    };
    let mut arguments: Vec<String> = [
        "-name",
        &format!("kplug-{}", spec.name),
        "-M",
        "pc",
        "-cpu",
        "pentium",
        "-m",
        &spec.ram_mib.to_string(),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-accel",
        accel,
        "-drive",
        &format!("if=pflash,format=raw,unit=0,file={}", option_value(image)),
        "-drive",
        &format!("if=pflash,format=raw,unit=1,file={}", option_value(store)),
        "-chardev",
        &chardev("com1", &paths.console),
        "-serial",
        "chardev:com1",
        "-chardev",
        &chardev("com2", &paths.link),
        "-serial",
        "chardev:com2",
        "-parallel",
        "null",
        "-device",
        &format!("isa-debug-exit,iobase={DEBUG_EXIT_IOBASE},iosize=0x04"),
        "-pidfile",
        &paths.dir.join(PID_FILE).display().to_string(),
        "-D",
        &paths.log.display().to_string(),
        "-daemonize",
    ]
    .map(str::to_owned)
    .to_vec();
    if spec.clock == Clock::Instructions {
        arguments.extend(["-icount".to_owned(), ICOUNT.to_owned()]);
    }
    arguments
}

/// Starts QEMU and returns once it has daemonized with its sockets listening. Creates the store
/// image beside `image` if it does not exist yet.
pub(super) fn start(
    spec: &BoardSpec,
    image: &Path,
    paths: &BoardPaths,
) -> Result<Launch, BoardError> {
    let store = flash::store_image_path(image);
    flash::ensure_store_image(&store)?;
    let output = Command::new(QEMU)
        .args(arguments(spec, image, &store, paths))
        .current_dir(&paths.dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => BoardError::EmulatorMissing {
                program: QEMU.into(),
                hint: "install it with `apt-get install qemu-system-x86`".into(),
            },
            _ => BoardError::Spawn {
                program: QEMU.into(),
                source,
            },
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr
            .lines()
            .map(|line| line.trim_start_matches("qemu-system-i386: "))
            .filter(|line| !line.trim().is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(BoardError::StartFailed {
            emulator: Emulator::Qemu,
            message: if message.is_empty() {
                output.status.to_string()
            } else {
                message
            },
        });
    }
    let pid_file = paths.dir.join(PID_FILE);
    let pid = std::fs::read_to_string(&pid_file)
        .map_err(|source| BoardError::Io {
            path: pid_file.clone(),
            source,
        })?
        .trim()
        .parse()
        .map_err(|_| BoardError::StartFailed {
            emulator: Emulator::Qemu,
            message: format!("{} holds no pid", pid_file.display()),
        })?;
    Ok(Launch {
        pid,
        relay_pid: None,
        vnc_port: None,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The command line is the reference board: pc machine, Pentium, pflash boot, the store as
    /// pflash unit 1, both UARTs on the board's sockets, LPT1, debug-exit, and commas in paths
    /// escaped.
    #[test]
    fn command_line_describes_the_reference_board() {
        let mut spec = BoardSpec::new("b1", "/img/a,b.flash");
        spec.ram_mib = 64;
        let paths = BoardPaths::new(&PathBuf::from("/k/boards/b1"));
        let arguments = arguments(
            &spec,
            Path::new("/img/a,b.flash"),
            Path::new("/img/a,b.flash.store"),
            &paths,
        )
        .join(" ");
        for expected in [
            "-M pc -cpu pentium -m 64 -nodefaults -no-user-config -display none -accel tcg",
            "-drive if=pflash,format=raw,unit=0,file=/img/a,,b.flash \
             -drive if=pflash,format=raw,unit=1,file=/img/a,,b.flash.store",
            "-chardev socket,id=com1,path=/k/boards/b1/com1.sock,server=on,wait=off -serial chardev:com1",
            "-chardev socket,id=com2,path=/k/boards/b1/com2.sock,server=on,wait=off -serial chardev:com2",
            "-parallel null -device isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-pidfile /k/boards/b1/qemu.pid -D /k/boards/b1/emulator.log -daemonize",
        ] {
            assert!(arguments.contains(expected), "{expected}\nin\n{arguments}");
        }
        assert!(!arguments.contains("-icount"), "{arguments}");
    }

    /// An instruction-counted board asks QEMU for `-icount`.
    #[test]
    fn instruction_clock_uses_icount() {
        let mut spec = BoardSpec::new("b1", "/img/b.flash");
        spec.clock = Clock::Instructions;
        let paths = BoardPaths::new(&PathBuf::from("/k/boards/b1"));
        let arguments = arguments(
            &spec,
            Path::new("/img/b.flash"),
            Path::new("/img/b.flash.store"),
            &paths,
        )
        .join(" ");
        assert!(
            arguments.contains("-icount shift=0,sleep=on"),
            "{arguments}"
        );
    }
}
