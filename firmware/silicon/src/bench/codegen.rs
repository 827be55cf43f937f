//! Code generation, linking and unlinking for each example plugin and the large generated module
//! (issue 5), in hardware mode.
//!
//! - Code generation is `kplug_core::compile` (validation and code generation are one pass),
//!   timed from module bytes to a [`kplug_core::CompiledModule`]; bytes per second count the
//!   whole module.
//! - Link is `Plugin::link` (resolve every import against the firmware symbol table and install
//!   its gate), unlink is `Plugin::unlink` (clear the gates). The start function is not part of
//!   linking here. Installing (regions, segments, context block) and uninstalling are separate
//!   steps, reported beside them; in the harness they are `mmap` and `modify_ldt` system calls.
//! - Linking a module without imports takes a few cycles, below the timer's resolution, and a
//!   plugin cannot be linked twice in a row, so each link sample is a batch: [`LINK_BATCH`]
//!   installed instances of the module linked one after another, then unlinked the same way
//!   (the unlink sample), each divided by the batch.

use super::generated;
use super::measure::{Clock, Summary};
use super::{BenchError, load_error, wat_module};
use crate::Silicon;
use kplug_core::{CompileOptions, Isolation, Plugin, compile};
use plugin_format::plugin::Limits;
use serde_json::{Value, json};

/// The example plugins, as shipped in `plugins/`.
pub const EXAMPLES: [(&str, &str); 5] = [
    (
        "grayscale",
        include_str!("../../../../plugins/grayscale.wat"),
    ),
    ("crc32", include_str!("../../../../plugins/crc32.wat")),
    (
        "emit_hello",
        include_str!("../../../../plugins/emit_hello.wat"),
    ),
    (
        "gpio_blink",
        include_str!("../../../../plugins/gpio_blink.wat"),
    ),
    ("kernels", include_str!("../../../../plugins/kernels.wat")),
];
/// The name the generated module is reported under.
pub const GENERATED: &str = "generated";
/// Pages any example may use (the kernels need 5).
const MAX_PAGES: u32 = 8;
/// Instances linked (and unlinked) per sample.
pub const LINK_BATCH: usize = 32;

/// The figures of one module.
#[derive(Debug, Clone)]
pub struct ModuleFigures {
    /// Its name.
    pub name: String,
    /// Module bytes.
    pub wasm_bytes: usize,
    /// Bytes of function bodies.
    pub wasm_code_bytes: u32,
    /// Generated code bytes.
    pub code_bytes: u32,
    /// Imports linked.
    pub imports: usize,
    /// Code generation, cycles.
    pub codegen_cycles: Summary,
    /// Link, microseconds.
    pub link_us: Summary,
    /// Unlink, microseconds.
    pub unlink_us: Summary,
    /// Install, microseconds.
    pub install_us: Summary,
    /// Uninstall, microseconds.
    pub uninstall_us: Summary,
}

impl ModuleFigures {
    /// Wasm bytes per second at the median code-generation time.
    pub fn bytes_per_sec(&self, clock: &Clock) -> f64 {
        self.wasm_bytes as f64 * clock.hz / self.codegen_cycles.median
    }

    /// As JSON.
    pub fn json(&self, clock: &Clock) -> Value {
        json!({
            "name": self.name,
            "wasm_bytes": self.wasm_bytes,
            "wasm_code_bytes": self.wasm_code_bytes,
            "code_bytes": self.code_bytes,
            "imports": self.imports,
            "codegen_cycles": self.codegen_cycles.json(),
            "codegen_us": self.codegen_cycles.map(|cycles| clock.micros(cycles)).json(),
            "codegen_bytes_per_sec": self.bytes_per_sec(clock).round(),
            "link_us": self.link_us.json(),
            "unlink_us": self.unlink_us.json(),
            "install_us": self.install_us.json(),
            "uninstall_us": self.uninstall_us.json(),
        })
    }
}

/// Every module measured: the examples, then the generated one.
pub fn modules() -> Result<Vec<(String, Vec<u8>)>, BenchError> {
    let mut modules = Vec::new();
    for (name, text) in EXAMPLES {
        modules.push((name.to_owned(), wat_module(name, text)?));
    }
    modules.push((
        GENERATED.to_owned(),
        wat_module(GENERATED, &generated::generated_module_wat())?,
    ));
    Ok(modules)
}

/// Measures one module: `repetitions` code generations and link/unlink pairs, and a tenth as
/// many installs (system calls).
pub fn measure_module(
    clock: &Clock,
    name: &str,
    wasm: &[u8],
    repetitions: usize,
) -> Result<ModuleFigures, BenchError> {
    let options = CompileOptions::new(Isolation::Hardware);
    let compiled = |wasm: &[u8]| {
        compile(wasm, &options).map_err(|error| BenchError::Compile {
            module: name.into(),
            error: error.to_string(),
        })
    };
    let module = compiled(wasm)?;
    for _ in 0..2 {
        compiled(wasm)?;
    }
    let mut codegen = Vec::with_capacity(repetitions);
    for _ in 0..repetitions {
        let mut result = None;
        codegen.push(clock.time(|| result = Some(compile(wasm, &options))));
        drop(result);
    }

    let limits = Limits {
        max_memory_pages: MAX_PAGES,
        budget_us: 0,
        ..Limits::default()
    }
    .check_without_budget()
    .map_err(|error| BenchError::Load {
        module: name.into(),
        error: error.to_string(),
    })?;
    let mut platform = Silicon::new();
    let installs = (repetitions / 10).max(3);
    let mut install = Vec::with_capacity(installs);
    let mut uninstall = Vec::with_capacity(installs);
    for _ in 0..installs {
        let copy = module.clone();
        let mut installed = None;
        install.push(clock.time(|| installed = Some(Plugin::install(&mut platform, copy, limits))));
        let plugin = installed
            .expect("timed closure ran")
            .map_err(load_error(name))?;
        uninstall.push(clock.time(|| plugin.uninstall(&mut platform)));
    }

    let mut batch = Vec::with_capacity(LINK_BATCH);
    for _ in 0..LINK_BATCH {
        match Plugin::install(&mut platform, module.clone(), limits) {
            Ok(plugin) => batch.push(plugin),
            Err(error) => {
                batch
                    .into_iter()
                    .for_each(|plugin| plugin.uninstall(&mut platform));
                return Err(load_error(name)(error));
            }
        }
    }
    let mut link = Vec::with_capacity(repetitions);
    let mut unlink = Vec::with_capacity(repetitions);
    let mut failure = None;
    // One untimed round first (warm-up), then the timed ones.
    for round in 0..=repetitions {
        let mut plugins = batch.iter_mut();
        let linked = clock.time_per_event(LINK_BATCH, || {
            if let Some(plugin) = plugins.next()
                && let Err(error) = plugin.link(&mut platform)
            {
                failure = Some(error);
            }
        });
        let mut plugins = batch.iter_mut();
        let unlinked = clock.time_per_event(LINK_BATCH, || {
            if let Some(plugin) = plugins.next() {
                plugin.unlink(&mut platform);
            }
        });
        if round > 0 {
            link.push(linked);
            unlink.push(unlinked);
        }
    }
    batch
        .into_iter()
        .for_each(|plugin| plugin.uninstall(&mut platform));
    if let Some(error) = failure {
        return Err(load_error(name)(error));
    }
    let micros = |samples: &[u64]| Summary::of_cycles(samples).map(|cycles| clock.micros(cycles));
    let batched_micros =
        |samples: Vec<f64>| Summary::of(samples).map(|cycles| clock.micros(cycles));
    Ok(ModuleFigures {
        name: name.to_owned(),
        wasm_bytes: wasm.len(),
        wasm_code_bytes: module.stats.wasm_code_bytes,
        code_bytes: module.stats.code_bytes,
        imports: module.imports.len(),
        codegen_cycles: Summary::of_cycles(&codegen),
        link_us: batched_micros(link),
        unlink_us: batched_micros(unlink),
        install_us: micros(&install),
        uninstall_us: micros(&uninstall),
    })
}
