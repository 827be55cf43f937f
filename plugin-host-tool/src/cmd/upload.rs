//! `kplug upload`: check a plugin's imports on the host, upload it in chunks, and show what the
//! firmware did with it.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin_format::message::{LoadReport, UploadReport};
use plugin_host_tool::plugin_format::plugin::{PluginDescription, WASM_PAGE_BYTES};
use plugin_host_tool::refusal::Refusal;
use plugin_host_tool::{plugin, signing, store};

use super::{LimitArgs, TargetArgs, human_bytes, name_from_file};

/// The upload progress bar.
const PROGRESS_TEMPLATE: &str =
    "{msg:24} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec}";

/// Upload a plugin (WAT or wasm): the firmware validates, compiles and links it.
#[derive(Debug, Args)]
#[command(
    long_about = "Upload a WebAssembly plugin to a board. kplug assembles WAT text, checks the \
module's imports against the firmware symbol table (an unknown import or a wrong signature is \
reported at once, naming the import), and sends the module in chunks. The firmware validates \
it, generates i386 code for it, installs it in its own segments and links its imports; kplug \
prints the plugin's id and the time each step took in TSC cycles and microseconds, the module \
and code sizes, its memory, the imports it linked, its exports and the isolation mode.",
    after_help = "\
Examples:
  kplug upload plugins/crc32.wat
  kplug upload plugins/grayscale.wat --budget-us 500 --memory 8
  kplug upload filter.wasm --name filter2 --board hw --json

Signed and persisted uploads:
  kplug keygen release.key                         make a key pair (release.key, release.key.pub)
  kplug provision --pubkey release.key.pub         the board now refuses unsigned plugins
  kplug upload plugins/crc32.wat --sign release.key --persist
                                                   signed; kept in the board's plugin store

Names are 1 to 32 printable ASCII characters and unique among the loaded plugins; `kplug invoke`
and `kplug unload` take the name or the id."
)]
pub struct Upload {
    /// The module: WebAssembly text (.wat) or binary (.wasm).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The plugin's name [default: the file name without its extension].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Limits.
    #[command(flatten)]
    limits: LimitArgs,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,

    /// Sign the plugin (its description, module included) with this secret key file (from
    /// `kplug keygen`). A board with a provisioned key refuses unsigned plugins.
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,

    /// Keep the plugin in the board's plugin store once it has loaded, replacing a stored plugin
    /// of the same name in one power-safe step; the board installs it again at every boot.
    #[arg(long)]
    persist: bool,

    /// The version text recorded with the plugin (shown by `kplug store list`).
    #[arg(long = "plugin-version", value_name = "TEXT", default_value = "0")]
    plugin_version: String,

    /// Print the firmware's load report as JSON.
    #[arg(long)]
    json: bool,
}

impl Upload {
    /// Checks, uploads and prints the load report.
    pub fn run(self) -> anyhow::Result<()> {
        let mut description = prepare(&self.file, self.name.clone(), 0, &self.limits)?;
        description.version = self.plugin_version.clone();
        if self.sign.is_some() || self.persist {
            return self.run_finish(description);
        }
        let mut link = self.target.connect()?;
        let report = upload_with_progress(&mut link, description, !self.json)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", load_report_text(&report));
        }
        Ok(())
    }
}

impl Upload {
    /// A signed and/or persisted upload, ended with `UploadFinish`.
    fn run_finish(&self, description: PluginDescription) -> anyhow::Result<()> {
        let signature = match &self.sign {
            Some(key) => {
                let pair = signing::read_secret_key(key)?;
                Some(signing::sign_plugin(&pair, &description))
            }
            None => None,
        };
        let name = description.name.clone();
        let mut link = self.target.connect()?;
        let finish = store::Finish {
            signature,
            persist: self.persist,
        };
        let report = store::upload(&mut link, description, finish, |_, _| {}).map_err(|error| {
            if store::unsupported(&error) {
                anyhow::anyhow!(
                    "the firmware on this board does not support signed or persisted uploads yet"
                )
            } else {
                anyhow::Error::new(error).context(format!("the firmware did not load {name}"))
            }
        })?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", upload_report_text(&report));
        }
        Ok(())
    }
}

/// The load report, with the signature check and the store write around it.
pub fn upload_report_text(report: &UploadReport) -> String {
    let mut text = load_report_text(&report.load);
    match (&report.verify, &report.signed_by) {
        (Some(time), Some(key)) => {
            text.push_str(&step("verify", time));
            text.push_str(&format!("  {:<10}key {key}\n", "signed"));
        }
        (Some(time), None) => text.push_str(&step("verify", time)),
        (None, _) => text.push_str(&format!(
            "  {:<10}not checked (the board holds no key)\n",
            "signed"
        )),
    }
    if let Some(time) = &report.store {
        text.push_str(&step("store", time));
    }
    text
}

/// Reads `file` (WAT or wasm) and describes it under `name` (default: from the file name,
/// leaving `reserve` bytes for a suffix) with the limits, checking its imports against the
/// firmware symbol table.
pub fn prepare(
    file: &std::path::Path,
    name: Option<String>,
    reserve: usize,
    limits: &LimitArgs,
) -> anyhow::Result<PluginDescription> {
    let module = plugin::read_module(file)?;
    let name = match name {
        Some(name) => name,
        None => name_from_file(file, reserve)?,
    };
    plugin::describe(&name, module, limits.limits())
        .with_context(|| format!("{} cannot be linked by the firmware", file.display()))
}

/// Uploads with a progress bar on stderr (when `show` and stderr is a terminal) and returns the
/// firmware's report.
pub fn upload_with_progress(
    link: &mut Link,
    description: PluginDescription,
    show: bool,
) -> anyhow::Result<LoadReport> {
    let name = description.name.clone();
    let module = description.module.clone();
    let total = module.len() as u64;
    let bar = if show && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total).with_message(format!("uploading {name}"));
        if let Ok(style) = ProgressStyle::with_template(PROGRESS_TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let result = plugin::upload(link, description, |sent, total| {
        bar.set_position(sent as u64);
        if sent == total {
            bar.set_message("validating, compiling, linking");
        }
    });
    bar.finish_and_clear();
    result
        .map_err(|error| match Refusal::of_link_error(&module, &error) {
            // The feature, the function by name and how to avoid it, in place of the firmware's
            // operator and offset (which the refusal repeats).
            Some(refusal) => anyhow::Error::new(refusal),
            None => anyhow::Error::new(error),
        })
        .with_context(|| format!("the firmware did not load {name}"))
}

/// Cycles and microseconds of one step, aligned.
fn step(name: &str, time: &plugin_host_tool::plugin_format::message::StepTime) -> String {
    format!(
        "  {name:<10}{:>12} cycles  {:>8} µs\n",
        time.cycles, time.micros
    )
}

/// The human-readable load report.
pub fn load_report_text(report: &LoadReport) -> String {
    let mut text = format!(
        "plugin {} \"{}\" loaded ({} isolation)\n",
        report.id,
        report.name,
        report.isolation.as_str()
    );
    text.push_str(&step("compile", &report.compile));
    text.push_str(&step("install", &report.install));
    text.push_str(&step("link", &report.link));
    text.push_str(&format!("  {:<10}{} bytes\n", "wasm", report.wasm_bytes));
    let ratio = if report.wasm_bytes == 0 {
        String::new()
    } else {
        format!(
            " ({:.2} per wasm byte)",
            f64::from(report.code_bytes) / f64::from(report.wasm_bytes)
        )
    };
    text.push_str(&format!(
        "  {:<10}{} bytes{ratio}\n",
        "code", report.code_bytes
    ));
    let pages = report.memory_bytes / WASM_PAGE_BYTES;
    text.push_str(&format!(
        "  {:<10}{} ({pages} page{})\n",
        "memory",
        human_bytes(u64::from(report.memory_bytes)),
        if pages == 1 { "" } else { "s" }
    ));
    let imports = if report.imports.is_empty() {
        "(none)".to_owned()
    } else {
        report.imports.join(", ")
    };
    text.push_str(&format!("  {:<10}{imports}\n", "imports"));
    if report.exports.is_empty() {
        text.push_str(&format!("  {:<10}(none)\n", "exports"));
    }
    for (index, export) in report.exports.iter().enumerate() {
        let label = if index == 0 { "exports" } else { "" };
        text.push_str(&format!("  {label:<10}{export}\n"));
    }
    text.push_str(&format!(
        "  {:<10}{}\n",
        "isolation",
        report.isolation.as_str()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command};
    use clap::Parser;
    use plugin_host_tool::plugin_format::message::{IsolationMode, StepTime};

    fn sample() -> LoadReport {
        LoadReport {
            id: 3,
            name: "crc32".into(),
            compile: StepTime {
                cycles: 1_234_567,
                micros: 823,
            },
            install: StepTime {
                cycles: 12_345,
                micros: 8,
            },
            link: StepTime {
                cycles: 4_567,
                micros: 3,
            },
            wasm_bytes: 500,
            code_bytes: 1800,
            memory_bytes: 65536,
            imports: vec!["env.log".into(), "env.emit".into()],
            exports: vec!["check() -> (i32)".into(), "crc32(i32, i32) -> (i32)".into()],
            isolation: IsolationMode::Software,
        }
    }

    /// The signed-upload report adds the verification time and key, and the store time; without
    /// a key on the board it says the signature was not checked.
    #[test]
    fn upload_report_shows_verify_and_store() {
        use plugin_host_tool::plugin_format::signature::KeyId;
        let report = UploadReport {
            load: sample(),
            verify: Some(StepTime {
                cycles: 9_000_000,
                micros: 3913,
            }),
            signed_by: Some(KeyId([0xAB; 8])),
            store: Some(StepTime {
                cycles: 46_000,
                micros: 20,
            }),
        };
        let text = upload_report_text(&report);
        for expected in [
            "verify         9000000 cycles      3913 µs",
            "signed    key abababababababab",
            "store            46000 cycles        20 µs",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
        let unchecked = upload_report_text(&UploadReport {
            load: sample(),
            verify: None,
            signed_by: None,
            store: None,
        });
        assert!(unchecked.contains("not checked (the board holds no key)"));
        assert!(!unchecked.contains("store "));
    }

    /// The report names the id, every timed step in cycles and µs, the sizes with the code
    /// expansion ratio, the memory, the imports, each export and the isolation mode.
    #[test]
    fn report_has_every_field() {
        let text = load_report_text(&sample());
        for expected in [
            "plugin 3 \"crc32\" loaded (software isolation)",
            "compile        1234567 cycles       823 µs",
            "install          12345 cycles         8 µs",
            "link              4567 cycles         3 µs",
            "wasm      500 bytes",
            "code      1800 bytes (3.60 per wasm byte)",
            "memory    64.0 KiB (1 page)",
            "imports   env.log, env.emit",
            "exports   check() -> (i32)",
            "          crc32(i32, i32) -> (i32)",
            "isolation software",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in\n{text}");
        }
    }

    /// Limits default to the plugin format's defaults and parse from their flags; the name
    /// defaults to the file stem.
    #[test]
    fn limits_and_name_parse() {
        let cli = Cli::try_parse_from([
            "kplug",
            "upload",
            "dir/gray scale.wat",
            "--budget-us",
            "500",
            "--memory",
            "8",
        ])
        .unwrap();
        let Command::Upload(upload) = cli.command else {
            panic!("not upload")
        };
        let limits = upload.limits.limits();
        assert_eq!(limits.budget_us, 500);
        assert_eq!(limits.max_memory_pages, 8);
        assert_eq!(
            limits.stack_bytes,
            plugin_host_tool::plugin_format::plugin::DEFAULT_STACK_BYTES
        );
        assert_eq!(
            name_from_file(&upload.file, 0).unwrap(),
            "gray_scale",
            "spaces are not allowed in plugin names"
        );
        assert!(Cli::try_parse_from(["kplug", "upload", "x.wat", "--memory", "-1"]).is_err());
    }

    /// The progress bar's template is one indicatif accepts (a bad one would silently fall back
    /// to the default style).
    #[test]
    fn progress_template_parses() {
        assert!(ProgressStyle::with_template(PROGRESS_TEMPLATE).is_ok());
    }

    /// An import the firmware does not export is refused before anything is sent, naming it.
    #[test]
    fn unknown_imports_are_refused_on_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.wat");
        std::fs::write(&file, r#"(module (import "env" "launch_missiles" (func)))"#).unwrap();
        let limits = LimitArgs {
            memory: 1,
            stack: 4096,
            budget_us: 100,
        };
        let error = prepare(&file, None, 0, &limits).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("env.launch_missiles"), "{text}");
        assert!(text.contains("bad.wat"), "{text}");
    }
}
