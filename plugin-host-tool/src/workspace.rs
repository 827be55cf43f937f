//! Finds the kplug workspace and builds the firmware in it.
//!
//! The firmware is built with the workspace's `cargo firmware` alias (from
//! `.cargo/config.toml`), so the bare-metal target settings live in one place. `kplug build`
//! then copies the ELF to `<target>/kplug/firmware.elf` and writes the flash image next to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::flash::{self, FirmwareElf, FlashError};

/// A directory that only the kplug workspace root has.
pub const MARKER: &str = "firmware/board";
/// The firmware's package name.
pub const FIRMWARE_PACKAGE: &str = "kplug-firmware";
/// The cargo alias that builds the firmware.
pub const FIRMWARE_ALIAS: &str = "firmware";
/// Used when the alias cannot be read from `.cargo/config.toml`; keep in sync with it.
const FALLBACK_FIRMWARE_ARGS: &[&str] = &[
    "build",
    "-p",
    FIRMWARE_PACKAGE,
    "--profile",
    "firmware",
    "--target",
    "linker-scripts/i586-kplug.json",
    "-Zjson-target-spec",
    "-Zbuild-std=core,alloc",
    "-Zbuild-std-features=compiler-builtins-mem",
];

/// Why the workspace could not be found or the firmware not built.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// No directory above the current one contains `firmware/board`.
    #[error(
        "not inside the kplug workspace (no `{MARKER}` above {start}); run kplug from the repository"
    )]
    NotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// cargo could not be started.
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
    /// The build failed; cargo has printed why.
    #[error("the firmware build failed ({0})")]
    BuildFailed(std::process::ExitStatus),
    /// cargo succeeded but reported no firmware executable.
    #[error("cargo built no `{FIRMWARE_PACKAGE}` executable")]
    NoArtifact,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The built ELF is not a usable firmware.
    #[error("the built firmware cannot be flashed: {0}")]
    Flash(#[from] FlashError),
}

/// Which cargo profile to build the firmware with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Optimised (the default; the board is slow under emulation).
    Release,
    /// Unoptimised, with debug assertions.
    Debug,
}

/// The result of [`Workspace::build_firmware`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltFirmware {
    /// Where cargo put the ELF.
    pub cargo_elf: PathBuf,
    /// The copy at `<target>/kplug/firmware.elf`.
    pub elf: PathBuf,
    /// The 4 MiB flash image at `<target>/kplug/firmware.flash`.
    pub image: PathBuf,
    /// Size of the ELF file.
    pub elf_size: u64,
    /// Bytes of flash the firmware occupies.
    pub flash_bytes: usize,
    /// Lowest image offset the firmware uses.
    pub lowest_image_offset: usize,
}

/// The kplug workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Its root directory (holding `Cargo.toml` and `firmware/board`).
    root: PathBuf,
    /// cargo's target directory.
    target_dir: PathBuf,
}

impl Workspace {
    /// The workspace around the current directory, or else the one this tool was built from.
    pub fn locate() -> Result<Self, WorkspaceError> {
        let current = std::env::current_dir().unwrap_or_default();
        if let Some(workspace) = Self::locate_from(&current) {
            return Ok(workspace);
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Self::locate_from(&built_from).ok_or(WorkspaceError::NotFound { start: current })
    }

    /// The nearest directory at or above `start` that contains `firmware/board`.
    pub fn locate_from(start: &Path) -> Option<Self> {
        start
            .ancestors()
            .find(|dir| dir.join(MARKER).is_dir())
            .map(|root| Workspace::at(root.canonicalize().unwrap_or_else(|_| root.to_owned())))
    }

    /// A workspace at a known root. Its target directory is `$CARGO_TARGET_DIR` (relative to
    /// the root) or `<root>/target`, as cargo would choose.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root.join("target"),
        };
        Workspace { root, target_dir }
    }

    /// The same workspace with another target directory.
    pub fn with_target_dir(self, target_dir: impl Into<PathBuf>) -> Self {
        Workspace {
            target_dir: target_dir.into(),
            ..self
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// cargo's target directory.
    pub fn target_dir(&self) -> &Path {
        &self.target_dir
    }

    /// Where `kplug build` puts its outputs: `<target>/kplug`.
    pub fn output_dir(&self) -> PathBuf {
        self.target_dir().join("kplug")
    }

    /// The ELF `kplug build` produced (the default for `flash` and `logs`).
    pub fn firmware_elf(&self) -> PathBuf {
        self.output_dir().join("firmware.elf")
    }

    /// The flash image `kplug build` produced.
    pub fn firmware_image(&self) -> PathBuf {
        self.output_dir().join("firmware.flash")
    }

    /// The cargo command that builds the firmware: the `firmware` alias's arguments, with its
    /// profile (`--release` or `--profile NAME`) dropped for [`Profile::Debug`], and JSON
    /// messages on stdout so the ELF's path can be read back. cargo's progress and diagnostics
    /// go to stderr as usual.
    pub fn firmware_build_command(&self, profile: Profile) -> Command {
        let mut arguments = self.firmware_alias();
        if profile == Profile::Debug {
            arguments.retain(|argument| argument != "--release");
            if let Some(at) = arguments
                .iter()
                .position(|argument| argument == "--profile")
            {
                arguments.drain(at..(at + 2).min(arguments.len()));
            }
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(&self.root)
            .args(arguments)
            .arg("--message-format=json-render-diagnostics");
        command
    }

    /// Builds the firmware, streaming cargo's output to stderr, and writes
    /// [`Workspace::firmware_elf`] and [`Workspace::firmware_image`].
    pub fn build_firmware(&self, profile: Profile) -> Result<BuiltFirmware, WorkspaceError> {
        let mut child = self
            .firmware_build_command(profile)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(WorkspaceError::Cargo)?;
        let mut executable = None;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let line = line.map_err(WorkspaceError::Cargo)?;
                if let Some(path) = firmware_executable(&line) {
                    executable = Some(path);
                }
            }
        }
        let status = child.wait().map_err(WorkspaceError::Cargo)?;
        if !status.success() {
            return Err(WorkspaceError::BuildFailed(status));
        }
        let cargo_elf = executable.ok_or(WorkspaceError::NoArtifact)?;
        self.install_firmware(&cargo_elf)
    }

    /// Copies a built ELF into the output directory and writes its flash image.
    pub fn install_firmware(&self, cargo_elf: &Path) -> Result<BuiltFirmware, WorkspaceError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| WorkspaceError::Io { path, source }
        };
        let bytes = std::fs::read(cargo_elf).map_err(io(cargo_elf))?;
        let firmware = FirmwareElf::parse(&bytes)?;
        let output = self.output_dir();
        std::fs::create_dir_all(&output).map_err(io(&output))?;
        let elf = self.firmware_elf();
        std::fs::write(&elf, &bytes).map_err(io(&elf))?;
        let image = self.firmware_image();
        flash::write_image(&image, &firmware.to_image())?;
        Ok(BuiltFirmware {
            cargo_elf: cargo_elf.to_owned(),
            elf,
            image,
            elf_size: bytes.len() as u64,
            flash_bytes: firmware.flash_bytes(),
            lowest_image_offset: firmware.lowest_image_offset(),
        })
    }

    /// The arguments of the `firmware` alias in `<root>/.cargo/config.toml`, or the built-in copy.
    fn firmware_alias(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join(".cargo/config.toml"))
            .ok()
            .and_then(|config| alias_arguments(&config, FIRMWARE_ALIAS))
            .unwrap_or_else(|| {
                FALLBACK_FIRMWARE_ARGS
                    .iter()
                    .map(|argument| argument.to_string())
                    .collect()
            })
    }
}

/// The words of `name = "..."` in a cargo config (the string form of an alias).
fn alias_arguments(config: &str, name: &str) -> Option<Vec<String>> {
    let mut in_alias_table = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_alias_table = line == "[alias]";
            continue;
        }
        if !in_alias_table {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != name {
            continue;
        }
        let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
        return Some(value.split_whitespace().map(str::to_owned).collect());
    }
    None
}

/// The executable path from a cargo `compiler-artifact` JSON message for the firmware package.
fn firmware_executable(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target_name = message.get("target")?.get("name")?.as_str()?;
    if target_name != FIRMWARE_PACKAGE && target_name != FIRMWARE_PACKAGE.replace('-', "_") {
        return None;
    }
    Some(PathBuf::from(message.get("executable")?.as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace root is found from any directory below it.
    #[test]
    fn root_is_found_from_below() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("firmware/board/src")).unwrap();
        let workspace = Workspace::locate_from(&root.join("firmware/board/src")).unwrap();
        assert_eq!(workspace.root(), root);
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(Workspace::locate_from(elsewhere.path()), None);
    }

    /// The alias is read from the `[alias]` table only, and its profile is dropped for debug
    /// builds.
    #[test]
    fn firmware_alias_is_read_from_cargo_config() {
        let config = "[build]\nfirmware = \"nope\"\n[alias]\n# comment\nfirmware = \"build -p kplug-firmware --profile firmware --target t.json\"\nkplug = \"run\"\n";
        assert_eq!(
            alias_arguments(config, "firmware").unwrap(),
            [
                "build",
                "-p",
                "kplug-firmware",
                "--profile",
                "firmware",
                "--target",
                "t.json"
            ]
        );
        assert_eq!(alias_arguments(config, "missing"), None);

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".cargo")).unwrap();
        std::fs::write(dir.path().join(".cargo/config.toml"), config).unwrap();
        let workspace = Workspace::at(dir.path());
        let debug = workspace.firmware_build_command(Profile::Debug);
        let arguments: Vec<_> = debug.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            arguments,
            [
                "build",
                "-p",
                "kplug-firmware",
                "--target",
                "t.json",
                "--message-format=json-render-diagnostics"
            ]
        );
    }

    /// Only the firmware's compiler-artifact message yields the executable path.
    #[test]
    fn executable_is_read_from_cargo_messages() {
        let artifact = r#"{"reason":"compiler-artifact","target":{"name":"kplug-firmware"},"executable":"/t/i586-kplug/release/kplug-firmware"}"#;
        assert_eq!(
            firmware_executable(artifact),
            Some(PathBuf::from("/t/i586-kplug/release/kplug-firmware"))
        );
        let library =
            r#"{"reason":"compiler-artifact","target":{"name":"core"},"executable":null}"#;
        assert_eq!(firmware_executable(library), None);
        assert_eq!(firmware_executable("warning: not json"), None);
    }

    /// Installing a built ELF writes the copy and a flash image holding it.
    #[test]
    fn install_writes_elf_copy_and_image() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::at(dir.path()).with_target_dir(dir.path().join("target"));
        let elf_path = dir.path().join("kplug-firmware");
        let elf = crate::flash::tests::sample_firmware();
        std::fs::write(&elf_path, &elf).unwrap();
        let built = workspace.install_firmware(&elf_path).unwrap();
        assert_eq!(built.elf, dir.path().join("target/kplug/firmware.elf"));
        assert_eq!(std::fs::read(&built.elf).unwrap(), elf);
        let image = crate::flash::read_image(&built.image).unwrap();
        assert_eq!(*image, *FirmwareElf::parse(&elf).unwrap().to_image());
        assert_eq!(built.flash_bytes, 0x100 + 8 + 16);
    }
}
