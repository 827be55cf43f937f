//! A silicon board: the silicon harness (`kplug-silicon link --listen`) started in the
//! background as a board, serving the host link on the board's `com2.sock`. It keeps its
//! plugins, attachments and counters from one `kplug` command to the next, as a board does, so
//! `kplug upload/attach/feed/stream/list --board NAME` drive the real CPU exactly as they drive
//! an emulated board. It has no console, so there is no `com1.sock`.

use std::fs;
use std::path::Path;

use super::state::{self, SILICON_COMM};
use super::{BoardError, BoardPaths, BoardSpec, Emulator, Isolation, Launch};

/// The harness's arguments: the host link on the board's link socket, in the isolation mode
/// the spec asks for (`auto`: hardware, as the board's probe would choose on a CPU that
/// enforces segment limits).
fn arguments(spec: &BoardSpec, paths: &BoardPaths) -> Vec<String> {
    let isolation = match spec.isolation {
        Isolation::Auto => "hardware",
        Isolation::Software => "software",
    };
    [
        "link",
        "--isolation",
        isolation,
        "--listen",
        &paths.link.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Starts `harness` (the `kplug-silicon` executable) detached, and returns once its link
/// socket exists.
pub(super) fn start(
    spec: &BoardSpec,
    harness: &Path,
    paths: &BoardPaths,
) -> Result<Launch, BoardError> {
    let pid = super::spawn_detached(harness, &arguments(spec, paths), &paths.log)?;
    super::wait_until(
        "the silicon harness",
        || paths.link.exists(),
        || {
            (!state::process_alive(pid, Some(SILICON_COMM))).then(|| {
                let log = fs::read_to_string(&paths.log).unwrap_or_default();
                BoardError::StartFailed {
                    emulator: Emulator::Silicon,
                    message: log
                        .lines()
                        .rfind(|line| !line.trim().is_empty())
                        .unwrap_or("it exited")
                        .to_owned(),
                }
            })
        },
    )?;
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

    /// The harness serves the board's link socket in the mode the spec asks for.
    #[test]
    fn the_harness_listens_on_the_link_socket() {
        let paths = BoardPaths::new(&PathBuf::from("/k/boards/s1"));
        let mut spec = BoardSpec::new("s1", "/bin/kplug-silicon");
        spec.emulator = Emulator::Silicon;
        assert_eq!(
            arguments(&spec, &paths).join(" "),
            "link --isolation hardware --listen /k/boards/s1/com2.sock"
        );
        spec.isolation = Isolation::Software;
        assert!(
            arguments(&spec, &paths)
                .join(" ")
                .contains("--isolation software")
        );
    }
}
