//! Plugin projects that build with stock tools and nothing else, as `kplug new` writes them: a
//! Cargo project for `wasm32-unknown-unknown` on the kplug SDK, a C file on `kplug.h` with a
//! two-line clang command, or a WAT file; and the commands that build, run and upload each.
//!
//! The Rust project gets a **copy** of the SDK (`NAME/kplug-sdk/`), not a path into a kplug
//! checkout: the project then builds anywhere (another machine, CI, after the checkout moved)
//! with `cargo` alone, needs no registry, and its imports match the symbol table of the kplug
//! that made it, which is the firmware that kplug talks to. The copy is embedded in the `kplug`
//! binary from `plugins/kplug-sdk` at build time, so it is never stale against this kplug. To
//! move a project to a newer SDK, replace its `kplug-sdk/` with the one a newer `kplug new`
//! writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use plugin_format::plugin::MAX_PLUGIN_NAME;

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, `no_std`, on the kplug SDK, built with stock cargo.
    Rust,
    /// C on kplug.h, built with clang and lld.
    C,
    /// WebAssembly text: kplug assembles it on upload.
    Wat,
}

/// The SDK's sources, embedded at build time: (path inside the SDK, contents).
const SDK_SOURCES: &[(&str, &str)] = &[
    (
        "src/lib.rs",
        include_str!("../../plugins/kplug-sdk/src/lib.rs"),
    ),
    (
        "src/buffer.rs",
        include_str!("../../plugins/kplug-sdk/src/buffer.rs"),
    ),
    (
        "src/gpio.rs",
        include_str!("../../plugins/kplug-sdk/src/gpio.rs"),
    ),
    (
        "src/host.rs",
        include_str!("../../plugins/kplug-sdk/src/host.rs"),
    ),
    (
        "src/imports.rs",
        include_str!("../../plugins/kplug-sdk/src/imports.rs"),
    ),
    (
        "src/line.rs",
        include_str!("../../plugins/kplug-sdk/src/line.rs"),
    ),
    (
        "src/panic.rs",
        include_str!("../../plugins/kplug-sdk/src/panic.rs"),
    ),
];

/// The SDK's manifest; the copy drops its `[dev-dependencies]` (the workspace's tests).
const SDK_MANIFEST: &str = include_str!("../../plugins/kplug-sdk/Cargo.toml");

/// The C header.
const C_HEADER: &str = include_str!("../../plugins/kplug-sdk/kplug.h");

/// Project templates; `{{name}}` is the project name, `{{crate}}` the module's file stem.
mod template {
    pub const RUST_MANIFEST: &str = include_str!("../templates/new/rust/Cargo.toml");
    pub const RUST_BUILD: &str = include_str!("../templates/new/rust/build.rs");
    pub const RUST_LIB: &str = include_str!("../templates/new/rust/lib.rs");
    pub const RUST_GITIGNORE: &str = include_str!("../templates/new/rust/gitignore");
    pub const C_SOURCE: &str = include_str!("../templates/new/c/plugin.c");
    pub const WAT_SOURCE: &str = include_str!("../templates/new/wat/plugin.wat");
}

/// The clang flags of a C plugin: wasm32 without a C library or an entry point, with a stack
/// and memory that fit the default plugin limits.
pub const CLANG_FLAGS: &str = "--target=wasm32 -O2 -nostdlib -Wl,--no-entry \
-Wl,-z,stack-size=16384 -Wl,--initial-memory=131072 -Wl,--max-memory=262144";

/// A scaffolded project: where it is and the commands that build, run and upload it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project's directory.
    pub dir: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<PathBuf>,
    /// The build command, run in `dir` (empty for WAT).
    pub build: Vec<String>,
    /// The module the build produces (or the WAT file), relative to `dir`.
    pub module: PathBuf,
    /// The plugin's name on a board (the module's file stem).
    pub plugin: String,
}

/// Checks `name`: a letter, then letters, digits, `_` or `-`, at most [`MAX_PLUGIN_NAME`].
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let mut characters = name.chars();
    let starts_with_letter = characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic());
    if !starts_with_letter
        || !characters.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || name.len() > MAX_PLUGIN_NAME
    {
        bail!(
            "`{name}` cannot name a plugin project: use a letter, then letters, digits, `_` or \
             `-`, at most {MAX_PLUGIN_NAME} characters"
        );
    }
    Ok(())
}

/// Fills a template.
fn fill(template: &str, name: &str, stem: &str) -> String {
    let add_line = format!("{name}: add");
    let hello = format!("hello from {name}");
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", stem)
        .replace("{{add_line_length}}", &add_line.len().to_string())
        .replace("{{hello_length}}", &hello.len().to_string())
}

/// The SDK's manifest for a copy: without `[dev-dependencies]`, with a note on where it came
/// from.
fn sdk_copy_manifest() -> String {
    let package = SDK_MANIFEST
        .split("\n[dev-dependencies]\n")
        .next()
        .unwrap_or(SDK_MANIFEST)
        .trim_end();
    format!(
        "# Copied by `kplug new` from kplug {} (plugins/kplug-sdk).\n{package}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// Writes a `lang` project called `name` into `parent/name`, which must not exist.
pub fn scaffold(parent: &Path, name: &str, lang: Language) -> anyhow::Result<Project> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} already exists; kplug new never writes into an existing directory",
            dir.display()
        );
    }
    let stem = name.replace('-', "_");
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let (build, module) = match lang {
        Language::Rust => {
            files.push((
                "Cargo.toml".into(),
                fill(template::RUST_MANIFEST, name, &stem),
            ));
            files.push(("build.rs".into(), template::RUST_BUILD.to_owned()));
            files.push(("src/lib.rs".into(), fill(template::RUST_LIB, name, &stem)));
            files.push((".gitignore".into(), template::RUST_GITIGNORE.to_owned()));
            files.push(("kplug-sdk/Cargo.toml".into(), sdk_copy_manifest()));
            for (path, contents) in SDK_SOURCES {
                files.push((Path::new("kplug-sdk").join(path), (*contents).to_owned()));
            }
            (
                vec![
                    "cargo".into(),
                    "build".into(),
                    "--release".into(),
                    "--target".into(),
                    "wasm32-unknown-unknown".into(),
                ],
                PathBuf::from(format!("target/wasm32-unknown-unknown/release/{stem}.wasm")),
            )
        }
        Language::C => {
            let source = format!("{stem}.c");
            let module = format!("{stem}.wasm");
            let mut build: Vec<String> = vec!["clang".into()];
            build.extend(CLANG_FLAGS.split(' ').map(str::to_owned));
            build.extend(["-o".into(), module.clone(), source.clone()]);
            files.push((source.into(), fill(template::C_SOURCE, name, &stem)));
            files.push(("kplug.h".into(), C_HEADER.to_owned()));
            files.push((
                "build.sh".into(),
                format!(
                    "#!/bin/sh\n# Builds {module} from {stem}.c with clang and lld (wasm-ld); no C \
                     library.\nclang {} \\\n    -o {module} {stem}.c\n",
                    CLANG_FLAGS
                ),
            ));
            (build, PathBuf::from(module))
        }
        Language::Wat => {
            let source = format!("{stem}.wat");
            files.push((
                source.clone().into(),
                fill(template::WAT_SOURCE, name, &stem),
            ));
            (Vec::new(), PathBuf::from(source))
        }
    };
    // Write into a temporary sibling and rename it into place, so a failure leaves nothing
    // half-made under the project's name.
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    for (path, contents) in &files {
        let target = staging.path().join(path);
        if let Some(directory) = target.parent() {
            std::fs::create_dir_all(directory)
                .with_context(|| format!("cannot create {}", directory.display()))?;
        }
        std::fs::write(&target, contents)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &dir).with_context(|| {
        // Leave nothing behind.
        let _ = std::fs::remove_dir_all(&staged);
        format!("cannot create {}", dir.display())
    })?;
    Ok(Project {
        dir,
        files: files.into_iter().map(|(path, _)| path).collect(),
        build,
        module,
        plugin: stem,
    })
}

/// What to type next: build, run in the harness, upload and call.
pub fn next_steps(project: &Project, lang: Language, shown_dir: &str) -> String {
    let what = match lang {
        Language::Rust => "a Rust plugin (kplug-sdk copied into kplug-sdk/)",
        Language::C => "a C plugin (kplug.h copied beside it)",
        Language::Wat => "a WebAssembly text plugin",
    };
    let module = project.module.display();
    let mut text = format!("Created {what} in {shown_dir}\n\n");
    match lang {
        Language::Rust => text.push_str(&format!(
            "Build it with stock cargo (needs the wasm32-unknown-unknown target):\n  cd \
             {shown_dir}\n  cargo build --release --target wasm32-unknown-unknown\n"
        )),
        Language::C => text.push_str(&format!(
            "Build it with clang and lld (or: sh build.sh):\n  cd {shown_dir}\n  clang {CLANG_FLAGS} \\\n      -o {module} {}.c\n",
            project.plugin
        )),
        Language::Wat => text.push_str(&format!(
            "Nothing to build: kplug assembles WAT on upload.\n  cd {shown_dir}\n"
        )),
    }
    text.push_str(&format!(
        "Run it in the silicon harness (this machine's CPU, the board's isolation):\n  kplug \
         run --local {module} add 40 2\nUpload it to a board and call it:\n  kplug upload \
         {module}\n  kplug invoke {} add 40 2\n",
        project.plugin
    ));
    if lang == Language::Rust {
        text.push_str("Test its logic on this machine (the SDK's fake firmware):\n  cargo test\n");
    }
    text
}

/// A warning if the tools the build needs are missing here, with what to install.
pub fn toolchain_warning(project: &Project, lang: Language) -> Option<String> {
    match lang {
        Language::Rust => {
            // The sysroot of the toolchain rustup picks in the project's directory.
            let output = Command::new("rustc")
                .args(["--print", "sysroot"])
                .current_dir(&project.dir)
                .output()
                .ok()?;
            let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            let target = Path::new(&sysroot).join("lib/rustlib/wasm32-unknown-unknown");
            (output.status.success() && !target.exists()).then(|| {
                "note: this Rust toolchain has no wasm32-unknown-unknown target yet: \
                 rustup target add wasm32-unknown-unknown"
                    .to_owned()
            })
        }
        Language::C => {
            let missing: Vec<&str> = ["clang", "wasm-ld"]
                .into_iter()
                .filter(|tool| {
                    Command::new(tool)
                        .arg("--version")
                        .output()
                        .map(|output| !output.status.success())
                        .unwrap_or(true)
                })
                .collect();
            (!missing.is_empty()).then(|| {
                format!(
                    "note: {} not found: install clang and lld (Debian: apt-get install clang lld)",
                    missing.join(" and ")
                )
            })
        }
        Language::Wat => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are checked: a letter first, then letters, digits, `_`, `-`, within the limit.
    #[test]
    fn names_are_checked() {
        for good in ["a", "my_filter", "blink-2", &"x".repeat(MAX_PLUGIN_NAME)] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "2fast",
            "_x",
            "a b",
            "a/b",
            "ü",
            &"x".repeat(MAX_PLUGIN_NAME + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    /// Every file of the SDK's src/ is embedded, so a copy builds exactly as the SDK does.
    #[test]
    fn the_sdk_copy_is_complete() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/kplug-sdk/src");
        let mut files: Vec<String> = std::fs::read_dir(&sdk)
            .unwrap()
            .map(|entry| format!("src/{}", entry.unwrap().file_name().to_string_lossy()))
            .collect();
        files.sort();
        let mut embedded: Vec<String> = SDK_SOURCES
            .iter()
            .map(|(path, _)| (*path).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(embedded, files);
        let manifest = sdk_copy_manifest();
        assert!(manifest.contains("name = \"kplug-sdk\""));
        assert!(!manifest.contains("\n[dev-dependencies]"), "{manifest}");
        assert!(!manifest.contains("workspace = true"), "{manifest}");
        assert!(!manifest.contains(".workspace"), "{manifest}");
    }

    /// A Rust project holds the manifest, build script, source, .gitignore and the SDK copy,
    /// with the name filled in; the printed steps name the exact commands.
    #[test]
    fn rust_projects_are_complete() {
        let parent = tempfile::tempdir().unwrap();
        let project = scaffold(parent.path(), "my-filter", Language::Rust).unwrap();
        assert_eq!(project.dir, parent.path().join("my-filter"));
        assert_eq!(project.plugin, "my_filter");
        for file in &project.files {
            assert!(project.dir.join(file).is_file(), "{}", file.display());
        }
        let lib = std::fs::read_to_string(project.dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("log(\"my-filter: add\")"));
        assert!(!lib.contains("{{"));
        let manifest = std::fs::read_to_string(project.dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-filter\""));
        assert!(manifest.contains("kplug-sdk = { path = \"kplug-sdk\" }"));
        let steps = next_steps(&project, Language::Rust, "my-filter");
        for expected in [
            "cargo build --release --target wasm32-unknown-unknown",
            "kplug run --local target/wasm32-unknown-unknown/release/my_filter.wasm add 40 2",
            "kplug upload target/wasm32-unknown-unknown/release/my_filter.wasm",
            "kplug invoke my_filter add 40 2",
        ] {
            assert!(steps.contains(expected), "{expected:?} missing in\n{steps}");
        }
        // No leftovers of the staging directory.
        let entries: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    /// A C project has its source, the header and build.sh with the two-line command; a WAT
    /// project one file whose lengths match its texts.
    #[test]
    fn c_and_wat_projects() {
        let parent = tempfile::tempdir().unwrap();
        let project = scaffold(parent.path(), "blink", Language::C).unwrap();
        assert_eq!(project.module, PathBuf::from("blink.wasm"));
        assert_eq!(project.build[0], "clang");
        assert!(project.build.contains(&"-nostdlib".to_owned()));
        assert!(project.build.contains(&"-Wl,--no-entry".to_owned()));
        let script = std::fs::read_to_string(project.dir.join("build.sh")).unwrap();
        let command: Vec<&str> = script
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect();
        assert_eq!(command.len(), 2, "{script}");
        assert_eq!(
            std::fs::read_to_string(project.dir.join("kplug.h")).unwrap(),
            C_HEADER
        );

        let project = scaffold(parent.path(), "probe", Language::Wat).unwrap();
        let text = std::fs::read_to_string(project.dir.join("probe.wat")).unwrap();
        wat::parse_str(&text).unwrap();
        assert!(
            text.contains("(i32.const 10)"),
            "`probe: add` is 10 bytes:\n{text}"
        );
        assert!(
            text.contains("(i32.const 16)"),
            "`hello from probe` is 16 bytes:\n{text}"
        );
    }

    /// An existing directory is never written into; a bad name writes nothing.
    #[test]
    fn nothing_is_overwritten() {
        let parent = tempfile::tempdir().unwrap();
        std::fs::create_dir(parent.path().join("taken")).unwrap();
        std::fs::write(parent.path().join("taken/keep"), "mine").unwrap();
        let error = scaffold(parent.path(), "taken", Language::Rust).unwrap_err();
        assert!(error.to_string().contains("already exists"), "{error}");
        assert_eq!(
            std::fs::read_to_string(parent.path().join("taken/keep")).unwrap(),
            "mine"
        );
        assert!(scaffold(parent.path(), "bad name", Language::Wat).is_err());
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
    }
}
