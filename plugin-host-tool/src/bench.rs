//! `kplug bench`: issue 5's benchmarks, in the silicon harness (the honest figures: real CPU,
//! real segment limits, everything compared as ratios in one process and one run) or on a board
//! through the host link (emulated figures, labelled as such), with the targets checked, a table,
//! JSON and an SVG plot.
//!
//! | module | what it does |
//! | --- | --- |
//! | [`report`] | the report (the JSON schema) and the target checks |
//! | [`silicon`] | builds and runs `kplug-silicon bench`, reads its JSON |
//! | [`board`] | the same figures from a board's `LoadReport`/`InvokeReport`/`UnloadReport` TSC timings, and the paper's macro scenario |
//! | [`table`] | the table `kplug bench` prints |
//! | [`footprint`] | the firmware's flash footprint per crate (also `kplug build --size`) |
//! | [`plot`] | the SVG `--plot` draws |
//!
//! The board side runs exactly what the harness runs: the invocation module, the kernel suite
//! and the large generated module come from the harness's sources (included below by path), the
//! example plugins from `plugins/`.

pub mod board;
pub mod footprint;
pub mod plot;
pub mod report;
pub mod silicon;
pub mod table;

/// The kernel suite's calls (shared with the silicon harness).
#[allow(dead_code)]
#[path = "../../firmware/silicon/src/bench/suite.rs"]
pub mod suite;

/// The large generated module (shared with the silicon harness).
#[allow(dead_code)]
#[path = "../../firmware/silicon/src/bench/generated.rs"]
pub mod generated;

/// The invocation benchmark module (shared with the silicon harness).
pub const CALLS_WAT: &str = include_str!("../../firmware/silicon/src/bench/calls.wat");
/// The kernel suite module.
pub const KERNELS_WAT: &str = include_str!("../../plugins/kernels.wat");
/// The paper's transcoder.
pub const GRAYSCALE_WAT: &str = include_str!("../../plugins/grayscale.wat");
/// The paper's transcoder as a channel stage (the macro scenario).
pub const GRAY_STAGE_WAT: &str = include_str!("../../plugins/gray_stage.wat");
/// The trivial channel stage (shared with the harness's dispatch figures).
pub const STAGE_WAT: &str = include_str!("../../firmware/silicon/src/bench/stage.wat");
/// The example plugins whose code generation, link and unlink are measured, as in the harness.
pub const EXAMPLES: [(&str, &str); 5] = [
    ("grayscale", GRAYSCALE_WAT),
    ("crc32", include_str!("../../plugins/crc32.wat")),
    ("emit_hello", include_str!("../../plugins/emit_hello.wat")),
    ("gpio_blink", include_str!("../../plugins/gpio_blink.wat")),
    ("kernels", KERNELS_WAT),
];
/// The name the generated module is reported under.
pub const GENERATED: &str = "generated";

/// Why a bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The silicon harness could not be found, built or started.
    #[error(transparent)]
    Harness(#[from] crate::local::LocalError),
    /// The harness ran but failed; it printed why on stderr.
    #[error("kplug-silicon bench failed ({0}); its messages are above")]
    HarnessFailed(std::process::ExitStatus),
    /// The harness's output is not a report.
    #[error("kplug-silicon bench printed no report: {0}")]
    BadReport(String),
    /// Talking to the board failed.
    #[error(transparent)]
    Link(#[from] crate::link::LinkError),
    /// A benchmark module could not be prepared.
    #[error("{0}")]
    Module(#[from] crate::plugin::PluginFileError),
    /// A call on the board did not return what it should.
    #[error("{export}: {problem}")]
    Call {
        /// The export.
        export: String,
        /// What went wrong.
        problem: String,
    },
    /// The plot could not be drawn or written.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
